"""The one narrow interface between Windows providers and the operating system.

Each operation has the semantics of the Win32 or PowerShell call it wraps and nothing more: no
retries, no waiting for state transitions, no desired-state logic (those are the providers').
Two implementations: ``win32.Win32Facade`` (winreg, pywin32, ctypes, a long-lived PowerShell
host) and ``simulated.SimulatedFacade`` (in memory, for tests on any OS).

Every failure is a ``WindowsApiError`` carrying the Win32 error code, whichever API produced it
(winreg's OSError, pywin32's pywintypes.error, an msiexec exit code, a PowerShell error), so
providers handle one error shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

# Win32 error codes the providers and the simulated facade use (winerror.h).
ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_ACCESS_DENIED = 5
ERROR_SHARING_VIOLATION = 32
ERROR_INVALID_DATA = 13
ERROR_INVALID_PARAMETER = 87
ERROR_DIR_NOT_EMPTY = 145
ERROR_FILENAME_EXCED_RANGE = 206
ERROR_ALREADY_EXISTS = 183
ERROR_DEPENDENT_SERVICES_RUNNING = 1051
ERROR_SERVICE_REQUEST_TIMEOUT = 1053
ERROR_SERVICE_ALREADY_RUNNING = 1056
ERROR_SERVICE_DISABLED = 1058
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_CANNOT_ACCEPT_CTRL = 1061
ERROR_SERVICE_NOT_ACTIVE = 1062
ERROR_SERVICE_MARKED_FOR_DELETE = 1072
ERROR_SERVICE_EXISTS = 1073
ERROR_NONE_MAPPED = 1332
ERROR_INSTALL_USEREXIT = 1602
ERROR_INSTALL_FAILURE = 1603
ERROR_UNKNOWN_PRODUCT = 1605
ERROR_INSTALL_PACKAGE_OPEN_FAILED = 1619
ERROR_INSTALL_ALREADY_RUNNING = 1618
ERROR_SUCCESS_REBOOT_INITIATED = 1641
ERROR_SUCCESS_REBOOT_REQUIRED = 3010
WAIT_TIMEOUT = 258
#: Not a Win32 code: a PowerShell cmdlet failed with no better code (HRESULT E_FAIL).
E_FAIL = 0x80004005


class WindowsApiError(OSError):
    """A Windows API call failed. ``winerror`` is the Win32 error code (or HRESULT)."""

    def __init__(self, winerror: int, function: str, message: str = "") -> None:
        super().__init__(f"{function}: {message or 'error'} (Win32 error {winerror})")
        self.winerror = winerror
        self.function = function
        self.message = message


# --- registry ---------------------------------------------------------------------------------

Hive = Literal["HKLM", "HKU", "HKCR", "HKCC"]
View = Literal[32, 64]

# winnt.h value types.
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_MULTI_SZ = 7
REG_QWORD = 11

#: Data as winreg carries it: str (SZ, EXPAND_SZ), list[str] (MULTI_SZ), int (DWORD, QWORD,
#: unsigned), bytes (BINARY).
RegData = str | list[str] | int | bytes


class Registry(Protocol):
    def reg_key_exists(self, hive: Hive, key: str, view: View) -> bool: ...

    def reg_create_key(self, hive: Hive, key: str, view: View) -> None:
        """RegCreateKeyEx: creates missing parents too; an existing key is fine."""

    def reg_delete_key(self, hive: Hive, key: str, view: View, *, recursive: bool) -> None:
        """RegDeleteKeyEx (RegDeleteTree when recursive). ERROR_ACCESS_DENIED when the key
        has subkeys and recursive is false, as RegDeleteKeyEx does."""

    def reg_has_subkeys(self, hive: Hive, key: str, view: View) -> bool: ...

    def reg_query_value(self, hive: Hive, key: str, name: str, view: View) -> tuple[RegData, int]:
        """RegQueryValueEx: (data, type). ERROR_FILE_NOT_FOUND for a missing key or value."""

    def reg_set_value(
        self, hive: Hive, key: str, name: str, view: View, *, value_type: int, data: RegData
    ) -> None:
        """RegSetValueEx on an existing key; ERROR_FILE_NOT_FOUND if the key is missing."""

    def reg_delete_value(self, hive: Hive, key: str, name: str, view: View) -> None: ...


def check_reg_data(value_type: int, data: RegData) -> None:
    """What RegSetValueEx (through winreg) accepts for each type; ERROR_INVALID_PARAMETER
    otherwise. Shared with the real facade so both reject the same data."""
    ok: bool
    if value_type in (REG_SZ, REG_EXPAND_SZ):
        ok = isinstance(data, str)
    elif value_type == REG_MULTI_SZ:
        ok = isinstance(data, list) and all(isinstance(s, str) and "\0" not in s for s in data)
    elif value_type == REG_DWORD:
        ok = isinstance(data, int) and 0 <= data <= 0xFFFF_FFFF
    elif value_type == REG_QWORD:
        ok = isinstance(data, int) and 0 <= data <= 0xFFFF_FFFF_FFFF_FFFF
    elif value_type == REG_BINARY:
        ok = isinstance(data, bytes)
    else:
        ok = False
    if not ok:
        raise WindowsApiError(
            ERROR_INVALID_PARAMETER,
            "RegSetValueEx",
            f"invalid data for registry type {value_type}",
        )


# --- services ---------------------------------------------------------------------------------

# SERVICE_STATUS.dwCurrentState
SERVICE_STOPPED = 1
SERVICE_START_PENDING = 2
SERVICE_STOP_PENDING = 3
SERVICE_RUNNING = 4
SERVICE_CONTINUE_PENDING = 5
SERVICE_PAUSE_PENDING = 6
SERVICE_PAUSED = 7
# dwStartType
SERVICE_AUTO_START = 2
SERVICE_DEMAND_START = 3
SERVICE_DISABLED = 4
# SC_ACTION_TYPE
SC_ACTION_NONE = 0
SC_ACTION_RESTART = 1
SC_ACTION_REBOOT = 2
SC_ACTION_RUN_COMMAND = 3


@dataclass(frozen=True)
class ServiceConfig:
    """QueryServiceConfig plus the delayed-auto-start and description config infos."""

    binary_path: str
    start_type: int
    delayed_auto_start: bool = False
    display_name: str = ""
    account: str = "LocalSystem"
    description: str = ""


@dataclass(frozen=True)
class FailureActions:
    """SERVICE_FAILURE_ACTIONS: reset period, command, (action type, delay ms) per failure."""

    reset_period: int = 0
    command: str = ""
    actions: tuple[tuple[int, int], ...] = ()


class Services(Protocol):
    def service_query(self, name: str) -> tuple[ServiceConfig, int]:
        """(config, current state). ERROR_SERVICE_DOES_NOT_EXIST if there is no such service."""

    def service_state(self, name: str) -> int:
        """QueryServiceStatusEx on a handle opened for SERVICE_QUERY_STATUS only: the current
        state, for callers that need no configuration (the service readiness probe).
        ERROR_SERVICE_DOES_NOT_EXIST from OpenService if there is no such service."""

    def service_create(self, name: str, config: ServiceConfig, password: str | None) -> None:
        """CreateService; the service starts out Stopped."""

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
        """ChangeServiceConfig/ChangeServiceConfig2: None leaves a setting as it is."""

    def service_query_failure_actions(self, name: str) -> FailureActions: ...

    def service_set_failure_actions(self, name: str, actions: FailureActions) -> None: ...

    def service_start(self, name: str) -> None:
        """StartService: returns once the start is requested (state StartPending).
        ERROR_SERVICE_DISABLED, ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_MARKED_FOR_DELETE."""

    def service_continue(self, name: str) -> None:
        """ControlService(CONTINUE) of a paused service."""

    def service_stop(self, name: str) -> None:
        """ControlService(STOP): returns with the state StopPending or Stopped.
        ERROR_SERVICE_NOT_ACTIVE when it is not running."""

    def service_delete(self, name: str) -> None:
        """DeleteService: marks for deletion; it goes once stopped and all handles close."""


# --- files ------------------------------------------------------------------------------------

PathKind = Literal["file", "directory"]
AccessRight = Literal["Read", "ReadAndExecute", "Modify", "Write", "FullControl"]


# Well-known SIDs (Microsoft's "Well-known SIDs" list): accounts compare by SID, because
# LookupAccountSid says BUILTIN\Administrators where a user writes Administrators.
SID_SYSTEM = "S-1-5-18"
SID_ADMINISTRATORS = "S-1-5-32-544"
SID_TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
#: Who may write in the agent's state directory.
TRUSTED_SIDS = frozenset({SID_SYSTEM, SID_ADMINISTRATORS, SID_TRUSTED_INSTALLER})


@dataclass(frozen=True)
class Ace:
    """One explicit (not inherited) access-control entry. ``acl_get`` fills ``sid`` and
    spells ``identity`` as LookupAccountSid does (DOMAIN\\name); ``acl_add`` uses ``sid``
    when set, else resolves ``identity``."""

    identity: str
    rights: AccessRight
    type: Literal["Allow", "Deny"] = "Allow"
    sid: str = ""


class Files(Protocol):
    def path_kind(self, path: str) -> PathKind | None: ...

    def file_read(self, path: str) -> bytes: ...

    def file_write_atomic(self, path: str, data: bytes) -> None:
        """Write a sibling temp file, then ReplaceFile (which keeps the replaced file's ACL
        and attributes) or, for a new file, MoveFileEx(REPLACE_EXISTING | WRITE_THROUGH): a
        reader sees the old or the new content, never a mix. The directory must exist."""

    def file_delete(self, path: str) -> None: ...

    def dir_create(self, path: str) -> None:
        """Create the directory and missing parents (SHCreateDirectoryEx semantics)."""

    def dir_list(self, path: str) -> list[str]:
        """Names of the directory's entries (FindFirstFile/FindNextFile)."""

    def dir_remove(self, path: str, *, recursive: bool) -> None:
        """RemoveDirectory; ERROR_DIR_NOT_EMPTY when not empty and not recursive."""

    def acl_get(self, path: str) -> list[Ace]:
        """Explicit ACEs of the DACL (GetNamedSecurityInfo), accounts as DOMAIN\\name."""

    def acl_add(self, path: str, aces: list[Ace]) -> None:
        """Add explicit ACEs, keeping existing ones and inheritance (SetEntriesInAcl)."""

    def account_sid(self, name: str) -> str:
        """LookupAccountName as a SID string; also takes a SID string and ``.\\user``.
        ERROR_NONE_MAPPED for an account that does not resolve."""

    def dir_create_protected(self, path: str) -> None:
        """Create the directory (and missing parents) owned by Administrators with a
        protected DACL: SYSTEM and Administrators full control, inherited by everything
        below. An existing directory gets the same DACL."""

    def untrusted_writers(self, path: str) -> list[str]:
        """Who other than SYSTEM, Administrators, TrustedInstaller and the account this
        process runs as owns ``path`` or may write, append, delete or change its DACL
        (explicit and inherited allow entries)."""


