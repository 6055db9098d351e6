"""Stand-ins for the pywin32 modules win32.py calls, as strict as Windows where a defect hid:
service handles carry only the rights they were opened with (a protected service grants
administrators query rights only), SERVICE_FAILURE_ACTIONS keeps the command for None and
deletes it for "", a reboot action needs SeShutdownPrivilege enabled, a cancelled overlapped
read keeps writing into its buffer until it completes, and WMI reports the boot time.

Install them with ``install(monkeypatch)``; the returned ``Windows`` holds their shared state.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

SERVICE_ALL_ACCESS = 0xF01FF
SC_MANAGER_ALL_ACCESS = 0xF003F
SERVICE_QUERY_CONFIG = 0x1
SERVICE_CHANGE_CONFIG = 0x2
SERVICE_QUERY_STATUS = 0x4
SERVICE_START = 0x10
ERROR_ACCESS_DENIED = 5
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_OPERATION_ABORTED = 995


class PyWinError(Exception):
    """pywintypes.error's shape: (winerror, funcname, strerror), not an OSError."""

    def __init__(self, winerror: int, funcname: str, strerror: str = "") -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror


@dataclass
class Service:
    #: Rights the service's DACL grants the caller.
    granted: int = SERVICE_ALL_ACCESS
    failure: dict[str, Any] = field(
        default_factory=lambda: {"ResetPeriod": 0, "RebootMsg": "", "Command": "", "Actions": []}
    )


@dataclass
class Handle:
    service: Service
    access: int


@dataclass
class Windows:
    services: dict[str, Service] = field(default_factory=dict)
    privileges_enabled: set[str] = field(default_factory=set)
    boot_time: str = "20261201063012.500000+000"
    #: Directory handles closed while the kernel could still write into their read buffer.
    closed_with_read_in_flight: int = 0


def _service_module(win: Windows) -> types.ModuleType:
    ws = types.ModuleType("win32service")
    ws.SERVICE_CONFIG_DESCRIPTION = 1  # type: ignore[attr-defined]
    ws.SERVICE_CONFIG_FAILURE_ACTIONS = 2  # type: ignore[attr-defined]
    ws.SERVICE_CONFIG_DELAYED_AUTO_START_INFO = 3  # type: ignore[attr-defined]
    ws.SC_MANAGER_ALL_ACCESS = SC_MANAGER_ALL_ACCESS  # type: ignore[attr-defined]
    ws.SERVICE_ALL_ACCESS = SERVICE_ALL_ACCESS  # type: ignore[attr-defined]

    def open_scm(machine: Any, database: Any, access: int) -> str:
        return "scm"

    def open_service(scm: str, name: str, access: int) -> Handle:
        svc = win.services.get(name.lower())
        if svc is None:
            raise PyWinError(
                ERROR_SERVICE_DOES_NOT_EXIST,
                "OpenService",
                "The specified service does not exist as an installed service.",
            )
        if access & ~svc.granted:
            raise PyWinError(ERROR_ACCESS_DENIED, "OpenService", "Access is denied.")
        return Handle(svc, access)

    def need(h: Handle, right: int, function: str) -> None:
        if not h.access & right:
            raise PyWinError(ERROR_ACCESS_DENIED, function, "Access is denied.")

    def query_config(h: Handle) -> tuple[Any, ...]:
        need(h, SERVICE_QUERY_CONFIG, "QueryServiceConfig")
        return (16, 3, 1, "C:\\svc.exe", "", 0, [], "LocalSystem", "Svc")

    def query_config2(h: Handle, level: int) -> Any:
        need(h, SERVICE_QUERY_CONFIG, "QueryServiceConfig2")
        return dict(h.service.failure) if level == 2 else ("" if level == 1 else False)

    def query_status(h: Handle) -> dict[str, int]:
        need(h, SERVICE_QUERY_STATUS, "QueryServiceStatusEx")
        return {"CurrentState": 4}

    def change_config2(h: Handle, level: int, info: Any) -> None:
        need(h, SERVICE_CHANGE_CONFIG, "ChangeServiceConfig2")
        if level != 2:
            return
        kinds = {kind for kind, _ in info["Actions"]}
        if 1 in kinds:
            need(h, SERVICE_START, "ChangeServiceConfig2")
        if 2 in kinds and "SeShutdownPrivilege" not in win.privileges_enabled:
            raise PyWinError(ERROR_ACCESS_DENIED, "ChangeServiceConfig2", "Access is denied.")
        current = h.service.failure
        current["ResetPeriod"] = info["ResetPeriod"]
        current["Actions"] = list(info["Actions"])
        # lpCommand/lpRebootMsg: NULL leaves it unchanged, "" deletes it.
        for key in ("Command", "RebootMsg"):
            if info[key] is not None:
                current[key] = info[key]

    ws.OpenSCManager = open_scm  # type: ignore[attr-defined]
    ws.OpenService = open_service  # type: ignore[attr-defined]
    ws.CloseServiceHandle = lambda h: None  # type: ignore[attr-defined]
    ws.QueryServiceConfig = query_config  # type: ignore[attr-defined]
    ws.QueryServiceConfig2 = query_config2  # type: ignore[attr-defined]
    ws.QueryServiceStatusEx = query_status  # type: ignore[attr-defined]
    ws.ChangeServiceConfig2 = change_config2  # type: ignore[attr-defined]
    return ws


