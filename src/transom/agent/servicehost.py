"""The process the Windows service manager starts: ``pythonw.exe -I -m transom.agent.servicehost
RUN-ARGS``. It calls the service control dispatcher first, before importing anything heavy (the
manager allows 30 s, Wine 10), then runs `transom agent run RUN-ARGS --service` in
``SvcDoRun``; a stop request from the manager reaches that run through ``Stopper``.

A service has no console and Wine keeps no Event Log, so the host writes its own standard
output, standard error (the agent's log) and any failure, with its traceback, to
``STATE-DIR\\service.log`` (the protected state directory): an admin reads there why the
service stopped.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import os
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from transom.agent.servicedef import DESCRIPTION, DISPLAY_NAME, SERVICE_NAME

#: What a STOP_PENDING report promises: the next checkpoint within this many milliseconds
#: (the stop reports progress every PROGRESS_INTERVAL_SECONDS, transom.agent.shutdown).
STOP_WAIT_HINT_MS = 15_000
ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063
#: In the state directory; the previous one is kept as ``service.log.1`` past this size.
LOG_NAME = "service.log"
LOG_MAX_BYTES = 1 << 20


class Stopper:
    """A stop request from the service manager's thread, delivered to the agent's event loop
    whenever that exists (before it does, it is remembered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        #: Told while the stop is in progress (the service reports STOP_PENDING).
        self.on_stopping: Callable[[float], None] | None = None

    def bind(self) -> asyncio.Event:
        """Call in the event loop: the event that is set on a stop request."""
        event = asyncio.Event()
        with self._lock:
            self._loop, self._event = asyncio.get_running_loop(), event
            if self._requested:
                event.set()
        return event

    def request(self) -> None:
        with self._lock:
            self._requested = True
            if self._loop is not None and self._event is not None:
                self._loop.call_soon_threadsafe(self._event.set)


#: The running service's stopper (one service per process).
current: Stopper | None = None


def open_log(run_args: list[str]) -> IO[str] | None:
    """The service's log file in the ``--state-dir`` that `transom agent install` always
    writes into the command line, appended to (rotated once past LOG_MAX_BYTES); None when
    that directory does not exist (not enrolled: the agent's own error says so)."""
    given = [a.removeprefix("--state-dir=") for a in run_args if a.startswith("--state-dir=")]
    if not given:
        return None
    path = Path(given[-1]) / LOG_NAME
    try:
        if path.is_file() and path.stat().st_size > LOG_MAX_BYTES:
            path.replace(path.with_name(LOG_NAME + ".1"))
        return path.open("a", encoding="utf-8", errors="replace", buffering=1)
    except OSError:
        return None


def note(stream: IO[str] | None, message: str) -> None:
    if stream is not None:
        stream.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} servicehost {message}\n")


def _service_class(run_args: list[str]) -> type:
    import win32service  # noqa: PLC0415 - pywin32 exists only on Windows
    import win32serviceutil  # noqa: PLC0415

    class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            global current  # noqa: PLW0603 - the one service of this process
            super().__init__(args)
            self.stopper = current = Stopper()
            self.stopper.on_stopping = self._stopping

        def SvcStop(self) -> None:  # noqa: N802 - pywin32's name
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)
            self.stopper.request()

        SvcShutdown = SvcStop

        def SvcDoRun(self) -> None:  # noqa: N802
            # The CLI builds the run's settings exactly as in a console (imported here, not at
            # the top: the dispatcher is already connected).
            note(sys.stderr, "running the agent")
            try:
                cli = importlib.import_module("transom.cli.main")
                code = cli.main(["agent", "run", *run_args, "--service"])
            except BaseException as exc:
                note(sys.stderr, "the agent failed:\n" + "".join(traceback.format_exception(exc)))
                raise
            note(sys.stderr, f"the agent exited with code {code}")
            if code:
                raise SystemExit(code)  # the manager records a failure: recovery applies

        def _stopping(self, _elapsed: float) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)

    return AgentService


def main(argv: list[str]) -> int:
    import pywintypes  # noqa: PLC0415
    import servicemanager  # noqa: PLC0415

    log = open_log(argv)
    if log is not None:
        # pythonw.exe has no standard streams: the agent's log and any crash go to the file.
        sys.stdout = sys.stderr = log
        faulthandler.enable(log)
        note(log, f"started (pid {os.getpid()})")
    servicemanager.Initialize(SERVICE_NAME, None)
    servicemanager.PrepareToHostSingle(_service_class(argv))
    try:
        servicemanager.StartServiceCtrlDispatcher()
    except pywintypes.error as exc:
        if getattr(exc, "winerror", 0) == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT:
            print(
                "transom.agent.servicehost is for the service manager: run `transom agent "
                "start`, or `transom agent run` in a console",
                file=sys.stderr,
            )
            return 2
        note(log, f"failed: {exc}")
        raise
    note(log, "stopped")
    return 0


if __name__ == "__main__":
    # Run as ``-m``, this file is ``__main__``; the agent looks up ``current`` in
    # transom.agent.servicehost, which would be a second copy with none: run that one.
    sys.exit(importlib.import_module("transom.agent.servicehost").main(sys.argv[1:]))
