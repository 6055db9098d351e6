"""The real facade: winreg, pywin32, ctypes and the long-lived PowerShell host.

Windows-only modules (winreg, pywin32) are imported inside the functions that use them, so
this module imports on any OS; ``make lint`` type-checks it for ``--platform win32`` against
typeshed's winreg and types-pywin32. Only APIs present on Windows Server 2016 are used. Every
failure leaves as ``WindowsApiError`` with the Win32 code: winreg raises OSError
(``winerror``), pywin32 raises ``pywintypes.error`` (``winerror``), and both are converted in
``_win``.

PowerShell-backed operations (features, firewall, tasks, IIS, DSC) use the cmdlets Server 2016
ships (ServerManager, NetSecurity, ScheduledTasks, WebAdministration, PSDesiredStateConfiguration)
through one host process rather than COM: the cmdlets carry the semantics admins know, return
structured data, and the host is already running for DSC.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import ntpath
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from transom.providers.children import run_tracked
from transom.providers.windows import facade as f
from transom.providers.windows.facade import WindowsApiError
from transom.providers.windows.powershell import (
    PowerShellHost,
    command_script,
    encoded_command,
    operations_script,
    powershell_prefix,
)
from transom.providers.windows.system32 import msiexec_exe, shutdown_exe


@contextmanager
def _win(function: str) -> Iterator[None]:
    try:
        yield
    except WindowsApiError:
        raise
    except Exception as exc:
        # pywintypes.error has winerror; pywintypes.com_error (WMI) an HRESULT.
        code = getattr(exc, "winerror", None) or getattr(exc, "hresult", None)
        if not isinstance(code, int):
            if not isinstance(exc, OSError):
                raise
            code = exc.errno or f.E_FAIL
        message = getattr(exc, "strerror", None) or str(exc)
        raise WindowsApiError(code & 0xFFFF_FFFF, function, str(message)) from exc


_HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKU": "HKEY_USERS",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
_KEY_WOW64_64KEY = 0x0100
_KEY_WOW64_32KEY = 0x0200
_KEY_NOTIFY = 0x0010
_FILE_RIGHTS: tuple[tuple[f.AccessRight, int], ...] = (
    ("FullControl", 0x1F01FF),
    ("Modify", 0x1301BF),
    ("ReadAndExecute", 0x1200A9),
    ("Read", 0x120089),
    ("Write", 0x100116),
)
_INHERITED_ACE = 0x10
_INHERIT_ONLY_ACE = 0x8
#: Rights that let an account change what the agent reads: write or append data (add a file or
#: subdirectory), delete children, delete, change the DACL or owner, GENERIC_WRITE/ALL.
_WRITE_RIGHTS = 0x2 | 0x4 | 0x40 | 0x1_0000 | 0x4_0000 | 0x8_0000 | 0x4000_0000 | 0x1000_0000
_CONTAINER_AND_OBJECT_INHERIT = 0x3
# winsvc.h access rights: each call asks for what it needs, so reading a protected service
# (one whose DACL grants administrators only query rights) works.
_SC_MANAGER_CONNECT = 0x0001
_SC_MANAGER_CREATE_SERVICE = 0x0002
_SERVICE_QUERY_CONFIG = 0x0001
_SERVICE_CHANGE_CONFIG = 0x0002
_SERVICE_QUERY_STATUS = 0x0004
_SERVICE_START = 0x0010
_SERVICE_STOP = 0x0020
_SERVICE_PAUSE_CONTINUE = 0x0040
_DELETE = 0x1_0000
_SERVICE_READ = _SERVICE_QUERY_CONFIG | _SERVICE_QUERY_STATUS
_SE_SHUTDOWN_NAME = "SeShutdownPrivilege"
_SE_PRIVILEGE_ENABLED = 0x2
_TOKEN_ADJUST_PRIVILEGES = 0x20
_TOKEN_QUERY = 0x8
_ERROR_NOT_ALL_ASSIGNED = 1300
_ERROR_NONE_MAPPED = 1332


def _view_flag(view: f.View) -> int:
    return _KEY_WOW64_32KEY if view == 32 else _KEY_WOW64_64KEY


class Win32Facade:
    """``facade.WindowsFacade`` on a real host. Construct one per agent; it owns the
    PowerShell host process (``close()`` ends it)."""

    def __init__(
        self,
        powershell: PowerShellHost | None = None,
        *,
        staging_dir: str | None = None,
        script_prefix: Sequence[str] | None = None,
    ) -> None:
        self.ps = powershell or PowerShellHost(preamble=operations_script())
        self._staging_dir = staging_dir or default_staging_dir()
        #: The command line a Command script runs with (powershell.exe; a stand-in in tests).
        self._script_prefix = list(script_prefix or powershell_prefix())

    def close(self) -> None:
        self.ps.close()

    # --- registry -----------------------------------------------------------------------------

    def _open(self, hive: f.Hive, key: str, view: f.View, access: int) -> Any:
        import winreg

        return winreg.OpenKeyEx(getattr(winreg, _HIVES[hive]), key, 0, access | _view_flag(view))

    def reg_key_exists(self, hive: f.Hive, key: str, view: f.View) -> bool:
        import winreg

        with _win("RegOpenKeyEx"):
            try:
                self._open(hive, key, view, winreg.KEY_READ).Close()
            except FileNotFoundError:
                return False
        return True

    def reg_create_key(self, hive: f.Hive, key: str, view: f.View) -> None:
        import winreg

        with _win("RegCreateKeyEx"):
            winreg.CreateKeyEx(
                getattr(winreg, _HIVES[hive]), key, 0, winreg.KEY_WRITE | _view_flag(view)
            ).Close()

    def reg_has_subkeys(self, hive: f.Hive, key: str, view: f.View) -> bool:
        import winreg

        with _win("RegQueryInfoKey"), self._open(hive, key, view, winreg.KEY_READ) as h:
            return bool(winreg.QueryInfoKey(h)[0] > 0)

    def reg_delete_key(self, hive: f.Hive, key: str, view: f.View, *, recursive: bool) -> None:
        import winreg

        with _win("RegDeleteKeyEx"):
            if recursive:
                # RegDeleteTree has no view flag; deleting depth-first through the view does.
                with self._open(hive, key, view, winreg.KEY_READ) as h:
                    children = [winreg.EnumKey(h, i) for i in range(winreg.QueryInfoKey(h)[0])]
                for child in children:
                    self.reg_delete_key(hive, f"{key}\\{child}", view, recursive=True)
            winreg.DeleteKeyEx(getattr(winreg, _HIVES[hive]), key, _view_flag(view), 0)

    def reg_query_value(
        self, hive: f.Hive, key: str, name: str, view: f.View
    ) -> tuple[f.RegData, int]:
        import winreg

        with _win("RegQueryValueEx"), self._open(hive, key, view, winreg.KEY_QUERY_VALUE) as h:
            data, value_type = winreg.QueryValueEx(h, name)
        if data is None:
            # winreg reads an empty REG_BINARY (and REG_NONE) as None.
            data = b""
        return data, int(value_type)

    def reg_set_value(
        self, hive: f.Hive, key: str, name: str, view: f.View, *, value_type: int, data: f.RegData
    ) -> None:
        f.check_reg_data(value_type, data)
        import winreg

        with _win("RegSetValueEx"), self._open(hive, key, view, winreg.KEY_SET_VALUE) as h:
            winreg.SetValueEx(h, name, 0, value_type, data)

    def reg_delete_value(self, hive: f.Hive, key: str, name: str, view: f.View) -> None:
        import winreg

        with _win("RegDeleteValue"), self._open(hive, key, view, winreg.KEY_SET_VALUE) as h:
            winreg.DeleteValue(h, name)

    # --- services -----------------------------------------------------------------------------

    @contextmanager
    def _service(self, name: str, function: str, access: int) -> Iterator[Any]:
        import win32service as ws

        # Each failure names the call that failed: OpenService's 1060 is no query's error.
        with _win("OpenSCManager"):
            scm = ws.OpenSCManager(None, None, _SC_MANAGER_CONNECT)
        try:
            with _win("OpenService"):
                handle = ws.OpenService(scm, name, access)
            try:
                with _win(function):
                    yield handle
            finally:
                ws.CloseServiceHandle(handle)
        finally:
            ws.CloseServiceHandle(scm)

    def service_query(self, name: str) -> tuple[f.ServiceConfig, int]:
        import win32service as ws

        with self._service(name, "QueryServiceConfig", _SERVICE_READ) as h:
            cfg = ws.QueryServiceConfig(h)
            delayed = ws.QueryServiceConfig2(h, ws.SERVICE_CONFIG_DELAYED_AUTO_START_INFO)
            description = ws.QueryServiceConfig2(h, ws.SERVICE_CONFIG_DESCRIPTION)
            status = ws.QueryServiceStatusEx(h)
        config = f.ServiceConfig(
            binary_path=cfg[3],
            start_type=cfg[1],
            delayed_auto_start=bool(delayed),
            display_name=cfg[8],
            account=cfg[7] or "LocalSystem",
            description=description or "",
        )
        # types-pywin32 says SERVICE_STATUS; QueryServiceStatusEx returns a dict (its docs).
        return config, int(status["CurrentState"])  # type: ignore[index, unused-ignore]

    def service_state(self, name: str) -> int:
        import win32service as ws

        with self._service(name, "QueryServiceStatusEx", _SERVICE_QUERY_STATUS) as h:
            status = ws.QueryServiceStatusEx(h)
        return int(status["CurrentState"])  # type: ignore[index, unused-ignore]

    def service_create(self, name: str, config: f.ServiceConfig, password: str | None) -> None:
        import win32service as ws

        with _win("CreateService"):
            scm = ws.OpenSCManager(None, None, _SC_MANAGER_CONNECT | _SC_MANAGER_CREATE_SERVICE)
            try:
                handle = ws.CreateService(
                    scm,
                    name,
                    config.display_name or name,
                    _SERVICE_CHANGE_CONFIG | _SERVICE_QUERY_CONFIG,
                    ws.SERVICE_WIN32_OWN_PROCESS,
                    config.start_type,
                    ws.SERVICE_ERROR_NORMAL,
                    config.binary_path,
                    None,
                    False,
                    None,
                    None if config.account.casefold() == "localsystem" else config.account,
                    password,
                )
                try:
                    if config.delayed_auto_start:
                        ws.ChangeServiceConfig2(
                            handle, ws.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, True
                        )
                    if config.description:
                        ws.ChangeServiceConfig2(
                            handle, ws.SERVICE_CONFIG_DESCRIPTION, config.description
                        )
                finally:
                    ws.CloseServiceHandle(handle)
            finally:
                ws.CloseServiceHandle(scm)

    def service_change(
        self,
        name: str,
        *,
        binary_path: str | None = None,
        start_type: int | None = None,
        delayed_auto_start: bool | None = None,
        display_name: str | None = None,
        description: str | None = None,
        account: str | None = None,
        password: str | None = None,
    ) -> None:
        import win32service as ws

        if account is not None and password is None and _passwordless(account):
            # Built-in, virtual and managed service accounts take an empty password; None
            # would keep the previous account's.
            password = ""
        with self._service(name, "ChangeServiceConfig", _SERVICE_CHANGE_CONFIG) as h:
            if any(v is not None for v in (binary_path, start_type, display_name, account)):
                ws.ChangeServiceConfig(
                    h,
                    ws.SERVICE_NO_CHANGE,
                    ws.SERVICE_NO_CHANGE if start_type is None else start_type,
                    ws.SERVICE_NO_CHANGE,
                    binary_path,
                    None,
                    False,
                    None,
                    account,
                    password,
                    display_name,
                )
            if delayed_auto_start is not None:
                ws.ChangeServiceConfig2(
                    h, ws.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, delayed_auto_start
                )
            if description is not None:
                ws.ChangeServiceConfig2(h, ws.SERVICE_CONFIG_DESCRIPTION, description)

    def service_query_failure_actions(self, name: str) -> f.FailureActions:
        import win32service as ws

        with self._service(name, "QueryServiceConfig2", _SERVICE_QUERY_CONFIG) as h:
            raw = ws.QueryServiceConfig2(h, ws.SERVICE_CONFIG_FAILURE_ACTIONS) or {}
        return f.FailureActions(
            reset_period=int(raw.get("ResetPeriod") or 0),
            command=raw.get("Command") or "",
            actions=tuple((int(t), int(d)) for t, d in raw.get("Actions") or ()),
        )

    def service_set_failure_actions(self, name: str, actions: f.FailureActions) -> None:
        import win32service as ws

        kinds = {kind for kind, _ in actions.actions}
        # A restart action needs SERVICE_START on the handle; a reboot action needs the
        # caller's SeShutdownPrivilege enabled (present in SYSTEM's token, but disabled).
        access = _SERVICE_CHANGE_CONFIG | (_SERVICE_START if f.SC_ACTION_RESTART in kinds else 0)
        if f.SC_ACTION_REBOOT in kinds:
            _enable_privilege(_SE_SHUTDOWN_NAME)
        with self._service(name, "ChangeServiceConfig2", access) as h:
            ws.ChangeServiceConfig2(
                h,
                ws.SERVICE_CONFIG_FAILURE_ACTIONS,
                {
                    "ResetPeriod": actions.reset_period,
                    # None leaves the message as it is; we never set one.
                    "RebootMsg": None,
                    # "" deletes the command, None would leave a removed one in place.
                    "Command": actions.command,
                    "Actions": list(actions.actions),
                },
            )

    def service_start(self, name: str) -> None:
        import win32service as ws

        with self._service(name, "StartService", _SERVICE_START) as h:
            ws.StartService(h, None)

    def service_stop(self, name: str) -> None:
        import win32service as ws

        with self._service(name, "ControlService", _SERVICE_STOP) as h:
            ws.ControlService(h, ws.SERVICE_CONTROL_STOP)

    def service_continue(self, name: str) -> None:
        import win32service as ws

        with self._service(name, "ControlService", _SERVICE_PAUSE_CONTINUE) as h:
            ws.ControlService(h, ws.SERVICE_CONTROL_CONTINUE)

    def service_delete(self, name: str) -> None:
        import win32service as ws

        with self._service(name, "DeleteService", _DELETE) as h:
            ws.DeleteService(h)

    # --- files --------------------------------------------------------------------------------

    def path_kind(self, path: str) -> f.PathKind | None:
        with _win("GetFileAttributes"):
            try:
                is_dir = os.path.isdir(path) if os.path.lexists(path) else None  # noqa: PTH112
            except FileNotFoundError:
                return None
        if is_dir is None:
            return None
        return "directory" if is_dir else "file"

    def file_read(self, path: str) -> bytes:
        with _win("ReadFile"), open(path, "rb") as handle:  # noqa: PTH123 - one Win32 error path
            return handle.read()

    def file_write_atomic(self, path: str, data: bytes) -> None:
        import win32file

        directory = os.path.dirname(path)  # noqa: PTH120
        with _win("CreateFile"):
            fd, temp = tempfile.mkstemp(dir=directory, prefix=".transom-", suffix=".tmp")
        try:
            with _win("WriteFile"), os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            with _win("ReplaceFile"):
                if os.path.exists(path):  # noqa: PTH110
                    # ReplaceFile keeps the replaced file's ACL, attributes and streams.
                    win32file.ReplaceFile(path, temp, None, 0, None, None)
                else:
                    win32file.MoveFileEx(
                        temp,
                        path,
                        win32file.MOVEFILE_REPLACE_EXISTING | win32file.MOVEFILE_WRITE_THROUGH,
                    )
        finally:
            if os.path.exists(temp):  # noqa: PTH110
                os.unlink(temp)  # noqa: PTH108

    def file_delete(self, path: str) -> None:
        with _win("DeleteFile"):
            os.unlink(path)  # noqa: PTH108

    def dir_create(self, path: str) -> None:
        with _win("CreateDirectory"):
            os.makedirs(path, exist_ok=True)  # noqa: PTH103

    def dir_list(self, path: str) -> list[str]:
        with _win("FindFirstFile"):
            return sorted(os.listdir(path))  # noqa: PTH208 - str paths, one Win32 error path

    def dir_remove(self, path: str, *, recursive: bool) -> None:
        with _win("RemoveDirectory"):
            if recursive:
                shutil.rmtree(path)
            else:
                os.rmdir(path)  # noqa: PTH106

    def acl_get(self, path: str) -> list[f.Ace]:
        import win32security as sec

        with _win("GetNamedSecurityInfo"):
            sd = sec.GetNamedSecurityInfo(path, sec.SE_FILE_OBJECT, sec.DACL_SECURITY_INFORMATION)
            dacl = sd.GetSecurityDescriptorDacl()
            out: list[f.Ace] = []
            for ace_type, _, mask, sid in _explicit_aces(sec, dacl):
                rights = next((n for n, bits in _FILE_RIGHTS if mask & bits == bits), None)
                if rights is None:
                    continue
                kind: Literal["Allow", "Deny"] = (
                    "Allow" if ace_type == sec.ACCESS_ALLOWED_ACE_TYPE else "Deny"
                )
                out.append(
                    f.Ace(
                        _account_name(sec, sid), rights, kind, str(sec.ConvertSidToStringSid(sid))
                    )
                )
        return out

    def account_sid(self, name: str) -> str:
        import win32security as sec

        with _win("LookupAccountName"):
            return str(sec.ConvertSidToStringSid(_lookup_sid(sec, name)))

    def acl_add(self, path: str, aces: list[f.Ace]) -> None:
        import win32security as sec

        inherit = _CONTAINER_AND_OBJECT_INHERIT if os.path.isdir(path) else 0  # noqa: PTH112
        with _win("SetNamedSecurityInfo"):
            sd = sec.GetNamedSecurityInfo(path, sec.SE_FILE_OBJECT, sec.DACL_SECURITY_INFORMATION)
            old = sd.GetSecurityDescriptorDacl()
            entries = _explicit_aces(sec, old)
            rights = dict(_FILE_RIGHTS)
            for ace in aces:
                sid = _lookup_sid(sec, ace.sid or ace.identity)
                ace_type = (
                    sec.ACCESS_ALLOWED_ACE_TYPE
                    if ace.type == "Allow"
                    else sec.ACCESS_DENIED_ACE_TYPE
                )
                entries.append((ace_type, inherit, rights[ace.rights], sid))
            # Canonical order: explicit deny before explicit allow; Windows re-adds the
            # inherited entries after them (the DACL stays unprotected).
            dacl = sec.ACL()
            for ace_type, flags, mask, sid in sorted(
                entries, key=lambda e: e[0] != sec.ACCESS_DENIED_ACE_TYPE
            ):
                if ace_type == sec.ACCESS_DENIED_ACE_TYPE:
                    dacl.AddAccessDeniedAceEx(sec.ACL_REVISION_DS, flags, mask, sid)
                else:
                    dacl.AddAccessAllowedAceEx(sec.ACL_REVISION_DS, flags, mask, sid)
            sec.SetNamedSecurityInfo(
                path,
                sec.SE_FILE_OBJECT,
                sec.DACL_SECURITY_INFORMATION | sec.UNPROTECTED_DACL_SECURITY_INFORMATION,
                None,
                None,
                dacl,
                None,
            )

    def dir_create_protected(self, path: str) -> None:
        import win32security as sec

        missing = []
        probe = ntpath.normpath(path)
        while probe and not os.path.isdir(probe):  # noqa: PTH112
            missing.append(probe)
            parent = ntpath.dirname(probe)
            if parent == probe:
                break
            probe = parent
        with _win("CreateDirectory"):
            for directory in reversed(missing):
                os.mkdir(directory)  # noqa: PTH102
                _protect(sec, directory)
            if not missing:
                _protect(sec, path)

    def untrusted_writers(self, path: str) -> list[str]:
        import win32security as sec

        with _win("GetNamedSecurityInfo"):
            sd = sec.GetNamedSecurityInfo(
                path,
                sec.SE_FILE_OBJECT,
                sec.DACL_SECURITY_INFORMATION | sec.OWNER_SECURITY_INFORMATION,
            )
            owner = sd.GetSecurityDescriptorOwner()
            found: list[str] = []
            # The account the agent runs as writes there anyway (a gMSA service; Wine's user).
            trusted = f.TRUSTED_SIDS | {_own_sid(sec)}
            if str(sec.ConvertSidToStringSid(owner)) not in trusted:
                found.append(f"owner {_account_name(sec, owner)}")
            # None for a NULL DACL, which types-pywin32 leaves out.
            dacl: Any = sd.GetSecurityDescriptorDacl()
            if dacl is None:
                # A NULL DACL grants everyone everything.
                return [*found, "Everyone (no DACL)"]
            for i in range(dacl.GetAceCount()):
                ace = dacl.GetAce(i)
                (ace_type, flags), mask, sid = ace[0], ace[1], ace[2]
                if ace_type != sec.ACCESS_ALLOWED_ACE_TYPE or flags & _INHERIT_ONLY_ACE:
                    continue
                if mask & _WRITE_RIGHTS and str(sec.ConvertSidToStringSid(sid)) not in trusted:
                    found.append(_account_name(sec, sid))
        return found

    # --- PowerShell-backed --------------------------------------------------------------------

    def feature_get(self, name: str) -> f.FeatureInfo | None:
        result: f.FeatureInfo | None = self.ps.call("Get-TransomFeature", {"Name": name})
        return result

    def feature_install(
        self, name: str, *, sub_features: bool, management_tools: bool, source: str | None
    ) -> f.InstallResult:
        result: f.InstallResult = self.ps.call(
            "Install-TransomFeature",
            {
                "Name": name,
                "SubFeatures": sub_features,
                "ManagementTools": management_tools,
                "Source": source or "",
            },
        )
        return result

    def feature_uninstall(self, name: str) -> f.InstallResult:
        result: f.InstallResult = self.ps.call("Uninstall-TransomFeature", {"Name": name})
        return result

    def firewall_rule_get(self, name: str) -> f.FirewallRuleInfo | None:
        result: f.FirewallRuleInfo | None = self.ps.call("Get-TransomFirewallRule", {"Name": name})
        return result

    def firewall_rule_set(self, rule: f.FirewallRuleInfo) -> None:
        new, change = firewall_parameters(rule)
        self.ps.call("Set-TransomFirewallRule", {"Name": rule["name"], "New": new, "Set": change})

    def firewall_rule_remove(self, name: str) -> None:
        self.ps.call("Remove-NetFirewallRule", {"Name": name})

    def task_get(self, path: str, name: str) -> f.TaskInfo | None:
        result: f.TaskInfo | None = self.ps.call("Get-TransomTask", {"Path": path, "Name": name})
        return result

    def task_register(self, task: f.TaskInfo) -> None:
        self.ps.call("Register-TransomTask", {"Task": dict(task)})

    def task_unregister(self, path: str, name: str) -> None:
        self.ps.call(
            "Unregister-ScheduledTask", {"TaskPath": path, "TaskName": name, "Confirm": False}
        )

    def app_pool_get(self, name: str) -> f.AppPoolInfo | None:
        result: f.AppPoolInfo | None = self.ps.call("Get-TransomAppPool", {"Name": name})
        return result

    def app_pool_set(self, pool: f.AppPoolInfo, password: str | None) -> None:
        self.ps.call("Set-TransomAppPool", {"Pool": dict(pool), "Password": password or ""})

    def app_pool_remove(self, name: str) -> None:
        self.ps.call("Remove-WebAppPool", {"Name": name})

    def site_get(self, name: str) -> f.SiteInfo | None:
        result: f.SiteInfo | None = self.ps.call("Get-TransomSite", {"Name": name})
        return result

    def site_set(self, site: f.SiteInfo) -> None:
        self.ps.call("Set-TransomSite", {"Site": dict(site)})

    def site_remove(self, name: str) -> None:
        self.ps.call("Remove-Website", {"Name": name})

    def dsc_invoke(
        self,
        method: Literal["Get", "Test", "Set"],
        module: str,
        version: str | None,
        name: str,
        properties: dict[str, Any],
    ) -> f.DscResult:
        result: f.DscResult = self.ps.call(
            "Invoke-TransomDsc",
            {
                "Method": method,
                "Module": module,
                "Version": version or "",
                "Name": name,
                "Properties": properties,
            },
        )
        return result

    def run_command(
        self,
        script: str,
        *,
        working_directory: str | None,
        environment: dict[str, str],
        timeout: float,
    ) -> f.CommandResult:
        try:
            done = run_tracked(
                encoded_command(self._script_prefix, command_script()),
                f"script {script[:80]!r}",
                input=base64.b64encode(script.encode("utf-8")).decode("ascii"),
                encoding="utf-8",
                errors="replace",
                cwd=working_directory or None,
                env={**os.environ, **environment},
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise WindowsApiError(
                f.WAIT_TIMEOUT, "powershell", f"script timed out after {timeout:g} s"
            ) from None
        except OSError as exc:
            code = getattr(exc, "winerror", None) or exc.errno or f.E_FAIL
            raise WindowsApiError(code, "CreateProcess", str(exc)) from exc
        output = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip())
        return {"exitCode": done.returncode, "output": output}

    # --- MSI ----------------------------------------------------------------------------------

    def msi_product_state(self, product_code: str) -> int:
        msi = ctypes.WinDLL("msi")  # type: ignore[attr-defined,unused-ignore]
        msi.MsiQueryProductStateW.restype = ctypes.c_int
        msi.MsiQueryProductStateW.argtypes = [ctypes.c_wchar_p]
        return int(msi.MsiQueryProductStateW(product_code))

    def msi_install(
        self, package: str, arguments: list[str], log_path: str, *, sha256: str | None = None
    ) -> int:
        command = ["/i", package, "/qn", "/norestart", "/l*v", log_path, *arguments]
        if sha256 is None:
            return _msiexec(command)
        with _verified_handle(package, sha256):
            return _msiexec(command)

    def msi_uninstall(self, product_code: str, log_path: str) -> int:
        return _msiexec(["/x", product_code, "/qn", "/norestart", "/l*v", log_path])

    # --- event log ----------------------------------------------------------------------------

    def event_log_read(self, log: str, since: float) -> list[f.EventRecord]:
        import win32evtlog

        flags = win32evtlog.EVENTLOG_BACKWARDS_READ | win32evtlog.EVENTLOG_SEQUENTIAL_READ
        found: list[f.EventRecord] = []
        with _win("OpenEventLog"):
            handle = win32evtlog.OpenEventLog(None, log)
        try:
            while True:
                with _win("ReadEventLog"):
                    batch = win32evtlog.ReadEventLog(handle, flags, 0)
                if not batch:
                    return found
                for record in batch:
                    # TimeGenerated is a pywintypes datetime; records are newest first.
                    when = record.TimeGenerated.timestamp()
                    if when < since:
                        return found
                    found.append(
                        f.EventRecord(
                            source=str(record.SourceName),
                            event_type=int(record.EventType),
                            event_id=int(record.EventID) & 0xFFFF,
                            time=when,
                            message=" ".join(str(s) for s in record.StringInserts or ()),
                        )
                    )
        finally:
            win32evtlog.CloseEventLog(handle)

    # --- system -------------------------------------------------------------------------------

    def broadcast_environment_change(self) -> None:
        user32 = ctypes.WinDLL("user32")  # type: ignore[attr-defined,unused-ignore]
        result = ctypes.c_size_t()
        hwnd_broadcast, wm_settingchange, smto_abortifhung = 0xFFFF, 0x001A, 0x0002
        user32.SendMessageTimeoutW(
            hwnd_broadcast,
            wm_settingchange,
            0,
            "Environment",
            smto_abortifhung,
            5000,
            ctypes.byref(result),
        )

    def staging_dir(self) -> str:
        self.dir_create_protected(self._staging_dir)
        return self._staging_dir

    def boot_id(self) -> str:
        # Win32_OperatingSystem.LastBootUpTime: documented for every SKU, kept by the kernel
        # across clock changes. PrefetchParameters\BootId is the prefetcher's, which Server
        # SKUs do not run by default.
        from win32com import client

        with _win("Win32_OperatingSystem"):
            wmi = client.GetObject("winmgmts:{impersonationLevel=impersonate}!\\\\.\\root\\cimv2")
            for os_info in wmi.ExecQuery("SELECT LastBootUpTime FROM Win32_OperatingSystem"):
                # Through Properties_: the late-bound attribute is not implemented everywhere
                # (Wine's WMI).
                boot = os_info.Properties_("LastBootUpTime").Value
                return str(boot).split(".", 1)[0]
        raise WindowsApiError(f.ERROR_FILE_NOT_FOUND, "Win32_OperatingSystem", "no instance")

    def reboot(self, reason: str) -> None:
        # /d p:2:4: planned, Operating System: Reconfiguration. A minute's grace lets the
        # agent report before it goes down.
        done = subprocess.run(
            [shutdown_exe(), "/r", "/t", "60", "/d", "p:2:4", "/c", reason[:512]],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise WindowsApiError(done.returncode, "shutdown", done.stderr.strip())

    # --- notifications ------------------------------------------------------------------------

    def subscribe_directory(self, path: str, *, subtree: bool = False) -> f.Subscription:
        return _DirectorySubscription(path, subtree)

    def subscribe_registry(self, hive: f.Hive, key: str, view: f.View) -> f.Subscription:
        return _RegistrySubscription(hive, key, view)

    def subscribe_service(self, name: str) -> f.Subscription:
        return _ServiceSubscription(name)


def _explicit_aces(sec: Any, dacl: Any) -> list[tuple[int, int, int, Any]]:
    """(type, flags, mask, sid) of a DACL's explicit allow and deny entries. Object and
    callback entries (other tuple shapes) are not file-system rights we manage: skipped."""
    out = []
    for i in range(dacl.GetAceCount() if dacl is not None else 0):
        ace = dacl.GetAce(i)
        ace_type, flags = ace[0]
        if flags & _INHERITED_ACE or ace_type not in (
            sec.ACCESS_ALLOWED_ACE_TYPE,
            sec.ACCESS_DENIED_ACE_TYPE,
        ):
            continue
        out.append((ace_type, flags, ace[1], ace[2]))
    return out


def _own_sid(sec: Any) -> str:
    """The SID of the account this process runs as."""
    import win32api

    token = sec.OpenProcessToken(win32api.GetCurrentProcess(), sec.TOKEN_QUERY)
    return str(sec.ConvertSidToStringSid(sec.GetTokenInformation(token, sec.TokenUser)[0]))


def _account_name(sec: Any, sid: Any) -> str:
    """DOMAIN\\name, or the SID string for an account that no longer resolves."""
    try:
        name, domain, _ = sec.LookupAccountSid(None, sid)
    except Exception:  # pywintypes.error: ERROR_NONE_MAPPED for a deleted account
        return str(sec.ConvertSidToStringSid(sid))
    return f"{domain}\\{name}" if domain else str(name)


#: FirewallRuleInfo wire names -> NetSecurity cmdlet parameters.
_FIREWALL_PARAMETERS = {
    "displayName": "DisplayName",
    "direction": "Direction",
    "action": "Action",
    "protocol": "Protocol",
    "localPorts": "LocalPort",
    "remoteAddresses": "RemoteAddress",
    "program": "Program",
    "profiles": "Profile",
    "enabled": "Enabled",
}


def firewall_parameters(rule: f.FirewallRuleInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parameters for New-NetFirewallRule (a missing rule) and Set-NetFirewallRule -Name (an
    existing one). Set's -DisplayName belongs to another parameter set (select by display
    name) and collides with -Name: a rename is -NewDisplayName."""
    new: dict[str, Any] = {}
    for wire, value in rule.items():
        if wire == "name":
            continue
        if wire == "profiles":
            new["Profile"] = ",".join(value)  # type: ignore[arg-type]
        elif wire == "enabled":
            new["Enabled"] = "True" if value else "False"
        else:
            new[_FIREWALL_PARAMETERS[wire]] = value
    change = {("NewDisplayName" if k == "DisplayName" else k): v for k, v in new.items()}
    new.setdefault("DisplayName", rule["name"])
    return new, change


