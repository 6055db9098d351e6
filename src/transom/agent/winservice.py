"""The agent as a Windows service (pywin32): installing it, controlling it, and being it.

Being it: the service manager starts ``python.exe -I -m transom.cli.main agent run --service``;
that process calls the service control dispatcher (``StartServiceCtrlDispatcher``) through
pywin32's ``servicemanager``, which is what `transom agent run` on its own never did, hence
error 1053 ("did not respond in a timely fashion") before. A stop request sets the agent's stop
event; while the stop runs (the resource in progress finishes, see transom.agent.shutdown) the
service reports STOP_PENDING with a new checkpoint every few seconds, so the service manager
waits instead of declaring it hung.

Installed: automatic, delayed start (the network and the domain are up by then), as LocalSystem
or a group managed service account (``DOMAIN\\name$``, no password); restart after 1 and 5
minutes on failure, count reset after a day; the ``Transom`` Event Log source registered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from transom.agent.events import AgentEvents, platform_event_log
from transom.agent.servicedef import (
    DESCRIPTION,
    DISPLAY_NAME,
    FAILURE_RESET_SECONDS,
    RESTART_DELAYS_SECONDS,
    SERVICE_NAME,
)
from transom.agent.shutdown import STOP_TIMEOUT_SECONDS
from transom.engine.audit.sinks import EVENT_MESSAGE_FILE, WindowsEventLog

if TYPE_CHECKING:
    from transom.agent.service import RunSettings

log = logging.getLogger(__name__)

#: Beside python.exe in the bundle; built from transom.engine.audit.sinks.message_table().
MESSAGE_DLL = "transom-events.dll"
START_WAIT_SECONDS = 60.0
#: win32 error codes met here.
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_NOT_ACTIVE = 1062
ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063
ERROR_SERVICE_ALREADY_RUNNING = 1056
ERROR_SERVICE_MARKED_FOR_DELETE = 1072
ERROR_INVALID_LEVEL = 124
#: The standard DELETE access right (winnt.h), which win32service does not export.
STANDARD_DELETE = 0x0001_0000

#: SERVICE_STATUS.dwCurrentState values, by name.
STATES = {
    1: "stopped",
    2: "start pending",
    3: "stop pending",
    4: "running",
    5: "continue pending",
    6: "pause pending",
    7: "paused",
}


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServiceStatus:
    state: str
    pid: int
    command: str = ""
    account: str = ""
    start_type: str = ""

    def lines(self) -> list[str]:
        out = [f"{SERVICE_NAME}: {self.state}" + (f" (pid {self.pid})" if self.pid else "")]
        if self.command:
            out += [
                f"  runs:    {self.command}",
                f"  as:      {self.account}",
                f"  start:   {self.start_type}",
            ]
        return out


def message_file() -> str:
    """Transom's message DLL when installed beside this Python (the bundle), else .NET's."""
    bundled = Path(sys.executable).resolve().parent / MESSAGE_DLL
    return str(bundled) if bundled.is_file() else EVENT_MESSAGE_FILE


def check_interpreter() -> None:
    """The service manager must start the process that calls the dispatcher: a virtual
    environment's python.exe is a launcher that starts another one."""
    if sys.prefix != sys.base_prefix:
        raise ServiceError(
            f"{sys.executable} is a virtual environment's launcher, which the service manager "
            "cannot run as a service: install from the Windows bundle (or a regular Python)"
        )


def _error_code(exc: BaseException) -> int:
    return int(getattr(exc, "winerror", 0) or 0)


F = TypeVar("F", bound=Callable[..., Any])


