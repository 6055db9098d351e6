"""`transom completion bash|powershell`: generated from the argparse tree; the bash script is
valid and completes every command path; the PowerShell one keeps to Windows PowerShell 5.1."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from transom.cli.completion import FILE, model, powershell, script
from transom.cli.parsing import Parser, walk

from .tree import commands, full_parser

BASH = shutil.which("bash")
POWERSHELL = shutil.which("powershell.exe") or shutil.which("powershell")


def generated(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "transom.cli.main", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "transom.bash"
    path.write_text(generated("bash"))
    return path


def complete(bash_script: Path, line: str, cwd: Path | None = None) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end), as the shell would ask."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    program = (
        f"source {shlex.quote(str(bash_script))}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        '_transom\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    assert BASH is not None
    done = subprocess.run(
        [BASH, "--norc", "-c", program], capture_output=True, text=True, cwd=cwd, check=True
    )
    return [w for w in done.stdout.splitlines() if w]


pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def test_bash_script_is_valid(bash_script: Path) -> None:
    assert BASH is not None
    done = subprocess.run(
        [BASH, "-n", str(bash_script)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_bash_completes_subcommands_and_option_values(bash_script: Path, tmp_path: Path) -> None:
    assert complete(bash_script, "transom ag") == ["agent"]
    assert {"enroll", "run", "whoami", "-h", "--help"} <= set(
        complete(bash_script, "transom agent ")
    )
    assert complete(bash_script, "transom --debug dev controlplane u") == ["up"]
    assert complete(bash_script, "transom agent run --log-level W") == ["WARNING"]
    assert "--what-if" in complete(bash_script, "transom apply --wh")
    (tmp_path / "webapp.yaml").write_text("resources: []\n")
    assert complete(bash_script, "transom apply -f web", cwd=tmp_path) == ["webapp.yaml"]
    assert complete(bash_script, "transom agent run --lease-duration ") == []


def test_bash_completes_every_command_path(bash_script: Path) -> None:
    for path in commands():
        for depth, word in enumerate(path):
            line = " ".join(("transom", *path[:depth], word[:-1] or word))
            assert word in complete(bash_script, line), (path, line)


def test_every_option_of_the_tree_is_in_the_model() -> None:
    tree = model(full_parser())
    for path, p in walk(full_parser()):
        for action in p._actions:
            for option in action.option_strings:
                assert option in tree[" ".join(path)].words, (path, option)


def test_a_new_command_completes_without_editing_the_script() -> None:
    root = Parser(prog="transom")
    sub = root.add_subparsers(dest="command")
    fleet = sub.add_parser("fleet", help="x").add_subparsers(dest="fleet_command")
    show = fleet.add_parser("show", help="x")
    show.add_argument("--format", choices=("grid", "list"), help="x")
    show.add_argument("--out", type=Path, help="x")
    tree = model(root)
    assert tree[""].subcommands == ["fleet"] and tree["fleet"].subcommands == ["show"]
    assert tree["fleet show"].values == {"--format": ["grid", "list"], "--out": [FILE]}
    assert "'fleet show|--format' = @('grid', 'list')" in powershell(tree)
    assert "'fleet show|--format') echo 'grid list'" in script("bash", root)


#: Syntax Windows PowerShell 5.1 does not have (PowerShell 6/7 only).
PS7_ONLY = {
    "null-coalescing ??": r"\?\?",
    "null-conditional ?. or ?[": r"\?\.|\?\[",
    "pipeline chain && or ||": r"&&|\|\|",
    "ternary operator": r"\s\?\s.*\s:\s",
    "ForEach-Object -Parallel": r"-Parallel\b",
    "clean block": r"^\s*clean\s*\{",
}


def test_powershell_script_is_windows_powershell_5_1_syntax() -> None:
    text = generated("powershell")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for what, pattern in PS7_ONLY.items():
        assert not re.search(pattern, code, re.MULTILINE), what
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    assert '"' not in code  # single quotes only: nothing is expanded from a word
    assert "Register-ArgumentCompleter -Native" in code  # PowerShell 5.0+
    for path in commands():
        assert f"'{' '.join(path)}' = @(" in code


@pytest.mark.skipif(POWERSHELL is None, reason="needs Windows PowerShell (powershell.exe)")
def test_powershell_completes_in_windows_powershell(tmp_path: Path) -> None:
    completer = tmp_path / "transom.ps1"
    completer.write_text(generated("powershell"))
    probe = (
        f". '{completer}'; "
        "$line = 'transom agent run --log-level W'; "
        "(TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches "
        "| ForEach-Object { $_.CompletionText }"
    )
    assert POWERSHELL is not None
    done = subprocess.run(
        [POWERSHELL, "-NoProfile", "-NonInteractive", "-Command", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.split() == ["WARNING"], done.stdout + done.stderr