def default_staging_dir() -> str:
    """%ProgramData%\\Transom\\staging: downloads and msiexec logs, SYSTEM and Administrators
    only (never the shared temp folder, where a user could plant or swap a package)."""
    return ntpath.join(os.environ.get("PROGRAMDATA", "C:\\ProgramData"), "Transom", "staging")


def _enable_privilege(name: str) -> None:
    """Enable a privilege the process token holds (AdjustTokenPrivileges)."""
    import win32api as api
    import win32security as sec

    with _win("AdjustTokenPrivileges"):
        token = sec.OpenProcessToken(
            api.GetCurrentProcess(), _TOKEN_ADJUST_PRIVILEGES | _TOKEN_QUERY
        )
        try:
            # types-pywin32: the system name may be None (this computer), and a
            # PyTOKEN_PRIVILEGES is given as a sequence of (LUID, attributes) tuples.
            luid = sec.LookupPrivilegeValue(None, name)  # type: ignore[arg-type, unused-ignore]
            privileges = [(luid, _SE_PRIVILEGE_ENABLED)]
            sec.AdjustTokenPrivileges(token, False, privileges)  # type: ignore[arg-type, unused-ignore]
            # It succeeds without enabling a privilege the token lacks; only this tells.
            if api.GetLastError() == _ERROR_NOT_ALL_ASSIGNED:
                raise WindowsApiError(
                    _ERROR_NOT_ALL_ASSIGNED, "AdjustTokenPrivileges", f"the account lacks {name}"
                )
        finally:
            api.CloseHandle(token)