# --- PowerShell-backed operations -------------------------------------------------------------


class FeatureInfo(TypedDict):
    """Get-WindowsFeature: name, whether installed, its sub-feature names."""

    name: str
    installed: bool
    subFeatures: list[str]


class InstallResult(TypedDict):
    """Install-/Uninstall-WindowsFeature: Success and RestartNeeded."""

    success: bool
    restartNeeded: bool


class FirewallRuleInfo(TypedDict, total=False):
    """Get-NetFirewallRule with its port, address and application filters, in the wire names
    of the FirewallRule resource; lists are sorted as Windows returns them."""

    name: str
    displayName: str
    direction: str
    action: str
    protocol: str
    localPorts: list[str]
    remoteAddresses: list[str]
    program: str
    profiles: list[str]
    enabled: bool


class TaskInfo(TypedDict, total=False):
    """Get-ScheduledTask: folder, name, one action, one trigger, principal, enabled."""

    path: str
    name: str
    description: str
    action: dict[str, Any]
    trigger: dict[str, Any]
    principal: dict[str, Any]
    enabled: bool


class AppPoolInfo(TypedDict, total=False):
    """Get-IISAppPool / IIS:\\AppPools, in the wire names of IisAppPool."""

    name: str
    managedRuntimeVersion: str
    managedPipelineMode: str
    identityType: str
    userName: str
    state: str


