"""The README's local commands work as written: what-if, apply, then test in desired state."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
README_ROOT = "/tmp/webapp"
APPLY = (sys.executable, "-m", "transom.cli.main", "apply", "-f", "examples/posix/webapp.yaml")


def using_it_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using it") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "no sh block in README's Using it"
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("transom ")]


def test_readme_local_commands_work_as_written(tmp_path: Path) -> None:
    commands = using_it_commands()
    assert [c[1] for c in commands] == ["apply", "apply", "test"]
    assert "--what-if" in commands[0] and "--what-if" not in commands[1]
    outputs = []
    for written in commands:
        argv = [a.replace(README_ROOT, str(tmp_path / "webapp")) for a in written]
        done = subprocess.run(
            [sys.executable, "-m", "transom.cli.main", *argv[1:]],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout}{done.stderr}"
        outputs.append(done.stdout)
    assert "FAILED" not in outputs[0] and "would change" in outputs[0]
    assert (tmp_path / "webapp" / "etc" / "nginx" / "web.key").exists()
    assert "9 resources: 9 ok" in outputs[2]


def test_without_secrets_dir_what_if_fails_as_apply_does(tmp_path: Path) -> None:
    what_if, apply = (
        subprocess.run(
            [*APPLY, "--var", f"ROOT={tmp_path / 'webapp'}", *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for extra in (["--what-if"], [])
    )
    for done in (what_if, apply):
        assert done.returncode == 1, done.stdout
        line = next(x for x in done.stdout.splitlines() if "File/tls-key" in x)
        assert line.startswith("FAILED") and "--secrets-dir" in line