@contextmanager
def _verified_handle(path: str, sha256: str) -> Iterator[None]:
    """Hold ``path`` open for reading with read sharing only (nobody can write, rename or
    delete it meanwhile) after checking its digest through that same handle."""
    import win32file

    with _win("CreateFile"):
        handle = win32file.CreateFile(
            path, _GENERIC_READ, _FILE_SHARE_READ, None, _OPEN_EXISTING, 0, None
        )
    try:
        digest = hashlib.sha256()
        # types-pywin32 types the handle as int (see below).
        with _win("ReadFile"):
            while True:
                _, chunk = win32file.ReadFile(handle, 1 << 20)  # type: ignore[call-overload, unused-ignore]
                if not chunk:
                    break
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise WindowsApiError(
                f.ERROR_INVALID_DATA,
                "ReadFile",
                f"{path} has sha256 {digest.hexdigest()}, expected {sha256}",
            )
        yield
    finally:
        handle.Close()


def _lookup_sid(sec: Any, name: str) -> Any:
    """LookupAccountName, plus the spellings it does not take itself: a SID string and
    ``.\\user`` (this computer's account)."""
    if name.upper().startswith("S-1-"):
        return sec.ConvertStringSidToSid(name)
    if name.startswith(".\\"):
        import win32api

        name = f"{win32api.GetComputerName()}{name[1:]}"
    return sec.LookupAccountName(None, name)[0]


