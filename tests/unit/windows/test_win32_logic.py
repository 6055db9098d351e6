"""win32.py's own logic on any OS: its registry code against a stand-in winreg (flags, error
conversion, what winreg returns), msiexec quoting, account and error helpers."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from transom.providers.windows import facade as f
from transom.providers.windows import win32
from transom.providers.windows.powershell import PowerShellHost


def _not_found() -> FileNotFoundError:
    exc = FileNotFoundError(2, "The system cannot find the file specified")
    exc.winerror = 2  # type: ignore[attr-defined]
    return exc


class _Key:
    def __init__(self, store: FakeWinreg, path: tuple[str, int, str]) -> None:
        self.store, self.path = store, path

    def __enter__(self) -> _Key:
        return self

    def __exit__(self, *exc: object) -> None:
        self.Close()

    def Close(self) -> None:  # noqa: N802 - winreg's name
        self.store.closed += 1


class FakeWinreg(types.ModuleType):
    """winreg's surface as win32.py uses it: keys per (hive, view, lowercase path)."""

    HKEY_LOCAL_MACHINE = "HKLM"
    KEY_READ = 0x20019
    KEY_WRITE = 0x20006
    KEY_QUERY_VALUE = 0x1
    KEY_SET_VALUE = 0x2

    def __init__(self) -> None:
        super().__init__("winreg")
        self.keys: dict[tuple[str, int, str], dict[str, tuple[Any, int]]] = {}
        self.closed = 0

    @staticmethod
    def _where(hive: str, key: str, access: int) -> tuple[str, int, str]:
        assert access & 0x300 in (0x100, 0x200), "every call names a view"
        return hive, 32 if access & 0x200 else 64, key.lower()

    def OpenKeyEx(self, hive: str, key: str, reserved: int, access: int) -> _Key:  # noqa: N802
        where = self._where(hive, key, access)
        if where not in self.keys:
            raise _not_found()
        return _Key(self, where)

    def CreateKeyEx(self, hive: str, key: str, reserved: int, access: int) -> _Key:  # noqa: N802
        where = self._where(hive, key, access)
        parts = where[2].split("\\")
        for i in range(1, len(parts) + 1):
            self.keys.setdefault((where[0], where[1], "\\".join(parts[:i])), {})
        return _Key(self, where)

    def _children(self, where: tuple[str, int, str]) -> list[str]:
        hive, view, path = where
        return sorted(
            {
                k[2][len(path) + 1 :].split("\\")[0]
                for k in self.keys
                if k[:2] == (hive, view) and k[2].startswith(path + "\\")
            }
        )

    def QueryInfoKey(self, h: _Key) -> tuple[int, int, int]:  # noqa: N802
        return len(self._children(h.path)), len(self.keys[h.path]), 0

    def EnumKey(self, h: _Key, i: int) -> str:  # noqa: N802
        return self._children(h.path)[i]

    def QueryValueEx(self, h: _Key, name: str) -> tuple[Any, int]:  # noqa: N802
        found = self.keys[h.path].get(name.lower())
        if found is None:
            raise _not_found()
        data, kind = found
        # winreg reads an empty REG_BINARY as None.
        return (None if kind == f.REG_BINARY and data == b"" else data), kind

    def SetValueEx(self, h: _Key, name: str, reserved: int, kind: int, data: Any) -> None:  # noqa: N802
        self.keys[h.path][name.lower()] = (data, kind)

    def DeleteValue(self, h: _Key, name: str) -> None:  # noqa: N802
        if self.keys[h.path].pop(name.lower(), None) is None:
            raise _not_found()

    def DeleteKeyEx(self, hive: str, key: str, access: int, reserved: int) -> None:  # noqa: N802
        where = self._where(hive, key, access)
        if where not in self.keys:
            raise _not_found()
        if self._children(where):
            exc = PermissionError(13, "Access is denied")
            exc.winerror = 5  # type: ignore[attr-defined]
            raise exc
        del self.keys[where]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWinreg]:
    module = FakeWinreg()
    monkeypatch.setitem(sys.modules, "winreg", module)
    yield module


@pytest.fixture
def real() -> win32.Win32Facade:
    return win32.Win32Facade(PowerShellHost(["unused"]))


def test_registry_round_trip_through_winreg(fake: FakeWinreg, real: win32.Win32Facade) -> None:
    real.reg_create_key("HKLM", "SOFTWARE\\Contoso\\App", 32)
    assert real.reg_key_exists("HKLM", "software\\contoso\\app", 32)
    assert not real.reg_key_exists("HKLM", "SOFTWARE\\Contoso\\App", 64)
    real.reg_set_value(
        "HKLM", "SOFTWARE\\Contoso\\App", "Blob", 32, value_type=f.REG_BINARY, data=b""
    )
    assert real.reg_query_value("HKLM", "SOFTWARE\\Contoso\\App", "blob", 32) == (b"", f.REG_BINARY)
    with pytest.raises(f.WindowsApiError) as caught:
        real.reg_query_value("HKLM", "SOFTWARE\\Contoso\\App", "missing", 32)
    assert (caught.value.winerror, caught.value.function) == (2, "RegQueryValueEx")
    with pytest.raises(f.WindowsApiError) as caught:
        real.reg_set_value(
            "HKLM", "SOFTWARE\\Contoso\\App", "n", 32, value_type=f.REG_DWORD, data=-1
        )
    assert caught.value.winerror == f.ERROR_INVALID_PARAMETER
    assert fake.closed > 0


def test_delete_tree_and_plain_delete(fake: FakeWinreg, real: win32.Win32Facade) -> None:
    for key in ("SOFTWARE\\T\\a\\b", "SOFTWARE\\T\\c"):
        real.reg_create_key("HKLM", key, 64)
    assert real.reg_has_subkeys("HKLM", "SOFTWARE\\T", 64)
    with pytest.raises(f.WindowsApiError) as caught:
        real.reg_delete_key("HKLM", "SOFTWARE\\T", 64, recursive=False)
    assert caught.value.winerror == f.ERROR_ACCESS_DENIED
    real.reg_delete_key("HKLM", "SOFTWARE\\T", 64, recursive=True)
    assert not real.reg_key_exists("HKLM", "SOFTWARE\\T", 64)
    assert real.reg_key_exists("HKLM", "SOFTWARE", 64)


def test_pywin32_errors_become_windows_api_errors() -> None:
    class PyWinError(Exception):  # pywintypes.error's shape: not an OSError
        def __init__(self) -> None:
            super().__init__(1058, "StartService", "The service cannot be started")
            self.winerror, self.strerror = 1058, "The service cannot be started"

    with pytest.raises(f.WindowsApiError) as caught, win32._win("StartService"):
        raise PyWinError
    assert caught.value.winerror == f.ERROR_SERVICE_DISABLED
    with pytest.raises(KeyError), win32._win("x"):
        raise KeyError("not an OS error: passes through")


def test_msiexec_arguments() -> None:
    assert (
        win32._msi_arg("INSTALLDIR=C:\\Program Files\\App") == 'INSTALLDIR="C:\\Program Files\\App"'
    )
    assert win32._msi_arg("ADDLOCAL=ALL") == "ADDLOCAL=ALL"
    assert win32._msi_arg("C:\\My Packages\\app.msi") == '"C:\\My Packages\\app.msi"'


def test_passwordless_accounts() -> None:
    for account in (
        "LocalSystem",
        "NT AUTHORITY\\NetworkService",
        "NT SERVICE\\W3SVC",
        "CONTOSO\\web-gmsa$",
    ):
        assert win32._passwordless(account)
    assert not win32._passwordless("CONTOSO\\svc-web")
