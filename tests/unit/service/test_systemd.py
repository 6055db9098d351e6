"""The systemd unit `transom agent install` writes on posix hosts, and systemctl around it
(a real recording executable stands in for systemctl: the unit folder is a temporary one)."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from transom.agent.servicedef import RunOptions, service_command
from transom.agent.shutdown import STOP_TIMEOUT_SECONDS
from transom.agent.systemd import UNIT_NAME, Systemd, SystemdError, unit_text

pytestmark = pytest.mark.skipif(os.name == "nt", reason="posix: systemd units")


def _fields(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def recording_systemctl(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    script = tmp_path / "systemctl"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\n'
        f'[ "$1" = show ] && echo active\nexit {exit_code}\n'
    )
    script.chmod(0o755)
    return script, calls


def test_unit_runs_the_agent_and_stops_it_gracefully(tmp_path: Path) -> None:
    options = RunOptions(state_dir=tmp_path / "state", roots=("/srv/web",))
    fields = _fields(unit_text(service_command(options)))
    exec_start = shlex.split(fields["ExecStart"][0])
    assert exec_start[:6] == [
        str(Path(sys.executable).resolve()),
        "-I",
        "-m",
        "transom.cli.main",
        "agent",
        "run",
    ]
    assert f"--state-dir={tmp_path / 'state'}" in exec_start
    assert "--root=/srv/web" in exec_start
    assert "--service" not in exec_start  # that flag is the Windows service manager's
    # SIGTERM to the agent only; the change process it waits on finishes, the rest of the
    # cgroup is killed once the agent's own stop deadline has passed.
    assert fields["KillMode"] == ["mixed"]
    assert int(fields["TimeoutStopSec"][0]) > STOP_TIMEOUT_SECONDS
    assert fields["Restart"] == ["on-failure"]
    assert fields["RestartSec"] == ["60"]
    assert fields["RestartMaxDelaySec"] == ["300"]
    assert fields["After"] == ["network-online.target time-sync.target"]
    assert fields["WantedBy"] == ["multi-user.target"]
    assert "Transom Assignments" in fields["Description"][0]


@given(hs.text(max_size=30))
def test_exec_start_words_survive_systemd_quoting(word: str) -> None:
    """Whatever a path or root holds, the word systemd hands the agent is that word (% and $
    escaped for systemd, the rest single-quoted, read alike by systemd and the shell), or the
    word is refused: backslashes, quotes and control characters unquote differently."""
    try:
        line = _fields(unit_text(["/usr/bin/python3", word]))["ExecStart"][0]
    except ValueError:
        assert any(c in "\\'\"" or not c.isprintable() for c in word)
        return
    (back,) = shlex.split(line)[1:]
    assert back.replace("%%", "%").replace("$$", "$") == word


def test_relative_command_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute path"):
        unit_text(["python3", "-m", "transom.cli.main"])


def test_install_writes_enables_and_uninstall_removes(tmp_path: Path) -> None:
    systemctl, calls = recording_systemctl(tmp_path)
    systemd = Systemd(tmp_path / "units", systemctl)
    path = systemd.install(["/usr/bin/transom", "agent", "run"])
    assert path == tmp_path / "units" / UNIT_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "ExecStart=/usr/bin/transom agent run" in path.read_text()
    assert systemd.status() == "active"
    systemd.stop()
    assert systemd.uninstall()
    assert not path.exists()
    assert not systemd.uninstall()
    assert systemd.status() == "not installed"
    assert calls.read_text().splitlines() == [
        "daemon-reload",
        f"enable {UNIT_NAME}",
        f"show --property=ActiveState --value {UNIT_NAME}",
        f"stop {UNIT_NAME}",
        f"disable --now {UNIT_NAME}",
        "daemon-reload",
    ]


def test_systemctl_failure_is_reported(tmp_path: Path) -> None:
    systemctl, _ = recording_systemctl(tmp_path, exit_code=5)
    with pytest.raises(SystemdError, match="systemctl daemon-reload exited 5"):
        Systemd(tmp_path / "units", systemctl).install(["/usr/bin/transom"])


def test_start_before_install_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemdError, match="transom agent install"):
        Systemd(tmp_path, None).start()


def test_cli_install_status_uninstall(tmp_path: Path) -> None:
    units = tmp_path / "units"

    def transom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "transom.cli.main", "agent", *args, f"--unit-dir={units}"],
            capture_output=True,
            text=True,
            check=False,
        )

    assert transom("status").returncode == 4
    done = transom("install", f"--state-dir={tmp_path / 's'}", "--root=/srv/a b")
    assert done.returncode == 0, done.stderr
    exec_start = _fields((units / UNIT_NAME).read_text())["ExecStart"][0]
    assert "'--root=/srv/a b'" in exec_start
    status = transom("status")
    assert status.returncode == 3  # installed, not loaded (not systemd's folder)
    assert "installed" in status.stdout
    refused = transom("install", "--account=CONTOSO\\transom$")
    assert refused.returncode == 1
    assert "--account is for Windows" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert transom("uninstall").stdout.strip() == "removed"
    assert transom("status").returncode == 4