def _protect(sec: Any, path: str) -> None:
    """Owner Administrators; a protected DACL (nothing inherited from ProgramData, where
    Users may create files): SYSTEM and Administrators full control, inherited below."""
    system = sec.ConvertStringSidToSid(f.SID_SYSTEM)
    admins = sec.ConvertStringSidToSid(f.SID_ADMINISTRATORS)
    dacl = sec.ACL()
    for sid in (system, admins):
        dacl.AddAccessAllowedAceEx(
            sec.ACL_REVISION_DS, _CONTAINER_AND_OBJECT_INHERIT, _FILE_RIGHTS[0][1], sid
        )
    sec.SetNamedSecurityInfo(
        path,
        sec.SE_FILE_OBJECT,
        sec.DACL_SECURITY_INFORMATION
        | sec.PROTECTED_DACL_SECURITY_INFORMATION
        | sec.OWNER_SECURITY_INFORMATION,
        admins,
        None,
        dacl,
        None,
    )


def _passwordless(account: str) -> bool:
    name = account.casefold()
    return (
        name in ("localsystem", ".\\localsystem")
        or name.startswith(("nt authority\\", "nt service\\"))
        or name.endswith("$")
    )


def _msi_arg(arg: str) -> str:
    """msiexec parses PROPERTY="value" itself, not C runtime quoting."""
    if "=" in arg and not arg.startswith("/"):
        prop, value = arg.split("=", 1)
        return f'{prop}="{value}"' if (" " in value and not value.startswith('"')) else arg
    return subprocess.list2cmdline([arg])


