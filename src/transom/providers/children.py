"""Change processes (Command scripts, msiexec, the PowerShell host) never outlive the agent.

Two layers. While the agent lives: on Windows the agent puts itself in a job object with
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, so the kernel ends every process it started (and theirs)
when the agent's process ends, however it ends; on posix each change process leads its own
process group, killed as a group on timeout or when the agent gives up waiting on stop (and
systemd's cgroup ends what is left). Across a crash: every change process is recorded in the
state directory (PID, its start time, the boot), and a restarting agent ends what a previous
instance left running before it runs anything (``reap``). The start time is what makes that
safe: a PID the OS gave to an unrelated process since is never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Under the agent's (protected) state directory.
CHILDREN_DIR = "children"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class _Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...


@dataclass(frozen=True)
class ChildRecord:
    pid: int
    #: The OS's start time of the process (clock ticks since boot on Linux, FILETIME on
    #: Windows) and the boot it belongs to: together they name one process, unlike the PID.
    started: int
    boot: str
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "started": self.started, "boot": self.boot, "what": self.what}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ChildRecord:
        return cls(int(raw["pid"]), int(raw["started"]), str(raw["boot"]), str(raw["what"]))


class ChildTracker:
    """The change processes of this agent. Without a directory (``transom apply``), nothing is
    recorded, and processes are still grouped and killed on timeout."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._running: dict[int, ChildRecord] = {}
        self._job: Any = None

    def use(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory

    # -- while running ------------------------------------------------------------------------

    @contextlib.contextmanager
    def tracking(self, proc: _Process, what: str) -> Iterator[None]:
        """Record ``proc`` (started with ``popen_options()``) while the block runs; when it
        ends, whatever is still running of it (posix: of its process group) is killed."""
        record = self.started(proc.pid, what)
        try:
            yield
        finally:
            # Raised with it running (a timeout), or it ended and left something running in
            # its group (``cmd &``): the resource is done, so is every process it started.
            if proc.poll() is None or os.name != "nt":
                _kill(proc.pid)
            if record is not None:
                self.ended(record)

    def started(self, pid: int, what: str) -> ChildRecord | None:
        started = process_start_time(pid)
        if started is None:
            return None  # already gone
        record = ChildRecord(pid, started, boot_id(), what[:200])
        with self._lock:
            self._running[pid] = record
        if self.directory is not None:
            _write_record(self.directory / f"{pid}.json", record)
        return record

    def ended(self, record: ChildRecord) -> None:
        with self._lock:
            self._running.pop(record.pid, None)
        if self.directory is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{record.pid}.json").unlink()

    def kill_all(self) -> None:
        """End every change process still running (a stop that could not wait any longer)."""
        with self._lock:
            running = list(self._running.values())
        for record in running:
            if _same_process(record):
                log.warning("ending %s (pid %d)", record.what, record.pid)
                _kill(record.pid)

    # -- after a crash ------------------------------------------------------------------------

    def reap(self) -> list[ChildRecord]:
        """End the change processes a previous agent left running; the ones ended."""
        if self.directory is None:
            return []
        ended = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                record = ChildRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring unreadable child record %s", path)
                path.unlink(missing_ok=True)
                continue
            if _same_process(record):
                log.warning(
                    "ending %s (pid %d) left running by a previous agent", record.what, record.pid
                )
                _kill(record.pid)
                ended.append(record)
            path.unlink(missing_ok=True)
        return ended

    # -- Windows ------------------------------------------------------------------------------

    def contain(self) -> None:
        """Windows: put this process, and so everything it starts, in a job that the kernel
        kills when this process ends. No-op elsewhere, and when already done."""
        if os.name != "nt" or self._job is not None:
            return
        import win32api  # noqa: PLC0415 - pywin32 exists only on Windows
        import win32job  # noqa: PLC0415

        job = win32job.CreateJobObject(None, "")
        info = win32job.QueryInformationJobObject(job, win32job.JobObjectExtendedLimitInformation)
        info["BasicLimitInformation"]["LimitFlags"] |= win32job.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        win32job.SetInformationJobObject(job, win32job.JobObjectExtendedLimitInformation, info)
        win32job.AssignProcessToJobObject(job, win32api.GetCurrentProcess())
        # Kept open for the life of the process: closing it is what kills the children.
        self._job = job


#: The agent's one tracker; the agent points it at its state directory at start-up.
children = ChildTracker()


def run_tracked(
    args: list[str] | str,
    what: str,
    *,
    timeout: float | None = None,
    input: str | None = None,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """subprocess.run for a change process: recorded while it runs, killed on timeout (which
    raises subprocess.TimeoutExpired, as run does). Output is captured as text."""
    with (
        subprocess.Popen(
            args,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **{**popen_options(), **popen},
        ) as proc,
        children.tracking(proc, what),
    ):
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc.pid)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def popen_options() -> dict[str, Any]:
    """Popen keyword arguments for a change process: its own process group on posix (so it
    and whatever it starts are killed together), no console window on Windows."""
    if os.name == "nt":
        return {"creationflags": 0x0800_0000}  # CREATE_NO_WINDOW
    return {"start_new_session": True}


def boot_id() -> str:
    """This boot (Linux: its random ID). Windows start times are absolute FILETIMEs, unique
    across boots on their own, and a job object ends children at a reboot anyway: ""."""
    if os.name == "nt":
        return ""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> int | None:
    """The OS's start time of process ``pid``; None when there is no such process."""
    if os.name == "nt":
        return _windows_start_time(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _same_process(record: ChildRecord) -> bool:
    if record.boot != boot_id():
        return False
    return process_start_time(record.pid) == record.started


def _kill(pid: int) -> None:
    if os.name == "nt":
        import win32api  # noqa: PLC0415
        import win32con  # noqa: PLC0415

        with contextlib.suppress(Exception):  # pywintypes.error: gone meanwhile
            handle = win32api.OpenProcess(win32con.PROCESS_TERMINATE, False, pid)
            win32api.TerminateProcess(handle, 1)
            win32api.CloseHandle(handle)
        return
    # The group: a shell's own children die with it. A group leader's PID is its group's ID.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _write_record(path: Path, record: ChildRecord) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.to_json()), encoding="utf-8")
    tmp.replace(path)


def _windows_start_time(pid: int) -> int | None:
    import win32api  # noqa: PLC0415
    import win32process  # noqa: PLC0415

    process_query_limited_information = 0x1000
    try:
        handle = win32api.OpenProcess(process_query_limited_information, False, pid)
    except Exception:  # pywintypes.error: no such process, or not ours to see
        return None
    try:
        if win32process.GetExitCodeProcess(handle) != 259:  # STILL_ACTIVE
            return None
        created = win32process.GetProcessTimes(handle)["CreationTime"]
        return int(created.timestamp() * 10_000_000)
    finally:
        win32api.CloseHandle(handle)
