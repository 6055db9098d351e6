"""Every PowerShell script Transom ships or runs parses as Windows PowerShell 5.1.

Parsed with tree-sitter-powershell: every ``.ps1`` file, every script literal passed to a
PowerShell host from Python (``.invoke("...")``, ``.run_command("...")``, a simulated
``scripts["..."]``), the Command scripts of the Windows examples, and the generated completion
script. It fails on a syntax error and on syntax Windows PowerShell 5.1 (Server 2016) does not
have: the ternary ``?:``, ``??`` and ``??=``, ``?.`` and ``?[]``, ``&&``/``||`` pipeline
chains, ``ForEach-Object -Parallel``, ``ConvertFrom-Json -AsHashtable``, ``clean {}`` blocks.

The grammar (0.26.x) knows ``&&``/``||`` chains (``pipeline_chain_tail``) but not the other
PowerShell 7 operators nor ``clean`` blocks: those parse as ERROR nodes, which are told apart
by their text so the message names the construct instead of a bare syntax error. Two gaps of
the grammar are worked around: a script of comments only is an ERROR there (valid PowerShell:
skipped), and a statement that starts with ``ForEach-Object`` reads as the ``foreach`` keyword
(reported with that explanation: pipe into it, or use ``foreach``); two switch clauses on one
line after ``default`` also fail there, so write one clause per line.

Usage: ``python -m tools.lint.powershell [ROOT]``; prints ``path:line:col: message`` per
problem and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tree_sitter_powershell
import yaml
from tree_sitter import Language, Node, Parser

#: Where .ps1 files and Python sources are looked for, relative to the repository root.
SOURCE_DIRS = ("src", "tests", "tools", "bench", "examples")
#: Python calls whose first argument is a PowerShell script.
SCRIPT_CALLS = frozenset({"invoke", "run_command"})

_PARSER = Parser(Language(tree_sitter_powershell.language()))


@dataclass(frozen=True)
class Problem:
    where: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Snippet:
    where: str
    #: Line and column of the snippet's first character in its file (1-based).
    line: int
    column: int
    text: str


def check(snippet: Snippet) -> list[Problem]:
    """The problems of one script, positioned in the file it came from."""
    if all(not ln.strip() or ln.lstrip().startswith("#") for ln in snippet.text.splitlines()):
        return []
    source = snippet.text.encode("utf-8")
    tree = _PARSER.parse(source)
    found: dict[tuple[int, int], str] = {}
    for node in _walk(tree.root_node):
        message = _problem(node, source)
        if message:
            found.setdefault(node.start_point, message)
    out = []
    for (row, col), message in sorted(found.items()):
        line = snippet.line + row
        column = (snippet.column + col) if row == 0 else col + 1
        out.append(Problem(snippet.where, line, column, message))
    return out


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _problem(node: Node, source: bytes) -> str:
    if node.type == "pipeline_chain_tail":
        return "'&&' / '||' pipeline chains are PowerShell 7; use if ($?) or $LASTEXITCODE"
    if node.type == "command":
        return _command_problem(node)
    if node.is_missing:
        return f"syntax error: missing {node.type!r}"
    if not node.is_error or any(c.is_error for c in node.children):
        return ""
    return _error_problem(node, source)


def _command_problem(node: Node) -> str:
    name_node = node.child_by_field_name("command_name")
    name = _text(name_node).casefold() if name_node is not None else ""
    params = [_text(n).casefold() for n in _walk(node) if n.type == "command_parameter"]
    if name in ("foreach-object", "%", "foreach") and any(
        p.startswith("-pa") and "-parallel".startswith(p) for p in params
    ):
        return "ForEach-Object -Parallel is PowerShell 7; use a plain ForEach-Object or jobs"
    if name == "convertfrom-json" and any(
        len(p) > 3 and "-ashashtable".startswith(p) for p in params
    ):
        return (
            "ConvertFrom-Json -AsHashtable is PowerShell 6+; convert the PSCustomObject "
            "(see host.ps1's ConvertTo-TransomHashtable)"
        )
    return ""


def _error_problem(node: Node, source: bytes) -> str:
    text = _text(node).strip()
    following = source[node.end_byte : node.end_byte + 1]
    if text.startswith("??"):
        return "'??' / '??=' (null-coalescing) is PowerShell 7; use if ($null -eq $x)"
    if text == "?" and following in (b".", b"["):
        return "'?.' / '?[]' (null-conditional) is PowerShell 7; test for $null first"
    if text.endswith("?") or text.startswith("?"):
        return "the ternary '? :' is PowerShell 7; use if/else"
    names = [_text(c).strip().casefold() for c in node.children if c.type == "simple_name"]
    if "clean" in names:
        return "'clean {}' blocks are PowerShell 7.3; use end {} with try/finally"
    first_line = text.splitlines()[0] if text else ""
    if first_line.casefold().startswith("foreach-object"):
        return (
            "tree-sitter-powershell reads a statement starting with ForEach-Object as the "
            "foreach keyword: pipe into it ($items | ForEach-Object) or use foreach"
        )
    return f"syntax error near {first_line[:40]!r}"


# --- where scripts are ------------------------------------------------------------------------


def ps1_files(root: Path) -> Iterator[Snippet]:
    for top in SOURCE_DIRS:
        for path in sorted((root / top).rglob("*.ps1")):
            yield Snippet(str(path.relative_to(root)), 1, 1, path.read_text(encoding="utf-8"))


def python_snippets(path: Path, where: str) -> Iterator[Snippet]:
    """Script literals handed to a PowerShell host in one Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        literal: ast.expr | None = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SCRIPT_CALLS
            and node.args
        ):
            literal = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "scripts"
        ):
            literal = node.slice
        if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
            yield Snippet(where, literal.lineno, literal.col_offset + 2, literal.value)


def example_snippets(path: Path, where: str) -> Iterator[Snippet]:
    """Command resources' test and set scripts in a Windows example."""
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        for command in _find_commands(doc):
            for key in ("test", "set"):
                if isinstance(command.get(key), str):
                    yield Snippet(f"{where} (command.{key})", 1, 1, command[key])


def _find_commands(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("command"), dict):
            yield value["command"]
        for child in value.values():
            yield from _find_commands(child)
    elif isinstance(value, list):
        for child in value:
            yield from _find_commands(child)


def generated_snippets() -> Iterator[Snippet]:
    """Scripts Transom generates: `transom completion powershell`."""
    from transom.cli import completion, main  # noqa: PLC0415 - only when checking the repo

    yield Snippet(
        "transom completion powershell", 1, 1, completion.script("powershell", main.parser())
    )


def all_snippets(root: Path) -> Iterator[Snippet]:
    yield from ps1_files(root)
    for top in SOURCE_DIRS:
        for path in sorted((root / top).rglob("*.py")):
            yield from python_snippets(path, str(path.relative_to(root)))
    for path in sorted((root / "examples" / "windows").rglob("*.yaml")):
        yield from example_snippets(path, str(path.relative_to(root)))
    yield from generated_snippets()


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    problems = [p for s in all_snippets(root) for p in check(s)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} PowerShell problem(s): Windows PowerShell 5.1 syntax only")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