def _msiexec(args: list[str]) -> int:
    command = subprocess.list2cmdline([msiexec_exe()]) + " " + " ".join(_msi_arg(a) for a in args)
    # A string command line reaches msiexec unchanged on Windows.
    return run_tracked(command, f"msiexec {' '.join(args[:2])}").returncode


# --- change notifications ---------------------------------------------------------------------

# Local overrides of types-pywin32 (the "type: ignore"s below): it types file handles as int,
# where pywin32 takes the PyHANDLE CreateFile returns; FILE_NOTIFY_INFORMATION's buffer as str,
# where it is the read buffer; RegOpenKeyEx as (key, subKey, sam, reserved), where pywin32
# takes (key, subKey, reserved, sam); and PyHKEY.Close as untyped.
_FILE_LIST_DIRECTORY = 0x0001
_GENERIC_READ = 0x8000_0000
_FILE_SHARE_READ = 0x1
_SHARE_ALL = 0x7
_OPEN_EXISTING = 3
_FILE_FLAG_BACKUP_SEMANTICS = 0x0200_0000
_FILE_FLAG_OVERLAPPED = 0x4000_0000
# FILE_NOTIFY_CHANGE_ FILE_NAME | DIR_NAME | ATTRIBUTES | SIZE | LAST_WRITE | SECURITY
_DIRECTORY_FILTER = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x100
# REG_NOTIFY_CHANGE_ NAME | LAST_SET
_REGISTRY_FILTER = 0x1 | 0x4
_WAIT_OBJECT_0 = 0
_ERROR_OPERATION_ABORTED = 995
_WAIT_IO_COMPLETION = 0xC0


