"""Privileged code never uses the shared temp folder nor a system program by its bare name.

The agent runs as SYSTEM (root), and so do the engine and the providers inside it. In the
shared temp folder (``tempfile.gettempdir()``, %TEMP%, /tmp) any local user can pre-create or
swap a file between its check and its use; a bare ``msiexec.exe`` is found through the search
path (the current directory first on Windows), where a planted one would run as SYSTEM.
System programs come from ``providers/windows/system32.py`` (GetSystemDirectoryW) instead.

Checked in ``src/transom/{agent,engine,providers}``, with the AST (docstrings are prose, not
code): calls of ``tempfile.gettempdir``, ``tempfile.mkstemp``/``mkdtemp``/``*TemporaryFile``/
``TemporaryDirectory`` without ``dir=``; reads of the TEMP/TMP/TMPDIR environment variables;
strings naming %TEMP%, $env:TEMP or /tmp; strings that are, or start a command line with, a
Windows system program's bare name. A line that must name one (system32.py joining the
absolute path) carries ``# privileged-ok: <why>``.

Usage: ``python -m tools.lint.privileged [ROOT]``; prints ``path:line:col: message`` per
problem and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PRIVILEGED = ("src/transom/agent", "src/transom/engine", "src/transom/providers")
ALLOW_MARKER = "# privileged-ok:"
#: Windows programs Transom might run, which live in %SystemRoot%\System32 (or below it).
SYSTEM_PROGRAMS = frozenset(
    {
        "powershell",
        "pwsh",
        "msiexec",
        "shutdown",
        "sc",
        "cmd",
        "icacls",
        "net",
        "netsh",
        "reg",
        "schtasks",
        "wmic",
        "taskkill",
        "certutil",
        "bcdedit",
        "wevtutil",
        "dism",
        "robocopy",
        "takeown",
    }
)
_TEMP_FUNCTIONS = frozenset({"gettempdir", "gettempdirb"})
_TEMP_MAKERS = frozenset(
    {
        "mkstemp",
        "mkdtemp",
        "NamedTemporaryFile",
        "TemporaryFile",
        "SpooledTemporaryFile",
        "TemporaryDirectory",
    }
)
_TEMP_VARIABLES = frozenset({"TEMP", "TMP", "TMPDIR"})
_TEMP_TEXT = re.compile(r"%te?mp%|\$env:te?mp\b|(^|[\s'\"=])/(var/)?tmp(/|$|\s)", re.I)


@dataclass(frozen=True)
class Problem:
    where: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}:{self.column}: {self.message}"


def check_source(source: str, where: str) -> list[Problem]:
    tree = ast.parse(source)
    lines = source.splitlines()
    docstrings = _docstrings(tree)
    out: list[Problem] = []
    for node in ast.walk(tree):
        message = _problem(node, docstrings)
        if not message:
            continue
        line = getattr(node, "lineno", 1)
        if ALLOW_MARKER in lines[line - 1] or any(
            (p.line, p.message) == (line, message) for p in out
        ):
            continue
        out.append(Problem(where, line, getattr(node, "col_offset", 0) + 1, message))
    return sorted(out, key=lambda p: (p.line, p.column))


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _problem(node: ast.AST, docstrings: set[int]) -> str:
    if isinstance(node, ast.Call):
        name = _called(node)
        if name in _TEMP_FUNCTIONS:
            return f"{name}() is the shared temp folder; use the protected state directory"
        if name in _TEMP_MAKERS and not any(k.arg == "dir" for k in node.keywords):
            return f"{name}() without dir= lands in the shared temp folder; pass dir="
        if name in ("getenv", "get") and node.args and _temp_variable(node.args[0]):
            return "TEMP/TMP is the shared temp folder; use the protected state directory"
    if isinstance(node, ast.List | ast.Tuple):
        return _argv_problem(node)
    if isinstance(node, ast.Subscript) and _temp_variable(node.slice):
        return "TEMP/TMP is the shared temp folder; use the protected state directory"
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ):
        return _string_problem(node.value)
    return ""


def _temp_variable(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.upper() in _TEMP_VARIABLES
    )


def _program(text: str) -> str:
    """The bare system program ``text`` names or starts a command line with, else ''."""
    words = text.strip().split()
    if not words:
        return ""
    first = words[0].casefold()
    if first.removesuffix(".exe") not in SYSTEM_PROGRAMS:
        return ""
    # "powershell" alone is also a word (an error's origin); with .exe, or followed by
    # switches, it is a program to run.
    if first.endswith(".exe") or (len(words) > 1 and words[1][:1] in "/-"):
        return first
    return ""


def _string_problem(text: str) -> str:
    if _TEMP_TEXT.search(text):
        return f"{text[:40]!r} names the shared temp folder; use the protected state directory"
    program = _program(text)
    if program:
        return (
            f"{program!r} by bare name is found through the search path; use its absolute "
            "path (providers/windows/system32.py)"
        )
    return ""


def _argv_problem(node: ast.List | ast.Tuple) -> str:
    """An argument vector whose program is a bare system program name: ["sc", "stop", ...]."""
    if len(node.elts) < 2 or not isinstance(node.elts[0], ast.Constant):
        return ""
    first = node.elts[0].value
    if isinstance(first, str) and first.casefold().removesuffix(".exe") in SYSTEM_PROGRAMS:
        return (
            f"{first!r} by bare name is found through the search path; use its absolute "
            "path (providers/windows/system32.py)"
        )
    return ""


def files(root: Path) -> Iterator[Path]:
    for top in PRIVILEGED:
        yield from sorted((root / top).rglob("*.py"))


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    problems = [
        p
        for path in files(root)
        for p in check_source(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
    ]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in privileged code")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