def _clear_errors(func: F) -> F:
    """pywin32 raises pywintypes.error (not an OSError): one ServiceError naming the call."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import pywintypes  # noqa: PLC0415

        try:
            return func(*args, **kwargs)
        except pywintypes.error as exc:
            raise ServiceError(
                f"{func.__name__} {SERVICE_NAME}: {exc.funcname}: {exc.strerror} "
                f"(error {exc.winerror})"
            ) from None

    return wrapper  # type: ignore[return-value]


# -- install, remove, control ------------------------------------------------------------------


@_clear_errors
def install(command: list[str], *, account: str | None = None) -> bool:
    """Create (or, upgrading in place, update) the service; True when it was created."""
    import win32service  # noqa: PLC0415 - pywin32 exists only on Windows

    check_interpreter()
    binary = _command_line(command)
    user = account or None  # None: LocalSystem
    scm = win32service.OpenSCManager(
        None, None, win32service.SC_MANAGER_CONNECT | win32service.SC_MANAGER_CREATE_SERVICE
    )
    try:
        try:
            handle = win32service.OpenService(scm, SERVICE_NAME, win32service.SERVICE_ALL_ACCESS)
        except win32service.error as exc:
            if _error_code(exc) != ERROR_SERVICE_DOES_NOT_EXIST:
                raise
            handle = None
        created = handle is None
        if handle is None:
            handle = win32service.CreateService(
                scm,
                SERVICE_NAME,
                DISPLAY_NAME,
                win32service.SERVICE_ALL_ACCESS,
                win32service.SERVICE_WIN32_OWN_PROCESS,
                win32service.SERVICE_AUTO_START,
                win32service.SERVICE_ERROR_NORMAL,
                binary,
                None,
                0,
                None,
                user,
                None,
            )
        else:
            win32service.ChangeServiceConfig(
                handle,
                win32service.SERVICE_WIN32_OWN_PROCESS,
                win32service.SERVICE_AUTO_START,
                win32service.SERVICE_ERROR_NORMAL,
                binary,
                None,
                0,
                None,
                user or "LocalSystem",
                None,
                DISPLAY_NAME,
            )
        try:
            missing = _configure(win32service, handle)
        finally:
            win32service.CloseServiceHandle(handle)
        if missing:
            log.warning("this system does not support these service settings: %s", missing)
    finally:
        win32service.CloseServiceHandle(scm)
    WindowsEventLog().register_source(message_file())
    return created


def _configure(win32service: Any, handle: Any) -> list[str]:
    """Description, delayed start, recovery actions; the settings this OS does not have
    (ERROR_INVALID_LEVEL: Wine lacks some), by name. Windows Server 2016 has them all."""
    settings = [
        ("description", win32service.SERVICE_CONFIG_DESCRIPTION, DESCRIPTION),
        ("delayed start", win32service.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, True),
        (
            "recovery actions",
            win32service.SERVICE_CONFIG_FAILURE_ACTIONS,
            {
                "ResetPeriod": FAILURE_RESET_SECONDS,
                "RebootMsg": None,
                "Command": None,
                "Actions": [
                    (win32service.SC_ACTION_RESTART, seconds * 1000)
                    for seconds in RESTART_DELAYS_SECONDS
                ],
            },
        ),
        # Also when the agent exits with an error, not only when the process crashes.
        ("recovery on error exit", win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, True),
    ]
    missing = []
    for name, level, value in settings:
        try:
            win32service.ChangeServiceConfig2(handle, level, value)
        except win32service.error as exc:
            if _error_code(exc) != ERROR_INVALID_LEVEL:
                raise
            missing.append(name)
    return missing


@_clear_errors
def uninstall(*, remove_event_source: bool = False) -> bool:
    """Stop and delete the service; False when it was not installed. The Event Log source
    stays unless asked (without it, the events already written lose their text)."""
    import win32service  # noqa: PLC0415

    if query().state == "not installed":
        return False
    stop()
    with _service(win32service, STANDARD_DELETE) as handle:
        try:
            win32service.DeleteService(handle)
        except win32service.error as exc:
            if _error_code(exc) != ERROR_SERVICE_MARKED_FOR_DELETE:
                raise
    if remove_event_source:
        WindowsEventLog().remove_source()
    return True


@_clear_errors
def start(timeout: float = START_WAIT_SECONDS) -> ServiceStatus:
    import win32service  # noqa: PLC0415

    access = win32service.SERVICE_START | win32service.SERVICE_QUERY_STATUS
    with _service(win32service, access) as handle:
        try:
            win32service.StartService(handle, None)
        except win32service.error as exc:
            if _error_code(exc) != ERROR_SERVICE_ALREADY_RUNNING:
                raise
    return _wait_for(lambda s: s.state != "start pending", timeout, "start")


@_clear_errors
def stop(timeout: float = STOP_TIMEOUT_SECONDS + 30) -> ServiceStatus:
    """Ask the service to stop and wait while it reports progress, up to ``timeout``."""
    import win32service  # noqa: PLC0415

    access = win32service.SERVICE_STOP | win32service.SERVICE_QUERY_STATUS
    with _service(win32service, access) as handle:
        try:
            win32service.ControlService(handle, win32service.SERVICE_CONTROL_STOP)
        except win32service.error as exc:
            if _error_code(exc) != ERROR_SERVICE_NOT_ACTIVE:
                raise
    return _wait_for(lambda s: s.state == "stopped", timeout, "stop")


@_clear_errors
def query() -> ServiceStatus:
    """State and process; the configuration too where the OS answers (Wine: not always)."""
    import win32service  # noqa: PLC0415

    access = win32service.SERVICE_QUERY_STATUS | win32service.SERVICE_QUERY_CONFIG
    try:
        with _service(win32service, access) as handle:
            raw = win32service.QueryServiceStatusEx(handle)
            status = ServiceStatus(
                STATES.get(int(raw["CurrentState"]), str(raw["CurrentState"])),
                int(raw.get("ProcessId") or 0),
            )
            try:
                config = win32service.QueryServiceConfig(handle)
            except win32service.error:
                return status
            start_type = {2: "automatic", 3: "manual", 4: "disabled"}.get(
                int(config[1]), str(config[1])
            )
            return ServiceStatus(status.state, status.pid, config[3], config[7], start_type)
    except win32service.error as exc:
        if _error_code(exc) == ERROR_SERVICE_DOES_NOT_EXIST:
            return ServiceStatus("not installed", 0)
        raise


class _service:  # noqa: N801 - used as a context manager, reads like a function
    def __init__(self, win32service: Any, access: int) -> None:
        self.ws = win32service
        self.access = access
        self.scm: Any = None
        self.handle: Any = None

    def __enter__(self) -> Any:
        self.scm = self.ws.OpenSCManager(None, None, self.ws.SC_MANAGER_CONNECT)
        try:
            self.handle = self.ws.OpenService(self.scm, SERVICE_NAME, self.access)
        except BaseException:
            self.ws.CloseServiceHandle(self.scm)
            raise
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.ws.CloseServiceHandle(self.handle)
        self.ws.CloseServiceHandle(self.scm)


def _wait_for(done: Callable[[ServiceStatus], bool], timeout: float, what: str) -> ServiceStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = query()
        if done(status):
            return status
        if time.monotonic() > deadline:
            raise ServiceError(f"{SERVICE_NAME} did not {what} within {timeout:.0f} s: {status}")
        time.sleep(0.25)


def _command_line(command: list[str]) -> str:
    import subprocess  # noqa: PLC0415 - list2cmdline: the quoting CreateProcess undoes

    return subprocess.list2cmdline(command)


# -- being the service -------------------------------------------------------------------------


def run_hosted(settings: RunSettings) -> None:
    """`transom agent run --service`, inside the process transom.agent.servicehost runs for
    the service manager: the agent until the manager stops it. A failure to run is written to
    the Event Log and re-raised, so the service stops with an error and recovery applies."""
    from transom.agent import servicehost  # noqa: PLC0415
    from transom.agent.service import run_agent  # noqa: PLC0415 - service imports us back

    stopper = servicehost.current
    if stopper is None:
        raise ServiceError(
            "--service is for the service manager; run `transom agent start`, or "
            "`transom agent run` without --service in a console"
        )
    events = AgentEvents(platform_event_log())

    async def main() -> None:
        await run_agent(settings, stop=stopper.bind(), on_stopping=stopper.on_stopping)

    try:
        asyncio.run(main())
    except Exception as exc:
        log.exception("the agent failed")
        events.error(f"{type(exc).__name__}: {exc}")
        raise
