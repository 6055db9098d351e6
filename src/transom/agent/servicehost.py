"""The process the Windows service manager starts: ``pythonw.exe -I -m transom.agent.servicehost
RUN-ARGS``. It calls the service control dispatcher first, before importing anything heavy (the
manager allows 30 s, Wine 10), then runs `transom agent run RUN-ARGS --service` in
``SvcDoRun``; a stop request from the manager reaches that run through ``Stopper``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from collections.abc import Callable
from typing import Any

from transom.agent.servicedef import DESCRIPTION, DISPLAY_NAME, SERVICE_NAME

#: What a STOP_PENDING report promises: the next checkpoint within this many milliseconds
#: (the stop reports progress every PROGRESS_INTERVAL_SECONDS, transom.agent.shutdown).
STOP_WAIT_HINT_MS = 15_000
ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063


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
            cli = importlib.import_module("transom.cli.main")
            code = cli.main(["agent", "run", *run_args, "--service"])
            if code:
                raise SystemExit(code)  # the manager records a failure: recovery applies

        def _stopping(self, _elapsed: float) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)

    return AgentService


def main(argv: list[str]) -> int:
    import pywintypes  # noqa: PLC0415
    import servicemanager  # noqa: PLC0415

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
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