def _security_modules(win: Windows) -> tuple[types.ModuleType, types.ModuleType]:
    sec = types.ModuleType("win32security")
    api = types.ModuleType("win32api")
    sec.OpenProcessToken = lambda process, access: "token"  # type: ignore[attr-defined]
    sec.LookupPrivilegeValue = lambda system, name: name  # type: ignore[attr-defined]

    def adjust(token: str, disable_all: bool, privileges: list[tuple[str, int]]) -> None:
        for name, attributes in privileges:
            if attributes & 0x2:
                win.privileges_enabled.add(name)

    sec.AdjustTokenPrivileges = adjust  # type: ignore[attr-defined]
    api.GetCurrentProcess = lambda: -1  # type: ignore[attr-defined]
    api.GetLastError = lambda: 0  # type: ignore[attr-defined]
    api.CloseHandle = lambda h: None  # type: ignore[attr-defined]
    return sec, api


class _DirHandle:
    def __init__(self, win: Windows) -> None:
        self.win = win
        self.read_in_flight = False
        self.cancelled = False

    def Close(self) -> None:  # noqa: N802 - pywin32's name
        if self.read_in_flight:
            self.win.closed_with_read_in_flight += 1


def _file_modules(win: Windows) -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    wf = types.ModuleType("win32file")
    we = types.ModuleType("win32event")
    pt = types.ModuleType("pywintypes")

    class Overlapped:
        hEvent: Any = None  # noqa: N815 - pywin32's name

    pt.OVERLAPPED = Overlapped  # type: ignore[attr-defined]
    pt.error = PyWinError  # type: ignore[attr-defined]
    wf.CreateFile = lambda *args: _DirHandle(win)  # type: ignore[attr-defined]
    wf.AllocateReadBuffer = bytearray  # type: ignore[attr-defined]

    def read_changes(h: _DirHandle, *args: Any) -> None:
        h.read_in_flight, h.cancelled = True, False

    def cancel(h: _DirHandle) -> None:
        # CancelIo only requests the cancellation; the read completes later.
        h.cancelled = True

    def overlapped_result(h: _DirHandle, overlapped: Any, wait: bool) -> int:
        if h.read_in_flight and h.cancelled and wait:
            h.read_in_flight = False
            raise PyWinError(ERROR_OPERATION_ABORTED, "GetOverlappedResult", "aborted")
        return 0

    wf.ReadDirectoryChangesW = read_changes  # type: ignore[attr-defined]
    wf.CancelIo = cancel  # type: ignore[attr-defined]
    wf.GetOverlappedResult = overlapped_result  # type: ignore[attr-defined]
    we.CreateEvent = lambda *args: "event"  # type: ignore[attr-defined]
    return wf, we, pt


def _wmi_module(win: Windows) -> types.ModuleType:
    client = types.ModuleType("win32com.client")

    class Property:
        def __init__(self, value: str) -> None:
            self.Value = value

    class OperatingSystem:
        def Properties_(self, name: str) -> Property:  # noqa: N802 - WMI's name
            assert name == "LastBootUpTime"
            return Property(win.boot_time)

    class Wmi:
        def ExecQuery(self, query: str) -> list[OperatingSystem]:  # noqa: N802
            assert "Win32_OperatingSystem" in query
            return [OperatingSystem()]

    client.GetObject = lambda moniker: Wmi()  # type: ignore[attr-defined]
    return client


def install(monkeypatch: pytest.MonkeyPatch) -> Windows:
    win = Windows()
    sec, api = _security_modules(win)
    wf, we, pt = _file_modules(win)
    modules = {
        "win32service": _service_module(win),
        "win32security": sec,
        "win32api": api,
        "win32file": wf,
        "win32event": we,
        "pywintypes": pt,
        "win32com.client": _wmi_module(win),
    }
    package = types.ModuleType("win32com")
    package.client = modules["win32com.client"]  # type: ignore[attr-defined]
    modules["win32com"] = package
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return win
