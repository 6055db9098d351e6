"""Change processes never outlive the agent on posix: own process group, killed with what it
left running; recorded while running; a restarted agent ends what a killed one left behind,
and never a process that merely reuses a recorded PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transom.api.resources.command import CommandProperties
from transom.providers.children import (
    ChildRecord,
    ChildTracker,
    boot_id,
    popen_options,
    process_start_time,
)
from transom.providers.posix import command

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="posix with /proc (Linux): process start times"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_command_runs_in_its_own_group_recorded_while_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = ChildTracker(tmp_path / "children")
    tracker.use(tmp_path / "children")
    monkeypatch.setattr(command, "children", tracker)
    seen = tmp_path / "seen"
    # The command looks at its own record while running, and at its process group.
    # The record is written once the child exists, so the shell may start before it: wait
    # (bounded) for it rather than race it (a loaded CI run read it empty).
    script = (
        f"for i in $(seq 500); do [ -s {tmp_path}/children/$$.json ] && break; sleep 0.01; done; "
        f"cat {tmp_path}/children/$$.json > {seen}; echo >> {seen}; "
        f"cut -d' ' -f5 /proc/$$/stat >> {seen}"
    )
    done = command.run_shell(script, CommandProperties(test="true", set=script))
    assert done.returncode == 0
    record_json, pgid = seen.read_text().splitlines()
    record = ChildRecord.from_json(json.loads(record_json))
    assert record.what.startswith("command ")
    assert record.boot == boot_id()
    assert int(pgid) == record.pid  # its own group, led by the shell
    assert list((tmp_path / "children").iterdir()) == []  # forgotten once it ended


def test_what_a_command_leaves_running_is_ended_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    script = f"sleep 60 & echo $! > {pid_file}"
    assert command.run_shell(script, CommandProperties(test="true", set=script)).returncode == 0
    assert wait_dead(int(pid_file.read_text()))


def test_timeout_kills_the_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    script = f"sleep 60 & echo $! > {pid_file}; sleep 60"
    props = CommandProperties.model_validate({"test": "true", "set": script, "timeoutSeconds": 1})
    with pytest.raises(Exception, match="timed out"):
        command.run_shell(script, props)
    assert wait_dead(int(pid_file.read_text()))


def leftover(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A change process as a killed agent leaves it: its own group, a grandchild in it, and a
    record in the state directory written by that agent's tracker."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", f"sleep 60 & echo $! > {tmp_path}/grandchild; wait"], **popen_options()
    )
    previous = ChildTracker()
    previous.use(tmp_path / "children")
    assert previous.started(proc.pid, "command 'slow'") is not None
    deadline = time.monotonic() + 5
    while not (tmp_path / "grandchild").exists() or not (tmp_path / "grandchild").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


def test_restarted_agent_ends_what_the_previous_one_left_running(tmp_path: Path) -> None:
    proc = leftover(tmp_path)
    grandchild = int((tmp_path / "grandchild").read_text())
    restarted = ChildTracker()
    restarted.use(tmp_path / "children")
    ended = restarted.reap()
    assert [r.pid for r in ended] == [proc.pid]
    assert proc.wait(5) == -9
    assert wait_dead(grandchild)
    assert list((tmp_path / "children").iterdir()) == []


def test_a_reused_pid_is_never_killed(tmp_path: Path) -> None:
    """The record names a PID that now belongs to another process (different start time)."""
    other = subprocess.Popen(["sleep", "60"], **popen_options())
    try:
        started = process_start_time(other.pid)
        assert started is not None
        stale = ChildRecord(other.pid, started - 1, boot_id(), "command 'old'")
        (tmp_path / "children").mkdir()
        (tmp_path / "children" / f"{other.pid}.json").write_text(json.dumps(stale.to_json()))
        (tmp_path / "children" / "junk.json").write_text("{not json")
        other_boot = ChildRecord(other.pid, started, "another-boot", "command 'old'")
        (tmp_path / "children" / "1.json").write_text(json.dumps(other_boot.to_json()))
        tracker = ChildTracker()
        tracker.use(tmp_path / "children")
        assert tracker.reap() == []
        assert other.poll() is None
        assert list((tmp_path / "children").iterdir()) == []  # stale records are dropped
    finally:
        other.kill()
        other.wait()


def test_start_time_parsing_survives_odd_process_names(tmp_path: Path) -> None:
    """/proc/PID/stat's second field is the command name in parentheses, which may itself
    hold spaces and parentheses."""
    odd = tmp_path / "a) b (c"
    odd.symlink_to(sys.executable)
    proc = subprocess.Popen([str(odd), "-c", "import time; time.sleep(30)"])
    try:
        started = process_start_time(proc.pid)
        assert started is not None
        own = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        assert started >= own
    finally:
        proc.kill()
        proc.wait()
    assert process_start_time(proc.pid) is None


def test_kill_all_ends_running_children(tmp_path: Path) -> None:
    tracker = ChildTracker()
    proc = subprocess.Popen(["sleep", "60"], **popen_options())
    tracker.started(proc.pid, "command 'slow'")
    tracker.kill_all()
    assert proc.wait(5) == -9