class _DirectorySubscription:
    """ReadDirectoryChangesW, overlapped so wait() can time out."""

    def __init__(self, path: str, subtree: bool) -> None:
        import pywintypes
        import win32event
        import win32file

        self._subtree = subtree
        with _win("CreateFile"):
            self._handle = win32file.CreateFile(
                path,
                _FILE_LIST_DIRECTORY,
                _SHARE_ALL,
                None,
                _OPEN_EXISTING,
                _FILE_FLAG_BACKUP_SEMANTICS | _FILE_FLAG_OVERLAPPED,
                None,
            )
        self._overlapped = pywintypes.OVERLAPPED()
        self._overlapped.hEvent = win32event.CreateEvent(None, True, False, None)
        self._buffer = win32file.AllocateReadBuffer(64 * 1024)
        self._arm()

    def _arm(self) -> None:
        import win32file

        with _win("ReadDirectoryChangesW"):
            win32file.ReadDirectoryChangesW(
                self._handle,  # type: ignore[arg-type, unused-ignore]
                self._buffer,
                self._subtree,
                _DIRECTORY_FILTER,
                self._overlapped,
            )

    def wait(self, timeout: float) -> frozenset[str] | None:
        import win32event
        import win32file

        with _win("WaitForSingleObject"):
            if win32event.WaitForSingleObject(self._overlapped.hEvent, int(timeout * 1000)) != (
                _WAIT_OBJECT_0
            ):
                return None
            size = win32file.GetOverlappedResult(self._handle, self._overlapped, True)  # type: ignore[arg-type, unused-ignore]
            # Zero bytes: the buffer overflowed and the OS dropped the details; rescan.
            names = (
                frozenset(
                    name.rsplit("\\", 1)[-1].lower()
                    for _, name in win32file.FILE_NOTIFY_INFORMATION(self._buffer, size)  # type: ignore[arg-type, unused-ignore]
                )
                if size
                else frozenset()
            )
            win32event.ResetEvent(self._overlapped.hEvent)
        self._arm()
        return names

    def close(self) -> None:
        import win32file

        with _win("CloseHandle"):
            win32file.CancelIo(self._handle)  # type: ignore[arg-type, unused-ignore]
            # The kernel writes into the buffer until the cancelled read completes: wait for
            # it (ERROR_OPERATION_ABORTED) before the handle and the buffer go.
            try:
                win32file.GetOverlappedResult(self._handle, self._overlapped, True)  # type: ignore[arg-type, unused-ignore]
            except Exception as exc:  # pywintypes.error
                if getattr(exc, "winerror", None) != _ERROR_OPERATION_ABORTED:
                    raise
            self._handle.Close()


