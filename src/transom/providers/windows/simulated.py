"""An in-memory Windows behind the facade, keeping the real APIs' semantics.

What it enforces, because providers must cope with it on a real host: registry value types and
ranges, what winreg reads back (REG_SZ stops at NUL, REG_MULTI_SZ at the first empty string),
case-insensitive names, WOW64 redirection of HKLM\\SOFTWARE in the 32-bit view, service state
transitions through StartPending/StopPending, Disabled and marked-for-delete services, access
denied on protected keys and paths, MSI exit codes, reboot-required results, and change
notifications. Errors are ``WindowsApiError`` with the code the real call returns.

Where a kinder simulation once hid a bug, it is now as strict as Windows: accounts resolve as
LookupAccountName does and read back as LookupAccountSid spells them (BUILTIN\\Administrators),
with SIDs; directories inherit their parent's ACL unless protected (ProgramData lets Users
create files); a service with running dependents refuses to stop (1051) and a paused one is
neither running nor stopped; files another process holds open refuse replacement (32) and
read-only files refuse it (5); paths of MAX_PATH and more fail without the long-path opt-in
(206); keys directly under HKLM and HKU are refused (5); script exit codes are unsigned 32-bit
numbers, as GetExitCodeProcess reports them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from transom.providers.windows import facade as f
from transom.providers.windows.facade import WindowsApiError

_WOW = "wow6432node"
#: MAX_PATH counts the terminating NUL: 259 characters is the longest path without the opt-in.
_MAX_PATH = 260
COMPUTER_NAME = "WIN-SIM"
#: SID -> (domain, name) as LookupAccountSid returns them on Server 2016.
WELL_KNOWN_ACCOUNTS = {
    f.SID_SYSTEM: ("NT AUTHORITY", "SYSTEM"),
    f.SID_ADMINISTRATORS: ("BUILTIN", "Administrators"),
    "S-1-5-32-545": ("BUILTIN", "Users"),
    "S-1-5-32-568": ("BUILTIN", "IIS_IUSRS"),
    "S-1-1-0": ("", "Everyone"),
    "S-1-3-0": ("", "CREATOR OWNER"),
    "S-1-5-11": ("NT AUTHORITY", "Authenticated Users"),
    "S-1-5-19": ("NT AUTHORITY", "LOCAL SERVICE"),
    "S-1-5-20": ("NT AUTHORITY", "NETWORK SERVICE"),
    f.SID_TRUSTED_INSTALLER: ("NT SERVICE", "TrustedInstaller"),
}
SID_USERS = "S-1-5-32-545"


def _norm_path(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").lower()


def _prefixes(path: str) -> list[str]:
    parts = path.split("\\")
    return ["\\".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _parent(path: str) -> str:
    return path.rsplit("\\", 1)[0] if "\\" in path else ""


@dataclass
class _Key:
    values: dict[str, tuple[str, int, f.RegData]] = field(default_factory=dict)


@dataclass
class _Service:
    name: str
    config: f.ServiceConfig
    state: int = f.SERVICE_STOPPED
    #: Queries left before a pending state settles.
    pending: int = 0
    marked_for_delete: bool = False
    failure_actions: f.FailureActions = field(default_factory=f.FailureActions)
    password: str | None = None
    #: A service whose process exits at once: StartPending falls back to Stopped.
    crashes: bool = False
    depends_on: tuple[str, ...] = ()


@dataclass
class _Entry:
    kind: f.PathKind
    data: bytes = b""
    aces: list[f.Ace] = field(default_factory=list)
    #: SID of the owner: whoever created it (the agent, as SYSTEM, makes Administrators owner).
    owner: str = f.SID_ADMINISTRATORS
    #: False for a protected DACL: nothing inherited from the parent.
    inherits: bool = True
    readonly: bool = False


@dataclass
class SimPackage:
    """What msiexec does with one .msi: which product it installs and the exit code."""

    product_code: str
    exit_code: int = 0


class _Sub:
    def __init__(self, owner: SimulatedFacade, key: tuple[str, str]) -> None:
        self._owner = owner
        self.key = key
        self._cond = threading.Condition()
        self._names: set[str] | None = None

    def signal(self, name: str | None) -> None:
        with self._cond:
            if self._names is None:
                self._names = set()
            if name is not None:
                self._names.add(name.lower())
            self._cond.notify_all()

    def wait(self, timeout: float) -> frozenset[str] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._names is not None, timeout)
            names, self._names = self._names, None
        return None if names is None else frozenset(names)

    def close(self) -> None:
        self._owner._unsubscribe(self)


class SimulatedFacade:
    """A Windows Server 2016 host in memory. Configure it through its attributes and the
    ``add_*``/``protect`` helpers; tests may also change state out of band through the facade
    calls themselves, as an administrator would."""

    def __init__(self, *, pending_polls: int = 1) -> None:
        self._lock = threading.RLock()
        self._keys: dict[str, _Key] = {}
        for root in (
            "hklm\\software",
            "hklm\\system",
            "hku",
            "hkcr",
            "hkcc",
            f"hklm\\software\\{_WOW}",
        ):
            self._keys[root] = _Key()
        self._keys["hklm"] = _Key()
        # Keys every Windows installation has and providers rely on.
        for key in (
            "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment",
            "SYSTEM\\CurrentControlSet\\Services",
        ):
            self._keys.update({k: _Key() for k in _prefixes(f"hklm\\{key.lower()}")})
        self._services: dict[str, _Service] = {}
        #: Event logs by lowercase name; records oldest first.
        self._event_logs: dict[str, list[f.EventRecord]] = {"application": [], "system": []}
        self._files: dict[str, _Entry] = {}
        # ProgramData as Windows ships it: Users may create files and folders in it and below.
        self._files["c:\\programdata"] = _Entry(
            "directory",
            aces=[
                f.Ace("NT AUTHORITY\\SYSTEM", "FullControl", sid=f.SID_SYSTEM),
                f.Ace("BUILTIN\\Administrators", "FullControl", sid=f.SID_ADMINISTRATORS),
                f.Ace("BUILTIN\\Users", "ReadAndExecute", sid=SID_USERS),
                f.Ace("BUILTIN\\Users", "Write", sid=SID_USERS),
            ],
            owner=f.SID_SYSTEM,
            inherits=False,
        )
        #: SID -> (domain, name); add local or domain accounts with ``add_account``.
        self.accounts: dict[str, tuple[str, str]] = dict(WELL_KNOWN_ACCOUNTS)
        self.upns: dict[str, str] = {}
        #: Path -> how many more opens fail with a sharing violation (None: until released).
        self.held_open: dict[str, int | None] = {}
        #: The LongPathsEnabled opt-in (off on Server 2016 unless a policy sets it).
        self.long_paths = False
        self.staging = "C:\\ProgramData\\Transom\\staging"
        self.pending_polls = pending_polls
        self.protected: set[str] = set()
        #: lowercase name -> (name, installed, sub-feature names, whether a change needs a restart).
        self.features: dict[str, tuple[str, bool, list[str], bool]] = {}
        self.firewall: dict[str, f.FirewallRuleInfo] = {}
        self.tasks: dict[str, f.TaskInfo] = {}
        self.app_pools: dict[str, f.AppPoolInfo] = {}
        self.app_pool_passwords: dict[str, str] = {}
        self.sites: dict[str, f.SiteInfo] = {}
        self.dsc_resources: dict[str, Callable[[str, dict[str, Any]], f.DscResult]] = {}
        #: Script text -> what running it does (Command resources).
        self.scripts: dict[str, Callable[[dict[str, Any]], f.CommandResult]] = {}
        self.packages: dict[str, SimPackage] = {}
        self.products: set[str] = set()
        self.msi_busy = False
        self.reboot_pending = False
        self.boots = 1
        self.reboot_reasons: list[str] = []
        self.environment_broadcasts = 0
        self._subs: dict[tuple[str, str], list[_Sub]] = {}

    # --- configuration helpers ----------------------------------------------------------------

    def protect(self, path: str) -> None:
        """Deny access (ERROR_ACCESS_DENIED) to a registry key (HKLM\\...) or a path, and
        everything below it."""
        self.protected.add(_norm_path(path))

    def add_feature(
        self,
        name: str,
        *,
        installed: bool = False,
        sub_features: list[str] | None = None,
        restart: bool = False,
    ) -> None:
        self.features[name.lower()] = (name, installed, sub_features or [], restart)
        for sub in sub_features or []:
            self.features.setdefault(sub.lower(), (sub, False, [], False))

    def add_service(
        self,
        name: str,
        config: f.ServiceConfig,
        *,
        running: bool = False,
        crashes: bool = False,
        depends_on: tuple[str, ...] = (),
    ) -> None:
        self._services[name.lower()] = _Service(
            name,
            config,
            f.SERVICE_RUNNING if running else f.SERVICE_STOPPED,
            crashes=crashes,
            depends_on=depends_on,
        )

    def service_password(self, name: str) -> str | None:
        return self._service(name).password

    def add_account(self, account: str, *, upn: str | None = None) -> str:
        """A local (COMPUTER\\name) or domain account; its new SID."""
        domain, _, name = account.rpartition("\\")
        sid = f"S-1-5-21-1004336348-1177238915-682003330-{1000 + len(self.accounts)}"
        self.accounts[sid] = (domain or COMPUTER_NAME, name)
        if upn:
            self.upns[upn.lower()] = sid
        return sid

    def hold_open(self, path: str, attempts: int | None = None) -> None:
        """Another process (antivirus, backup) has the file open without delete sharing:
        the next ``attempts`` replacements or deletions fail (None: until released)."""
        self.held_open[_norm_path(path)] = attempts

    def set_readonly(self, path: str, readonly: bool = True) -> None:
        with self._lock:
            self._file(path, "SetFileAttributes").readonly = readonly

    def pause_service(self, name: str) -> None:
        with self._lock:
            self._set_state(self._service(name), f.SERVICE_PAUSED)

    # --- internals ----------------------------------------------------------------------------

    def _check_access(self, canonical: str, function: str) -> None:
        for p in self.protected:
            if canonical == p or canonical.startswith(p + "\\"):
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, function, "Access is denied.")

    def _notify(self, kind: str, target: str, name: str | None) -> None:
        for sub in list(self._subs.get((kind, target), [])):
            sub.signal(name)
        if kind == "directory":
            # Subtree watches of this directory and every ancestor see the change too.
            ancestor = target
            while ancestor:
                for sub in list(self._subs.get(("tree", ancestor), [])):
                    sub.signal(None)
                ancestor = _parent(ancestor)

    def _subscribe(self, kind: str, target: str) -> _Sub:
        sub = _Sub(self, (kind, target))
        with self._lock:
            self._subs.setdefault((kind, target), []).append(sub)
        return sub

    def _unsubscribe(self, sub: _Sub) -> None:
        with self._lock:
            subs = self._subs.get(sub.key, [])
            if sub in subs:
                subs.remove(sub)

    # --- registry -----------------------------------------------------------------------------

    @staticmethod
    def _key_path(hive: f.Hive, key: str, view: f.View) -> str:
        path = f"{hive}\\{key}".rstrip("\\").lower()
        software = "hklm\\software"
        if view == 32 and (path == software or path.startswith(software + "\\")):
            rest = path[len(software) :]
            if not rest.startswith(f"\\{_WOW}"):
                path = f"{software}\\{_WOW}{rest}"
        return path

    def _open(self, hive: f.Hive, key: str, view: f.View, function: str) -> tuple[str, _Key]:
        path = self._key_path(hive, key, view)
        self._check_access(path, function)
        node = self._keys.get(path)
        if node is None:
            raise WindowsApiError(
                f.ERROR_FILE_NOT_FOUND, function, "The system cannot find the file specified."
            )
        return path, node

    def reg_key_exists(self, hive: f.Hive, key: str, view: f.View) -> bool:
        with self._lock:
            path = self._key_path(hive, key, view)
            self._check_access(path, "RegOpenKeyEx")
            return path in self._keys

    def reg_create_key(self, hive: f.Hive, key: str, view: f.View) -> None:
        with self._lock:
            path = self._key_path(hive, key, view)
            self._check_access(path, "RegCreateKeyEx")
            parts = path.split("\\")
            if (
                parts[0] in ("hklm", "hku")
                and len(parts) > 1
                and parts[0] + "\\" + parts[1] not in (self._keys)
            ):
                # HKLM and HKU hold only the hives Windows loads: no new key directly below.
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, "RegCreateKeyEx", "Access is denied.")
            for i in range(1, len(parts) + 1):
                sub = "\\".join(parts[:i])
                if sub not in self._keys:
                    self._keys[sub] = _Key()
                    self._notify("registry", _parent(sub), None)

    def reg_has_subkeys(self, hive: f.Hive, key: str, view: f.View) -> bool:
        with self._lock:
            path, _ = self._open(hive, key, view, "RegQueryInfoKey")
            return any(k.startswith(path + "\\") for k in self._keys)

    def reg_delete_key(self, hive: f.Hive, key: str, view: f.View, *, recursive: bool) -> None:
        with self._lock:
            function = "RegDeleteTree" if recursive else "RegDeleteKeyEx"
            path, _ = self._open(hive, key, view, function)
            below = [k for k in self._keys if k.startswith(path + "\\")]
            if below and not recursive:
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, function, "Access is denied.")
            for k in [*below, path]:
                del self._keys[k]
            self._notify("registry", _parent(path), None)
            self._notify("registry", path, None)

    def reg_query_value(
        self, hive: f.Hive, key: str, name: str, view: f.View
    ) -> tuple[f.RegData, int]:
        with self._lock:
            _, node = self._open(hive, key, view, "RegQueryValueEx")
            found = node.values.get(name.lower())
            if found is None:
                raise WindowsApiError(
                    f.ERROR_FILE_NOT_FOUND,
                    "RegQueryValueEx",
                    "The system cannot find the file specified.",
                )
            _, value_type, data = found
            # What winreg returns: strings end at the first NUL, lists at the first empty one.
            if value_type in (f.REG_SZ, f.REG_EXPAND_SZ) and isinstance(data, str):
                return data.split("\0", 1)[0], value_type
            if value_type == f.REG_MULTI_SZ and isinstance(data, list):
                strings = list(data)
                return (strings[: strings.index("")] if "" in strings else strings), value_type
            return deepcopy(data), value_type

    def reg_set_value(
        self, hive: f.Hive, key: str, name: str, view: f.View, *, value_type: int, data: f.RegData
    ) -> None:
        with self._lock:
            path, node = self._open(hive, key, view, "RegSetValueEx")
            f.check_reg_data(value_type, data)
            node.values[name.lower()] = (name, value_type, deepcopy(data))
            self._notify("registry", path, None)

    def reg_delete_value(self, hive: f.Hive, key: str, name: str, view: f.View) -> None:
        with self._lock:
            path, node = self._open(hive, key, view, "RegDeleteValue")
            if node.values.pop(name.lower(), None) is None:
                raise WindowsApiError(
                    f.ERROR_FILE_NOT_FOUND,
                    "RegDeleteValue",
                    "The system cannot find the file specified.",
                )
            self._notify("registry", path, None)

    # --- event log ----------------------------------------------------------------------------

    def add_event(self, log: str, record: f.EventRecord) -> None:
        """An application writes an event (ReportEvent); a new log name is a new log."""
        with self._lock:
            self._event_logs.setdefault(log.lower(), []).append(record)

    def event_log_read(self, log: str, since: float) -> list[f.EventRecord]:
        with self._lock:
            records = self._event_logs.get(log.lower(), self._event_logs["application"])
            return [r for r in reversed(records) if r.time >= since]

    # --- services -----------------------------------------------------------------------------

    def _service(self, name: str) -> _Service:
        svc = self._services.get(name.lower())
        if svc is None:
            raise WindowsApiError(
                f.ERROR_SERVICE_DOES_NOT_EXIST,
                "OpenService",
                "The specified service does not exist as an installed service.",
            )
        self._check_access(f"service\\{name.lower()}", "OpenService")
        return svc

    def _set_state(self, svc: _Service, state: int) -> None:
        if svc.state != state:
            svc.state = state
            self._notify("service", svc.name.lower(), None)

    def _poll(self, name: str) -> _Service:
        """One status query: a pending state settles after ``pending_polls`` of them."""
        svc = self._service(name)
        if svc.pending > 0:
            svc.pending -= 1
        elif svc.state == f.SERVICE_START_PENDING:
            self._set_state(svc, f.SERVICE_STOPPED if svc.crashes else f.SERVICE_RUNNING)
        elif svc.state == f.SERVICE_STOP_PENDING:
            self._set_state(svc, f.SERVICE_STOPPED)
            if svc.marked_for_delete:
                del self._services[name.lower()]
        return svc

    def service_query(self, name: str) -> tuple[f.ServiceConfig, int]:
        with self._lock:
            svc = self._poll(name)
            return svc.config, svc.state

    def service_state(self, name: str) -> int:
        with self._lock:
            return self._poll(name).state

    def service_create(self, name: str, config: f.ServiceConfig, password: str | None) -> None:
        with self._lock:
            self._check_access(f"service\\{name.lower()}", "CreateService")
            existing = self._services.get(name.lower())
            if existing is not None:
                code = (
                    f.ERROR_SERVICE_MARKED_FOR_DELETE
                    if existing.marked_for_delete
                    else f.ERROR_SERVICE_EXISTS
                )
                raise WindowsApiError(code, "CreateService", "The service exists.")
            self._services[name.lower()] = _Service(name, config, password=password)

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
        with self._lock:
            svc = self._service(name)
            if svc.marked_for_delete:
                raise WindowsApiError(
                    f.ERROR_SERVICE_MARKED_FOR_DELETE,
                    "ChangeServiceConfig",
                    "The specified service has been marked for deletion.",
                )
            if start_type is not None and start_type not in (
                f.SERVICE_AUTO_START,
                f.SERVICE_DEMAND_START,
                f.SERVICE_DISABLED,
            ):
                raise WindowsApiError(f.ERROR_INVALID_PARAMETER, "ChangeServiceConfig")
            changes: dict[str, Any] = {
                "binary_path": binary_path,
                "start_type": start_type,
                "delayed_auto_start": delayed_auto_start,
                "display_name": display_name,
                "description": description,
                "account": account,
            }
            svc.config = replace(svc.config, **{k: v for k, v in changes.items() if v is not None})
            if password is not None:
                svc.password = password

    def service_query_failure_actions(self, name: str) -> f.FailureActions:
        with self._lock:
            return self._service(name).failure_actions

    def service_set_failure_actions(self, name: str, actions: f.FailureActions) -> None:
        with self._lock:
            self._service(name).failure_actions = actions

    def service_start(self, name: str) -> None:
        with self._lock:
            svc = self._service(name)
            if svc.marked_for_delete:
                raise WindowsApiError(
                    f.ERROR_SERVICE_MARKED_FOR_DELETE,
                    "StartService",
                    "The specified service has been marked for deletion.",
                )
            if svc.config.start_type == f.SERVICE_DISABLED:
                raise WindowsApiError(
                    f.ERROR_SERVICE_DISABLED,
                    "StartService",
                    "The service cannot be started, either because it is "
                    "disabled or because it has no enabled devices "
                    "associated with it.",
                )
            if svc.state != f.SERVICE_STOPPED:
                raise WindowsApiError(
                    f.ERROR_SERVICE_ALREADY_RUNNING,
                    "StartService",
                    "An instance of the service is already running.",
                )
            svc.pending = self.pending_polls
            self._set_state(svc, f.SERVICE_START_PENDING)

    def service_continue(self, name: str) -> None:
        with self._lock:
            svc = self._service(name)
            if svc.state != f.SERVICE_PAUSED:
                raise WindowsApiError(
                    f.ERROR_SERVICE_NOT_ACTIVE
                    if svc.state == f.SERVICE_STOPPED
                    else f.ERROR_SERVICE_CANNOT_ACCEPT_CTRL,
                    "ControlService",
                    "The service cannot accept control messages now.",
                )
            self._set_state(svc, f.SERVICE_RUNNING)

    def service_stop(self, name: str) -> None:
        with self._lock:
            svc = self._service(name)
            running_dependents = [
                d.name
                for d in self._services.values()
                if name.lower() in (x.lower() for x in d.depends_on)
                and d.state != f.SERVICE_STOPPED
            ]
            if running_dependents:
                raise WindowsApiError(
                    f.ERROR_DEPENDENT_SERVICES_RUNNING,
                    "ControlService",
                    "A stop control has been sent to a service that other running services "
                    "are dependent on.",
                )
            if svc.state in (f.SERVICE_STOPPED, f.SERVICE_STOP_PENDING):
                raise WindowsApiError(
                    f.ERROR_SERVICE_NOT_ACTIVE,
                    "ControlService",
                    "The service has not been started.",
                )
            if svc.state == f.SERVICE_START_PENDING:
                raise WindowsApiError(
                    f.ERROR_SERVICE_CANNOT_ACCEPT_CTRL,
                    "ControlService",
                    "The service cannot accept control messages now.",
                )
            svc.pending = self.pending_polls
            self._set_state(svc, f.SERVICE_STOP_PENDING)

    def service_delete(self, name: str) -> None:
        with self._lock:
            svc = self._service(name)
            if svc.marked_for_delete:
                raise WindowsApiError(
                    f.ERROR_SERVICE_MARKED_FOR_DELETE,
                    "DeleteService",
                    "The specified service has been marked for deletion.",
                )
            if svc.state == f.SERVICE_STOPPED:
                del self._services[name.lower()]
            else:
                svc.marked_for_delete = True

    # --- files --------------------------------------------------------------------------------

    def _exists_dir(self, path: str) -> bool:
        # Drive roots (C:) always exist.
        return (len(path) == 2 and path[1] == ":") or (
            path in self._files and self._files[path].kind == "directory"
        )

    def _path(self, path: str, function: str) -> str:
        """The canonical (lowercase) path, refused as Windows refuses it: MAX_PATH or more
        without the long-path opt-in (or a \\\\?\\ path), or access denied."""
        if len(path) >= _MAX_PATH and not self.long_paths and not path.startswith("\\\\?\\"):
            raise WindowsApiError(
                f.ERROR_FILENAME_EXCED_RANGE, function, "The filename or extension is too long."
            )
        p = _norm_path(path.removeprefix("\\\\?\\"))
        self._check_access(p, function)
        return p

    def _in_use(self, p: str, function: str) -> None:
        if p not in self.held_open:
            return
        left = self.held_open[p]
        if left is not None:
            if left <= 1:
                del self.held_open[p]
            else:
                self.held_open[p] = left - 1
        raise WindowsApiError(
            f.ERROR_SHARING_VIOLATION,
            function,
            "The process cannot access the file because it is being used by another process.",
        )

    def _effective_aces(self, p: str) -> list[f.Ace]:
        aces: list[f.Ace] = []
        while p:
            entry = self._files.get(p)
            if entry is not None:
                aces += entry.aces
                if not entry.inherits:
                    break
            p = _parent(p)
        return aces

    def path_kind(self, path: str) -> f.PathKind | None:
        with self._lock:
            p = self._path(path, "GetFileAttributes")
            if self._exists_dir(p):
                return "directory"
            entry = self._files.get(p)
            return entry.kind if entry else None

    def _file(self, path: str, function: str) -> _Entry:
        p = self._path(path, function)
        entry = self._files.get(p)
        if entry is None:
            code = (
                f.ERROR_FILE_NOT_FOUND if self._exists_dir(_parent(p)) else f.ERROR_PATH_NOT_FOUND
            )
            raise WindowsApiError(code, function, "The system cannot find the file specified.")
        return entry

    def file_read(self, path: str) -> bytes:
        with self._lock:
            entry = self._file(path, "CreateFile")
            if entry.kind != "file":
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, "CreateFile", "Access is denied.")
            return entry.data

    def file_write_atomic(self, path: str, data: bytes) -> None:
        with self._lock:
            p = self._path(path, "MoveFileEx")
            if not self._exists_dir(_parent(p)):
                raise WindowsApiError(
                    f.ERROR_PATH_NOT_FOUND,
                    "CreateFile",
                    "The system cannot find the path specified.",
                )
            existing = self._files.get(p)
            if existing is not None and (existing.kind == "directory" or existing.readonly):
                # ReplaceFile refuses a read-only file, as MoveFileEx refuses a directory.
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, "ReplaceFile", "Access is denied.")
            if existing is not None:
                self._in_use(p, "ReplaceFile")
            if existing is not None:
                existing.data = bytes(data)
            else:
                self._files[p] = _Entry("file", bytes(data))
            self._notify("directory", _parent(p), p.rsplit("\\", 1)[-1])

    def file_delete(self, path: str) -> None:
        with self._lock:
            entry = self._file(path, "DeleteFile")
            if entry.kind != "file" or entry.readonly:
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, "DeleteFile", "Access is denied.")
            p = _norm_path(path)
            self._in_use(p, "DeleteFile")
            del self._files[p]
            self._notify("directory", _parent(p), p.rsplit("\\", 1)[-1])

    def dir_create(self, path: str) -> None:
        with self._lock:
            p = self._path(path, "CreateDirectory")
            parts = p.split("\\")
            for i in range(1, len(parts) + 1):
                sub = "\\".join(parts[:i])
                if self._exists_dir(sub):
                    continue
                if sub in self._files:
                    raise WindowsApiError(
                        f.ERROR_ALREADY_EXISTS,
                        "CreateDirectory",
                        "Cannot create a file when that file already exists.",
                    )
                self._files[sub] = _Entry("directory")
                self._notify("directory", _parent(sub), parts[i - 1])

    def dir_list(self, path: str) -> list[str]:
        with self._lock:
            p = self._path(path, "FindFirstFile")
            if not self._exists_dir(p):
                raise WindowsApiError(
                    f.ERROR_PATH_NOT_FOUND, "FindFirstFile", "The system cannot find the path."
                )
            return sorted(k.rsplit("\\", 1)[-1] for k in self._files if _parent(k) == p)

    def dir_remove(self, path: str, *, recursive: bool) -> None:
        with self._lock:
            entry = self._file(path, "RemoveDirectory")
            p = _norm_path(path)
            if entry.kind != "directory":
                raise WindowsApiError(
                    f.ERROR_INVALID_PARAMETER, "RemoveDirectory", "The directory name is invalid."
                )
            below = [k for k in self._files if k.startswith(p + "\\")]
            if below and not recursive:
                raise WindowsApiError(
                    f.ERROR_DIR_NOT_EMPTY, "RemoveDirectory", "The directory is not empty."
                )
            for k in below:
                self._check_access(k, "DeleteFile")
            for k in [*below, p]:
                del self._files[k]
            self._notify("directory", _parent(p), p.rsplit("\\", 1)[-1])

    def _lookup(self, name: str) -> str:
        """LookupAccountName (with the facade's SID-string and .\\user spellings)."""
        if name.upper().startswith("S-1-") and name.upper() in self.accounts:
            return name.upper()
        if name.startswith(".\\"):
            name = COMPUTER_NAME + name[1:]
        wanted = name.casefold()
        if "@" in wanted and wanted in self.upns:
            return self.upns[wanted]
        domain, _, account = wanted.rpartition("\\")
        if domain == "iis apppool" and account in self.app_pools:
            # The pool's virtual account exists while the pool does (S-1-5-82-<hash>).
            sid = f"S-1-5-82-{sum(map(ord, account))}"
            self.accounts.setdefault(sid, ("IIS APPPOOL", self.app_pools[account]["name"]))
            return sid
        for sid, (domain, account) in self.accounts.items():
            full = f"{domain}\\{account}" if domain else account
            if wanted in (full.casefold(), account.casefold()):
                return sid
        raise WindowsApiError(
            f.ERROR_NONE_MAPPED,
            "LookupAccountName",
            "No mapping between account names and security IDs was done.",
        )

    def _account_name(self, sid: str) -> str:
        domain, name = self.accounts.get(sid, ("", sid))
        return f"{domain}\\{name}" if domain else name

    def account_sid(self, name: str) -> str:
        with self._lock:
            return self._lookup(name)

    def acl_get(self, path: str) -> list[f.Ace]:
        with self._lock:
            entry = self._file(path, "GetNamedSecurityInfo")
            # As LookupAccountSid spells them, whatever spelling set them.
            return [replace(a, identity=self._account_name(a.sid)) for a in entry.aces]

    def acl_add(self, path: str, aces: list[f.Ace]) -> None:
        with self._lock:
            entry = self._file(path, "SetNamedSecurityInfo")
            resolved = [replace(a, sid=a.sid or self._lookup(a.identity)) for a in aces]
            entry.aces.extend(resolved)
            p = _norm_path(path)
            self._notify("directory", _parent(p), p.rsplit("\\", 1)[-1])

    def dir_create_protected(self, path: str) -> None:
        with self._lock:
            p = self._path(path, "CreateDirectory")
            missing = []
            probe = p
            while probe and not self._exists_dir(probe):
                missing.append(probe)
                probe = _parent(probe)
            self.dir_create(path)
            for d in missing or [p]:
                entry = self._files[d]
                entry.owner = f.SID_ADMINISTRATORS
                entry.inherits = False
                entry.aces = [
                    f.Ace("NT AUTHORITY\\SYSTEM", "FullControl", sid=f.SID_SYSTEM),
                    f.Ace("BUILTIN\\Administrators", "FullControl", sid=f.SID_ADMINISTRATORS),
                ]

    def untrusted_writers(self, path: str) -> list[str]:
        with self._lock:
            entry = self._file(path, "GetNamedSecurityInfo")
            found = (
                []
                if entry.owner in f.TRUSTED_SIDS
                else [f"owner {self._account_name(entry.owner)}"]
            )
            for ace in self._effective_aces(_norm_path(path)):
                if (
                    ace.type == "Allow"
                    and ace.rights in ("Write", "Modify", "FullControl")
                    and ace.sid not in f.TRUSTED_SIDS
                ):
                    found.append(self._account_name(ace.sid))
            return found

    def plant(self, path: str, data: bytes, *, owner: str) -> None:
        """A file another account created (it owns it), as a local user could in a folder
        that lets Users write."""
        with self._lock:
            p = _norm_path(path)
            if not any(
                a.sid in (owner, SID_USERS, "S-1-5-11", "S-1-1-0")
                and a.type == "Allow"
                and a.rights in ("Write", "Modify", "FullControl")
                for a in self._effective_aces(_parent(p))
            ):
                raise WindowsApiError(f.ERROR_ACCESS_DENIED, "CreateFile", "Access is denied.")
            self._files[p] = _Entry("file", data, owner=owner)

    # --- PowerShell-backed --------------------------------------------------------------------

    def feature_get(self, name: str) -> f.FeatureInfo | None:
        with self._lock:
            found = self.features.get(name.lower())
            if found is None:
                return None
            real, installed, subs, _ = found
            return {"name": real, "installed": installed, "subFeatures": list(subs)}

    def _feature_change(
        self, name: str, installed: bool, sub_features: bool, function: str
    ) -> f.InstallResult:
        found = self.features.get(name.lower())
        if found is None:
            raise WindowsApiError(
                f.E_FAIL,
                function,
                f"ArgumentNotValid: The role, role service, or feature name is "
                f"not valid: '{name}'.",
            )
        real, was, subs, restart = found
        self.features[name.lower()] = (real, installed, subs, restart)
        if sub_features or not installed:
            for sub in subs:
                s_real, _, s_subs, s_restart = self.features[sub.lower()]
                self.features[sub.lower()] = (s_real, installed, s_subs, s_restart)
        needed = restart and was != installed
        self.reboot_pending = self.reboot_pending or needed
        return {"success": True, "restartNeeded": needed}

    def feature_install(
        self, name: str, *, sub_features: bool, management_tools: bool, source: str | None
    ) -> f.InstallResult:
        with self._lock:
            return self._feature_change(name, True, sub_features, "Install-WindowsFeature")

    def feature_uninstall(self, name: str) -> f.InstallResult:
        with self._lock:
            return self._feature_change(name, False, True, "Uninstall-WindowsFeature")

    def firewall_rule_get(self, name: str) -> f.FirewallRuleInfo | None:
        with self._lock:
            rule = self.firewall.get(name.lower())
            return deepcopy(rule) if rule is not None else None

    def firewall_rule_set(self, rule: f.FirewallRuleInfo) -> None:
        with self._lock:
            self._check_access("firewall", "Set-NetFirewallRule")
            if "localPorts" in rule and rule.get("protocol") not in ("TCP", "UDP"):
                raise WindowsApiError(
                    f.E_FAIL, "Set-NetFirewallRule", "The port filter requires protocol TCP or UDP."
                )
            name = rule["name"]
            current = self.firewall.get(name.lower(), {"name": name})
            current.update(deepcopy(rule))
            current["name"] = current.get("name", name)
            self.firewall[name.lower()] = current

    def firewall_rule_remove(self, name: str) -> None:
        with self._lock:
            if self.firewall.pop(name.lower(), None) is None:
                raise WindowsApiError(
                    f.E_FAIL,
                    "Remove-NetFirewallRule",
                    f"No MSFT_NetFirewallRule objects found with property "
                    f"'Name' equal to '{name}'.",
                )

    @staticmethod
    def _task_key(path: str, name: str) -> str:
        return (path + name).lower()

    def task_get(self, path: str, name: str) -> f.TaskInfo | None:
        with self._lock:
            task = self.tasks.get(self._task_key(path, name))
            return deepcopy(task) if task is not None else None

    def task_register(self, task: f.TaskInfo) -> None:
        with self._lock:
            self.tasks[self._task_key(task["path"], task["name"])] = deepcopy(task)

    def task_unregister(self, path: str, name: str) -> None:
        with self._lock:
            if self.tasks.pop(self._task_key(path, name), None) is None:
                raise WindowsApiError(
                    f.ERROR_FILE_NOT_FOUND,
                    "Unregister-ScheduledTask",
                    "The system cannot find the file specified.",
                )

    def _web_administration(self, function: str) -> None:
        """Import-Module WebAdministration: only where Web-Scripting-Tools is installed."""
        found = self.features.get("web-scripting-tools")
        if found is None or not found[1]:
            raise WindowsApiError(
                f.E_FAIL,
                "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
                "The specified module 'WebAdministration' was not loaded because no valid "
                "module file was found in any module directory.",
            )

    def app_pool_get(self, name: str) -> f.AppPoolInfo | None:
        with self._lock:
            self._web_administration("Get-Item")
            pool = self.app_pools.get(name.lower())
            return deepcopy(pool) if pool is not None else None

    def app_pool_set(self, pool: f.AppPoolInfo, password: str | None) -> None:
        with self._lock:
            self._web_administration("New-WebAppPool")
            name = pool["name"]
            current = self.app_pools.get(name.lower())
            if current is None:
                # New-WebAppPool's defaults on IIS 10.
                current = {
                    "name": name,
                    "managedRuntimeVersion": "v4.0",
                    "managedPipelineMode": "Integrated",
                    "identityType": "ApplicationPoolIdentity",
                    "state": "Started",
                }
            current.update(deepcopy(pool))
            self.app_pools[name.lower()] = current
            if password is not None:
                self.app_pool_passwords[name.lower()] = password

    def app_pool_remove(self, name: str) -> None:
        with self._lock:
            self._web_administration("Remove-WebAppPool")
            self.app_pools.pop(name.lower(), None)

    def site_get(self, name: str) -> f.SiteInfo | None:
        with self._lock:
            self._web_administration("Get-Website")
            site = self.sites.get(name.lower())
            return deepcopy(site) if site is not None else None

    def site_set(self, site: f.SiteInfo) -> None:
        with self._lock:
            self._web_administration("New-Website")
            name = site["name"]
            current = self.sites.get(name.lower())
            if current is None:
                if "physicalPath" not in site:
                    raise WindowsApiError(
                        f.E_FAIL,
                        "New-Website",
                        "Cannot validate argument on parameter 'PhysicalPath'.",
                    )
                current = {
                    "name": name,
                    "appPool": "DefaultAppPool",
                    "bindings": [],
                    "state": "Started",
                }
            pool = site.get("appPool")
            if pool is not None and pool.lower() not in self.app_pools:
                raise WindowsApiError(
                    f.E_FAIL, "Set-ItemProperty", f"The application pool '{pool}' does not exist."
                )
            current.update(deepcopy(site))
            self.sites[name.lower()] = current

    def site_remove(self, name: str) -> None:
        with self._lock:
            self._web_administration("Remove-Website")
            self.sites.pop(name.lower(), None)

    def dsc_invoke(
        self,
        method: Literal["Get", "Test", "Set"],
        module: str,
        version: str | None,
        name: str,
        properties: dict[str, Any],
    ) -> f.DscResult:
        with self._lock:
            resource = self.dsc_resources.get(f"{module}/{name}".lower())
            if resource is None:
                raise WindowsApiError(
                    f.E_FAIL,
                    "Invoke-DscResource",
                    f"Resource {name} was not found in module {module}.",
                )
            return resource(method, deepcopy(properties))

    def run_command(
        self,
        script: str,
        *,
        working_directory: str | None,
        environment: dict[str, str],
        timeout: float,
    ) -> f.CommandResult:
        with self._lock:
            handler = self.scripts.get(script)
            if handler is None:
                return {
                    "exitCode": 1,
                    "output": f"The term '{script.split(maxsplit=1)[0]}' is not "
                    "recognized as the name of a cmdlet, function, script file, or "
                    "operable program.",
                }
            result = handler(
                {"workingDirectory": working_directory, "environment": dict(environment)}
            )
            # GetExitCodeProcess reports a DWORD: exit -1 reads as 4294967295.
            return {**result, "exitCode": result["exitCode"] & 0xFFFF_FFFF}

    # --- MSI ----------------------------------------------------------------------------------

    def msi_product_state(self, product_code: str) -> int:
        with self._lock:
            if product_code.upper() in self.products:
                return f.INSTALLSTATE_DEFAULT
            return f.INSTALLSTATE_UNKNOWN

    def _msi_log(self, log_path: str, lines: list[str]) -> None:
        parent = _parent(_norm_path(log_path))
        if self._exists_dir(parent):
            self.file_write_atomic(log_path, "\r\n".join(lines).encode("utf-16"))

    def msi_install(
        self, package: str, arguments: list[str], log_path: str, *, sha256: str | None = None
    ) -> int:
        with self._lock:
            if self.msi_busy:
                return f.ERROR_INSTALL_ALREADY_RUNNING
            if sha256 is not None:
                digest = hashlib.sha256(self.file_read(package)).hexdigest()
                if digest != sha256:
                    raise WindowsApiError(
                        f.ERROR_INVALID_DATA,
                        "ReadFile",
                        f"{package} has sha256 {digest}, expected {sha256}",
                    )
            pkg = self.packages.get(_norm_path(package))
            if pkg is None:
                self._msi_log(
                    log_path,
                    [
                        "MSI (c): Note: 1: 2203 2: " + package,
                        "MSI (c): Product: unknown -- Installation failed.",
                    ],
                )
                return f.ERROR_INSTALL_PACKAGE_OPEN_FAILED
            code = pkg.exit_code
            if code in (0, f.ERROR_SUCCESS_REBOOT_REQUIRED, f.ERROR_SUCCESS_REBOOT_INITIATED):
                self.products.add(pkg.product_code.upper())
                self.reboot_pending = self.reboot_pending or code != 0
                self._msi_log(
                    log_path,
                    ["MSI (s): Product: installed -- Installation completed successfully."],
                )
            else:
                self._msi_log(
                    log_path,
                    [
                        "Action start InstallFiles.",
                        "CustomAction CA_Configure returned actual error code 1603",
                        "Action ended InstallFinalize. Return value 3.",
                        "MSI (s): Product: -- Installation failed.",
                    ],
                )
            return code

    def msi_uninstall(self, product_code: str, log_path: str) -> int:
        with self._lock:
            if self.msi_busy:
                return f.ERROR_INSTALL_ALREADY_RUNNING
            if product_code.upper() not in self.products:
                return f.ERROR_UNKNOWN_PRODUCT
            self.products.discard(product_code.upper())
            return 0

    # --- system -------------------------------------------------------------------------------

    def broadcast_environment_change(self) -> None:
        self.environment_broadcasts += 1

    def boot_id(self) -> str:
        return str(self.boots)

    def reboot(self, reason: str) -> None:
        # The next boot: pending states settle, a reboot is no longer pending.
        self.boots += 1
        self.reboot_reasons.append(reason)
        self.reboot_pending = False

    def staging_dir(self) -> str:
        with self._lock:
            self.dir_create_protected(self.staging)
        return self.staging

    # --- notifications ------------------------------------------------------------------------

    def subscribe_directory(self, path: str, *, subtree: bool = False) -> f.Subscription:
        return self._subscribe("tree" if subtree else "directory", _norm_path(path))

    def subscribe_registry(self, hive: f.Hive, key: str, view: f.View) -> f.Subscription:
        return self._subscribe("registry", self._key_path(hive, key, view))

    def subscribe_service(self, name: str) -> f.Subscription:
        return self._subscribe("service", name.lower())