class SiteInfo(TypedDict, total=False):
    """Get-Website, in the wire names of IisSite; bindings as SiteBinding wire dicts."""

    name: str
    physicalPath: str
    appPool: str
    bindings: list[dict[str, Any]]
    state: str


class DscResult(TypedDict, total=False):
    """Invoke-DscResource: Get returns the properties, Test InDesiredState, Set
    RebootRequired."""

    properties: dict[str, Any]
    inDesiredState: bool
    rebootRequired: bool


class CommandResult(TypedDict):
    """What a script run reported: its exit code and its output and error text."""

    exitCode: int
    output: str


class PowerShellOps(Protocol):
    def feature_get(self, name: str) -> FeatureInfo | None:
        """None when Get-WindowsFeature knows no such feature."""

    def feature_install(
        self, name: str, *, sub_features: bool, management_tools: bool, source: str | None
    ) -> InstallResult: ...

    def feature_uninstall(self, name: str) -> InstallResult: ...

    def firewall_rule_get(self, name: str) -> FirewallRuleInfo | None: ...

    def firewall_rule_set(self, rule: FirewallRuleInfo) -> None:
        """New-NetFirewallRule, or Set-NetFirewallRule on an existing rule, in one call."""

    def firewall_rule_remove(self, name: str) -> None: ...

    def task_get(self, path: str, name: str) -> TaskInfo | None: ...

    def task_register(self, task: TaskInfo) -> None:
        """Register-ScheduledTask -Force: creates or replaces the task as a whole."""

    def task_unregister(self, path: str, name: str) -> None: ...

    def app_pool_get(self, name: str) -> AppPoolInfo | None: ...

    def app_pool_set(self, pool: AppPoolInfo, password: str | None) -> None:
        """Create the pool if missing, then set every given property (state last)."""

    def app_pool_remove(self, name: str) -> None: ...

    def site_get(self, name: str) -> SiteInfo | None: ...

    def site_set(self, site: SiteInfo) -> None:
        """Create the site if missing, then set every given property (state last)."""

    def site_remove(self, name: str) -> None: ...

    def dsc_invoke(
        self,
        method: Literal["Get", "Test", "Set"],
        module: str,
        version: str | None,
        name: str,
        properties: dict[str, Any],
    ) -> DscResult: ...

    def run_command(
        self,
        script: str,
        *,
        working_directory: str | None,
        environment: dict[str, str],
        timeout: float,
    ) -> CommandResult:
        """Run a PowerShell script in a fresh runspace of the long-lived host (its variables,
        location and ``exit`` stay its own). The exit code is ``exit N``'s N, else a non-zero
        $LASTEXITCODE of the last native program, else 1 if it wrote an error, else 0.
        WAIT_TIMEOUT (258) when it overran ``timeout``."""