class _RegistrySubscription:
    """RegNotifyChangeKeyValue: asynchronous, fires once, so re-armed after each event."""

    def __init__(self, hive: f.Hive, key: str, view: f.View) -> None:
        import win32api
        import win32con
        import win32event

        with _win("RegOpenKeyEx"):
            self._key = win32api.RegOpenKeyEx(
                getattr(win32con, _HIVES[hive]),
                key,
                0,
                _KEY_NOTIFY | _view_flag(view),  # type: ignore[arg-type, unused-ignore]
            )
        self._event = win32event.CreateEvent(None, False, False, None)
        self._arm()

    def _arm(self) -> None:
        import win32api

        with _win("RegNotifyChangeKeyValue"):
            win32api.RegNotifyChangeKeyValue(self._key, False, _REGISTRY_FILTER, self._event, True)

    def wait(self, timeout: float) -> frozenset[str] | None:
        import win32event

        with _win("WaitForSingleObject"):
            fired = win32event.WaitForSingleObject(self._event, int(timeout * 1000))
        if fired != _WAIT_OBJECT_0:
            return None
        self._arm()
        return frozenset()

    def close(self) -> None:
        with _win("RegCloseKey"):
            self._key.Close()  # type: ignore[no-untyped-call, unused-ignore]


class _ServiceNotify(ctypes.Structure):
    """SERVICE_NOTIFYW with its SERVICE_STATUS_PROCESS inlined (winsvc.h)."""

    _fields_ = [
        ("dwVersion", ctypes.c_uint32),
        ("pfnNotifyCallback", ctypes.c_void_p),
        ("pContext", ctypes.c_void_p),
        ("dwNotificationStatus", ctypes.c_uint32),
        ("dwServiceType", ctypes.c_uint32),
        ("dwCurrentState", ctypes.c_uint32),
        ("dwControlsAccepted", ctypes.c_uint32),
        ("dwWin32ExitCode", ctypes.c_uint32),
        ("dwServiceSpecificExitCode", ctypes.c_uint32),
        ("dwCheckPoint", ctypes.c_uint32),
        ("dwWaitHint", ctypes.c_uint32),
        ("dwProcessId", ctypes.c_uint32),
        ("dwServiceFlags", ctypes.c_uint32),
        ("dwNotificationTriggered", ctypes.c_uint32),
        ("pszServiceNames", ctypes.c_wchar_p),
    ]


