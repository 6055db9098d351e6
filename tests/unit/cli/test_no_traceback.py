"""Every command, run as a new user would on a machine with nothing set up (no kubeconfig,
no enrollment, no control plane, an empty HOME and working directory), answers with a short
message and a non-zero exit: never a traceback. Commands come from the argparse tree, so a new
one is covered without touching this file."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from transom.cli.parsing import leaves

from .tree import full_parser

#: Commands that legitimately succeed with nothing set up.
SUCCEED_WITHOUT_SETUP = {
    ("dev", "controlplane", "down"),  # "not running"
    ("dev", "controlplane", "env"),  # prints where the kubeconfig would be
    ("completion",),  # prints a script
}
#: The most lines a failure may take (message and hint, a validation list aside).
MAX_LINES = 3
#: Values for required arguments, by destination; anything else gets a plain word.
VALUES = {
    "server": "https://127.0.0.1:9",  # the discard port: refused at once
    "hosts": "web01",
    "host": "web01",
    "name": "web01",
}

LEAVES = {path: p for path, p in leaves(full_parser())}


def required_args(p: argparse.ArgumentParser, work: Path) -> list[str]:
    argv: list[str] = []
    for action in p._actions:
        positional = not action.option_strings
        if not (action.required or (positional and action.nargs in (None, 1))):
            continue
        if action.choices:
            value = str(next(iter(action.choices)))
        elif action.dest in VALUES:
            value = VALUES[action.dest]
        elif action.type in (int, float):
            value = "1"
        elif action.type is Path or action.metavar in ("FILE", "DIR"):
            value = str(work / f"missing-{action.dest}")
        else:
            value = "x"
        argv += [value] if positional else [action.option_strings[-1], value]
    return argv


def run_bare(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        # Nothing may build or start a control plane here: its binaries are "missing".
        "TRANSOM_CONTROLPLANE_BIN": str(tmp_path / "no-binaries"),
        "TRANSOM_CACHE": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-m", "transom.cli.main", *argv],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def out_of(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr).strip()


def assert_short_answer(done: subprocess.CompletedProcess[str], argv: list[str]) -> None:
    out = out_of(done)
    shown = f"transom {' '.join(argv)} -> {done.returncode}:\n{out}"
    assert "Traceback" not in out, shown
    assert "unexpected error" not in out, shown
    assert len(done.stderr.strip().splitlines()) <= MAX_LINES, shown


def test_commands_are_found() -> None:
    assert {("status",), ("agent", "enroll"), ("controller", "run")} <= set(LEAVES)


@pytest.mark.parametrize("command", sorted(LEAVES), ids=" ".join)
def test_command_without_setup(command: tuple[str, ...], tmp_path: Path) -> None:
    argv = [*command, *required_args(LEAVES[command], tmp_path / "work")]
    done = run_bare(argv, tmp_path)
    assert_short_answer(done, argv)
    if command in SUCCEED_WITHOUT_SETUP:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0, done.stdout
        assert out_of(done), "a failure must say why"


@pytest.mark.parametrize("command", sorted(LEAVES), ids=" ".join)
def test_command_with_an_unknown_option(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        full_parser().parse_args([*command, "--no-such-option"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "error:" in err[0] and "--help" in err[1], err