# --- MSI --------------------------------------------------------------------------------------

# MsiQueryProductState results.
INSTALLSTATE_UNKNOWN = -1
INSTALLSTATE_ABSENT = 2
INSTALLSTATE_DEFAULT = 5


class Msi(Protocol):
    def msi_product_state(self, product_code: str) -> int:
        """MsiQueryProductState: INSTALLSTATE_DEFAULT when installed for the machine."""

    def msi_install(
        self, package: str, arguments: list[str], log_path: str, *, sha256: str | None = None
    ) -> int:
        """msiexec /i PACKAGE /qn /norestart /l*v LOG ARGS; returns the exit code (0, 3010,
        1641, 1603, 1618, ...) rather than raising: the codes are the API. With ``sha256``
        the package is opened without write or delete sharing, its digest checked on that
        handle, and the handle held while msiexec runs, so what runs is what was checked
        (ERROR_INVALID_DATA when it differs)."""

    def msi_uninstall(self, product_code: str, log_path: str) -> int: ...


# --- system -----------------------------------------------------------------------------------


class System(Protocol):
    def broadcast_environment_change(self) -> None:
        """SendMessageTimeout(HWND_BROADCAST, WM_SETTINGCHANGE, "Environment"): running
        programs (Explorer, services started later) pick up machine environment changes."""

    def staging_dir(self) -> str:
        """A directory only SYSTEM and Administrators can write (created protected), for
        downloads and installer logs: never the shared temp folder."""

    def boot_id(self) -> str:
        """Changes with every boot and only then: Win32_OperatingSystem.LastBootUpTime."""

    def reboot(self, reason: str) -> None:
        """shutdown /r: a planned restart, the reason recorded in the System log (1074)."""


# --- event log --------------------------------------------------------------------------------

EVENTLOG_ERROR_TYPE = 1


@dataclass(frozen=True)
class EventRecord:
    source: str
    #: EVENTLOG_ERROR_TYPE (1), WARNING (2), INFORMATION (4), ...
    event_type: int
    event_id: int
    #: TimeGenerated, seconds since the epoch.
    time: float
    message: str = ""


class EventLog(Protocol):
    def event_log_read(self, log: str, since: float) -> list[EventRecord]:
        """ReadEventLog backwards: the records of ``log`` generated at or after ``since``
        (epoch seconds), newest first. OpenEventLog opens Application for an unknown log
        name, as Windows does."""


# --- change notifications ---------------------------------------------------------------------


class Subscription(Protocol):
    """An armed OS change notification."""

    def wait(self, timeout: float) -> frozenset[str] | None:
        """Block up to ``timeout`` seconds. None: nothing changed. Otherwise the lowercase
        names of changed directory entries, or an empty set when the OS does not say what
        changed (registry keys, services, a ReadDirectoryChangesW buffer overflow); re-arms
        before returning (RegNotifyChangeKeyValue fires once)."""

    def close(self) -> None: ...


class Notifications(Protocol):
    def subscribe_directory(self, path: str, *, subtree: bool = False) -> Subscription:
        """ReadDirectoryChangesW on a directory's entries (and everything below with
        ``subtree``)."""

    def subscribe_registry(self, hive: Hive, key: str, view: View) -> Subscription:
        """RegNotifyChangeKeyValue on a key: its values and subkeys (not their values)."""

    def subscribe_service(self, name: str) -> Subscription:
        """NotifyServiceStatusChangeW: run-state changes of one service."""


class WindowsFacade(
    Registry, Services, Files, PowerShellOps, Msi, System, EventLog, Notifications, Protocol
):
    """Everything the Windows providers may ask of the OS."""