_SERVICE_NOTIFY_STATUS_CHANGE = 2
# SERVICE_NOTIFY_ STOPPED | START_PENDING | STOP_PENDING | RUNNING | CONTINUE_PENDING |
# PAUSE_PENDING | PAUSED | DELETE_PENDING
_SERVICE_NOTIFY_MASK = 0x7F | 0x200
_SC_MANAGER_CONNECT = 0x0001
_SERVICE_QUERY_STATUS = 0x0004


class _ServiceSubscription:
    """NotifyServiceStatusChangeW (not in pywin32): the callback is an APC, delivered to the
    registering thread during an alertable wait, so arming and waiting both happen in wait()."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._advapi = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._kernel = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._advapi.OpenSCManagerW.restype = ctypes.c_void_p
        self._advapi.OpenServiceW.restype = ctypes.c_void_p
        self._advapi.OpenServiceW.argtypes = [ctypes.c_void_p, ctypes.c_wchar_p, ctypes.c_uint32]
        self._advapi.NotifyServiceStatusChangeW.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.POINTER(_ServiceNotify),
        ]
        self._advapi.CloseServiceHandle.argtypes = [ctypes.c_void_p]
        self._scm = self._advapi.OpenSCManagerW(None, None, _SC_MANAGER_CONNECT)
        self._service = self._advapi.OpenServiceW(self._scm, name, _SERVICE_QUERY_STATUS)
        if not self._service:
            code = ctypes.get_last_error()  # type: ignore[attr-defined,unused-ignore]
            self._advapi.CloseServiceHandle(self._scm)
            raise WindowsApiError(code, "OpenService", f"cannot watch service {name}")
        self._fired = threading.Event()
        callback_type = ctypes.WINFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[attr-defined,unused-ignore]
        # Kept on self: the OS calls it later, so it must outlive this frame.
        self._callback = callback_type(lambda _param: self._fired.set())
        self._notify = _ServiceNotify()
        self._armed = False

    def _arm(self) -> None:
        self._notify.dwVersion = _SERVICE_NOTIFY_STATUS_CHANGE
        self._notify.pfnNotifyCallback = ctypes.cast(self._callback, ctypes.c_void_p).value
        code = self._advapi.NotifyServiceStatusChangeW(
            self._service, _SERVICE_NOTIFY_MASK, ctypes.byref(self._notify)
        )
        if code != 0:
            raise WindowsApiError(code, "NotifyServiceStatusChange", f"service {self._name}")
        self._armed = True

    def wait(self, timeout: float) -> frozenset[str] | None:
        if not self._armed:
            self._arm()
        self._kernel.SleepEx(int(timeout * 1000), True)
        if not self._fired.is_set():
            return None
        self._fired.clear()
        self._armed = False
        return frozenset()

    def close(self) -> None:
        # Closing the handle cancels a pending notification.
        self._advapi.CloseServiceHandle(self._service)
        self._advapi.CloseServiceHandle(self._scm)
