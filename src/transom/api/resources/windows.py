"""Windows-only resource types: services, registry, features, MSI, tasks, IIS, firewall, DSC."""

from __future__ import annotations

import base64
import binascii
import json
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from transom.api.resources.base import (
    Ensure,
    ResourceProperties,
    SecretKeyRef,
)
from transom.api.resources.files import PATH_MAX_LENGTH, RemoteSource
from transom.api.wire import cel

NAME_MAX_LENGTH = 256
REGISTRY_KEY_MAX_LENGTH = 1024
#: Windows account names: DOMAIN\user, user@domain, NT AUTHORITY\..., NT SERVICE\...
ACCOUNT_MAX_LENGTH = 256
GUID_PATTERN = r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$"
#: A Windows path with a drive letter or a UNC share (environment variables are not expanded).
WINDOWS_PATH_PATTERN = r"^([A-Za-z]:[\\/]|\\\\)"
THUMBPRINT_PATTERN = r"^[0-9A-Fa-f]{40}$"
DWORD_MAX = 2**32 - 1
QWORD_MIN = -(2**63)
QWORD_MAX = 2**63 - 1


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- Service ----------------------------------------------------------------------------------


class StartType(StrEnum):
    AUTOMATIC = "Automatic"
    AUTOMATIC_DELAYED_START = "AutomaticDelayedStart"
    MANUAL = "Manual"
    DISABLED = "Disabled"


class ServiceState(StrEnum):
    RUNNING = "Running"
    STOPPED = "Stopped"


class RecoveryActionType(StrEnum):
    NONE = "None"
    RESTART = "Restart"
    REBOOT = "Reboot"
    RUN_COMMAND = "RunCommand"


class RecoveryAction(_Part):
    """What the service control manager does after one failure of the service."""

    type: RecoveryActionType = Field(description="None, Restart, Reboot or RunCommand.")
    delay_seconds: int = Field(
        default=60,
        alias="delaySeconds",
        ge=0,
        le=86_400,
        description="Seconds to wait before taking the action.",
    )


class ServiceRecovery(_Part):
    """Failure actions (sc.exe failure): the first, second and subsequent failures."""

    reset_period_seconds: int = Field(
        default=86_400,
        alias="resetPeriodSeconds",
        ge=0,
        le=2**31 - 1,
        description="Seconds without failure after which the failure count resets to zero.",
    )
    actions: list[RecoveryAction] = Field(
        description="Actions for the first, second and later failures, in order (at most 3; "
        "the last one repeats).",
        min_length=1,
        max_length=3,
    )
    command: str | None = Field(
        default=None,
        description="Command line a RunCommand action runs.",
        max_length=PATH_MAX_LENGTH,
    )

    @model_validator(mode="after")
    def _command_for_run_command(self) -> ServiceRecovery:
        wants = any(a.type is RecoveryActionType.RUN_COMMAND for a in self.actions)
        if wants and not self.command:
            raise ValueError("a RunCommand action needs command")
        return self


_SERVICE_RULES = [
    {
        "rule": "!has(self.password) || has(self.account)",
        "message": "password needs account",
        "fieldPath": ".password",
    },
    {
        "rule": "!has(self.state) || self.state != 'Running' || !has(self.startType) "
        "|| self.startType != 'Disabled'",
        "message": "a Disabled service cannot be Running",
        "fieldPath": ".state",
    },
]


class ServiceProperties(ResourceProperties):
    """A Windows service: its configuration, run state, logon account and recovery actions."""

    key_fields: ClassVar[tuple[str, ...]] = ("name",)

    model_config = ConfigDict(json_schema_extra=cel(*_SERVICE_RULES))
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    name: str = Field(
        description="Service (key) name, e.g. W3SVC; case-insensitive.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[^/\\]+$",
    )
    display_name: str | None = Field(
        default=None,
        alias="displayName",
        description="Name shown in services.msc.",
        max_length=NAME_MAX_LENGTH,
    )
    description: str | None = Field(
        default=None, description="Service description.", max_length=2048
    )
    binary_path: str | None = Field(
        default=None,
        alias="binaryPath",
        description=r'Command line the service runs, e.g. "C:\Program Files\App\app.exe" '
        "--service; required to create the service.",
        max_length=PATH_MAX_LENGTH,
    )
    start_type: StartType | None = Field(
        default=None,
        alias="startType",
        description="Automatic, AutomaticDelayedStart, Manual or Disabled.",
    )
    state: ServiceState | None = Field(
        default=None, description="Running or Stopped; unset leaves the run state alone."
    )
    account: str | None = Field(
        default=None,
        description=r"Logon account: LocalSystem, NT AUTHORITY\NetworkService, "
        r"NT AUTHORITY\LocalService, NT SERVICE\<name>, DOMAIN\user or a gMSA (DOMAIN\name$).",
        max_length=ACCOUNT_MAX_LENGTH,
    )
    password: SecretKeyRef | None = Field(
        default=None,
        description="Password of account, from a Secret (never inline). Windows cannot read a "
        "password back, so it is set whenever the account changes.",
    )
    recovery: ServiceRecovery | None = Field(
        default=None, description="What to do when the service fails."
    )

    @model_validator(mode="after")
    def _check(self) -> ServiceProperties:
        if self.password is not None and self.account is None:
            raise ValueError("password needs account")
        if self.state is ServiceState.RUNNING and self.start_type is StartType.DISABLED:
            raise ValueError("a Disabled service cannot be Running")
        return self

    def identity(self) -> str:
        return f"service:{self.name.lower()}"


# --- Registry ---------------------------------------------------------------------------------


class Hive(StrEnum):
    HKLM = "HKLM"
    HKU = "HKU"
    HKCR = "HKCR"
    HKCC = "HKCC"


class RegistryView(StrEnum):
    """Which registry view: 64 is the native view, 32 the WOW64 view (WOW6432Node)."""

    V64 = "64"
    V32 = "32"


class RegistryValueType(StrEnum):
    REG_SZ = "REG_SZ"
    REG_EXPAND_SZ = "REG_EXPAND_SZ"
    REG_MULTI_SZ = "REG_MULTI_SZ"
    REG_DWORD = "REG_DWORD"
    REG_QWORD = "REG_QWORD"
    REG_BINARY = "REG_BINARY"


class BinaryEncoding(StrEnum):
    HEX = "hex"
    BASE64 = "base64"


_KEY_PATTERN = r"^[^\\]+(\\[^\\]+)*$"


def _registry_identity(hive: Hive, key: str, view: RegistryView) -> str:
    return f"registry:{hive.value}\\{key.lower()}@{view.value}"


class RegistryKeyProperties(ResourceProperties):
    """A registry key, created or deleted; its values are RegistryValue resources."""

    key_fields: ClassVar[tuple[str, ...]] = ("hive", "key", "view")

    hive: Hive = Field(default=Hive.HKLM, description="Root key: HKLM, HKU, HKCR or HKCC.")
    key: str = Field(
        description=r"Path under the hive without leading or trailing backslash, e.g. "
        r"SOFTWARE\Contoso\App; case-insensitive.",
        min_length=1,
        max_length=REGISTRY_KEY_MAX_LENGTH,
        pattern=_KEY_PATTERN,
    )
    view: RegistryView = Field(
        default=RegistryView.V64,
        description="Registry view: 64 (native) or 32 (what 32-bit programs see; HKLM\\SOFTWARE "
        "is redirected to WOW6432Node).",
    )
    recurse_delete: bool = Field(
        default=False,
        alias="recurseDelete",
        description="With ensure: absent, also delete subkeys; otherwise a key with subkeys "
        "is an error.",
    )

    def identity(self) -> str:
        return _registry_identity(self.hive, self.key, self.view)


_VALUE_RULES = [
    {
        "rule": "self.ensure == 'absent' || ("
        "(self.type == 'REG_SZ' || self.type == 'REG_EXPAND_SZ') == has(self.data) && "
        "(self.type == 'REG_MULTI_SZ') == has(self.multiData) && "
        "(self.type == 'REG_DWORD' || self.type == 'REG_QWORD') == has(self.number) && "
        "(self.type == 'REG_BINARY') == has(self.binary))",
        "message": "set exactly the field the type takes: data for REG_SZ and REG_EXPAND_SZ, "
        "multiData for REG_MULTI_SZ, number for REG_DWORD and REG_QWORD, binary for REG_BINARY",
    },
    {
        "rule": "!has(self.number) || self.type != 'REG_DWORD' || "
        f"(self.number >= 0 && self.number <= {DWORD_MAX})",
        "message": f"a REG_DWORD number is 0..{DWORD_MAX}",
        "fieldPath": ".number",
    },
]


class RegistryValueProperties(ResourceProperties):
    """A value of a registry key, with its type and data; the key is created if missing."""

    key_fields: ClassVar[tuple[str, ...]] = ("hive", "key", "value_name", "view")

    model_config = ConfigDict(json_schema_extra=cel(*_VALUE_RULES))

    hive: Hive = Field(default=Hive.HKLM, description="Root key: HKLM, HKU, HKCR or HKCC.")
    key: str = Field(
        description=r"Path under the hive, e.g. SYSTEM\CurrentControlSet\Services\HTTP"
        r"\Parameters; case-insensitive.",
        min_length=1,
        max_length=REGISTRY_KEY_MAX_LENGTH,
        pattern=_KEY_PATTERN,
    )
    value_name: str = Field(
        default="",
        alias="valueName",
        description='Value name, case-insensitive; "" (the default) is the key\'s default value.',
        max_length=16_383,
    )
    view: RegistryView = Field(
        default=RegistryView.V64, description="Registry view: 64 (native) or 32 (WOW64)."
    )
    type: RegistryValueType = Field(
        default=RegistryValueType.REG_SZ,
        description="REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ, REG_DWORD, REG_QWORD or REG_BINARY.",
    )
    data: str | None = Field(
        default=None,
        description="String data of a REG_SZ or REG_EXPAND_SZ value (REG_EXPAND_SZ is stored "
        "unexpanded, e.g. %SystemRoot%\\Temp).",
        max_length=1_048_576,
    )
    multi_data: list[str] | None = Field(
        default=None,
        alias="multiData",
        description="Strings of a REG_MULTI_SZ value, in order; none may be empty.",
        max_length=1024,
    )
    number: int | None = Field(
        default=None,
        description=f"REG_DWORD: 0..{DWORD_MAX}. REG_QWORD: {QWORD_MIN}..{QWORD_MAX}; a "
        "negative number is stored as its 64-bit two's complement (Kubernetes integers are "
        "signed 64-bit).",
        # No minimum/maximum in the schema: the apiserver reads +-2^63 as a float and rejects
        # the CRD; format int64 already bounds it there, and _check does here.
    )
    binary: str | None = Field(
        default=None,
        description="Bytes of a REG_BINARY value, encoded as binaryEncoding says.",
        max_length=2_097_152,
    )
    binary_encoding: BinaryEncoding = Field(
        default=BinaryEncoding.HEX,
        alias="binaryEncoding",
        description="Encoding of binary: hex (e.g. 0aff01, case-insensitive) or base64.",
    )

    @model_validator(mode="after")
    def _check(self) -> RegistryValueProperties:
        given = {
            "data": self.data is not None,
            "multiData": self.multi_data is not None,
            "number": self.number is not None,
            "binary": self.binary is not None,
        }
        if self.ensure is Ensure.ABSENT:
            return self
        wanted = VALUE_FIELD[self.type]
        wrong = [name for name, is_set in given.items() if is_set and name != wanted]
        if wrong or not given[wanted]:
            extra = f" and no {', '.join(wrong)}" if wrong else ""
            raise ValueError(f"type {self.type.value} takes {wanted}{extra}")
        if not QWORD_MIN <= (self.number or 0) <= QWORD_MAX:
            raise ValueError(f"number must be {QWORD_MIN}..{QWORD_MAX}")
        if self.type is RegistryValueType.REG_DWORD and not 0 <= (self.number or 0) <= DWORD_MAX:
            raise ValueError(f"a REG_DWORD number is 0..{DWORD_MAX}")
        strings = [self.data or "", *(self.multi_data or [])]
        if any("\0" in s for s in strings):
            # Windows reads a string back only up to its first NUL: it could never converge.
            raise ValueError("registry strings cannot contain NUL characters")
        if self.multi_data is not None and any(s == "" for s in self.multi_data):
            raise ValueError("REG_MULTI_SZ strings cannot be empty (an empty string ends the list)")
        if self.binary is not None:
            self.binary_bytes()
        return self

    def binary_bytes(self) -> bytes:
        """binary decoded; raises ValueError when it is not valid in binaryEncoding."""
        return decode_binary(self.binary or "", self.binary_encoding)

    def identity(self) -> str:
        key = _registry_identity(self.hive, self.key, self.view)
        return f"{key}\\{self.value_name.lower()}" if self.value_name else f"{key}\\(default)"


#: Which data field each value type takes.
VALUE_FIELD: dict[RegistryValueType, str] = {
    RegistryValueType.REG_SZ: "data",
    RegistryValueType.REG_EXPAND_SZ: "data",
    RegistryValueType.REG_MULTI_SZ: "multiData",
    RegistryValueType.REG_DWORD: "number",
    RegistryValueType.REG_QWORD: "number",
    RegistryValueType.REG_BINARY: "binary",
}


def decode_binary(text: str, encoding: BinaryEncoding) -> bytes:
    try:
        if encoding is BinaryEncoding.HEX:
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"binary is not valid {encoding.value}: {exc}") from None


def encode_binary(data: bytes, encoding: BinaryEncoding) -> str:
    if encoding is BinaryEncoding.HEX:
        return data.hex()
    return base64.b64encode(data).decode("ascii")


# --- WindowsFeature ---------------------------------------------------------------------------


class WindowsFeatureProperties(ResourceProperties):
    """A Windows Server role or feature (Install-WindowsFeature), e.g. Web-Server."""

    key_fields: ClassVar[tuple[str, ...]] = ("name",)

    name: str = Field(
        description="Feature name as Get-WindowsFeature lists it, e.g. Web-Server, "
        "Web-Asp-Net45; case-insensitive.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    )
    include_sub_features: bool = Field(
        default=False,
        alias="includeSubFeatures",
        description="Install every sub-feature too; drift if any sub-feature is missing.",
    )
    include_management_tools: bool = Field(
        default=False,
        alias="includeManagementTools",
        description="Install the feature's management tools too (applied on install only: "
        "Windows does not record which tools belong to a feature).",
    )
    source: str | None = Field(
        default=None,
        description=r"Side-by-side store for features removed from the image, e.g. "
        r"\\fileserver\sxs or D:\sources\sxs.",
        max_length=PATH_MAX_LENGTH,
        pattern=WINDOWS_PATH_PATTERN,
    )

    def identity(self) -> str:
        return f"feature:{self.name.lower()}"


# --- MsiPackage -------------------------------------------------------------------------------


_MSI_RULES = [
    {
        "rule": "self.ensure == 'absent' || "
        "(has(self.path) ? 1 : 0) + (has(self.source) ? 1 : 0) == 1",
        "message": "set exactly one of path and source to install",
    },
]


class MsiPackageProperties(ResourceProperties):
    """A Windows Installer package, detected by its product code, installed or removed silently."""

    key_fields: ClassVar[tuple[str, ...]] = ("product_code",)

    model_config = ConfigDict(json_schema_extra=cel(*_MSI_RULES))

    product_code: str = Field(
        alias="productCode",
        description="ProductCode GUID of the package, with braces; the package counts as "
        "installed when Windows Installer knows this product.",
        pattern=GUID_PATTERN,
    )
    path: str | None = Field(
        default=None,
        description=r"Local or UNC path of the .msi, e.g. \\fileserver\pkgs\app-2.1.msi.",
        max_length=PATH_MAX_LENGTH,
        pattern=WINDOWS_PATH_PATTERN,
    )
    source: RemoteSource | None = Field(
        default=None, description="URL of the .msi and its sha256, checked before installing."
    )
    arguments: list[str] = Field(
        default_factory=list,
        description="Extra msiexec arguments, e.g. INSTALLDIR=C:\\App ADDLOCAL=ALL; /qn "
        "/norestart and logging are always added.",
        max_length=64,
    )
    log_path: str | None = Field(
        default=None,
        alias="logPath",
        description="Where to keep the verbose msiexec log; the tail of the log is reported "
        "when the install fails. Default: a file in the agent's temp directory.",
        max_length=PATH_MAX_LENGTH,
        pattern=WINDOWS_PATH_PATTERN,
    )

    @model_validator(mode="after")
    def _one_source(self) -> MsiPackageProperties:
        count = (self.path is not None) + (self.source is not None)
        if self.ensure is Ensure.PRESENT and count != 1:
            raise ValueError("set exactly one of path and source to install")
        return self

    def identity(self) -> str:
        return f"msi:{self.product_code.upper()}"

    def touches(self) -> list[str]:
        paths = [p for p in (self.path, self.log_path) if p is not None]
        return [self.identity(), *(f"path:{p}" for p in paths)]


# --- ScheduledTask ----------------------------------------------------------------------------


class TaskAction(_Part):
    """The program the task runs."""

    execute: str = Field(
        description="Program to run, e.g. powershell.exe.", min_length=1, max_length=PATH_MAX_LENGTH
    )
    arguments: str | None = Field(
        default=None, description="Command-line arguments.", max_length=8192
    )
    working_directory: str | None = Field(
        default=None,
        alias="workingDirectory",
        description="Working directory.",
        max_length=PATH_MAX_LENGTH,
    )


class TriggerType(StrEnum):
    ONCE = "Once"
    DAILY = "Daily"
    WEEKLY = "Weekly"
    AT_STARTUP = "AtStartup"
    AT_LOG_ON = "AtLogOn"


class Weekday(StrEnum):
    SUNDAY = "Sunday"
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"


class TaskTrigger(_Part):
    """When the task runs."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(self.type in ['Once', 'Daily', 'Weekly']) || has(self.at)",
                    "message": "Once, Daily and Weekly triggers need at",
                },
            ]
        }
    )

    type: TriggerType = Field(description="Once, Daily, Weekly, AtStartup or AtLogOn.")
    at: str | None = Field(
        default=None,
        description="Local start time, HH:MM (24-hour) or an ISO 8601 date-time for Once.",
        pattern=r"^(\d{4}-\d{2}-\d{2}T)?([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$",
    )
    days_interval: int | None = Field(
        default=None, alias="daysInterval", ge=1, le=365, description="Daily: every N days."
    )
    days_of_week: list[Weekday] | None = Field(
        default=None, alias="daysOfWeek", max_length=7, description="Weekly: on these days."
    )

    @model_validator(mode="after")
    def _needs_time(self) -> TaskTrigger:
        timed = {TriggerType.ONCE, TriggerType.DAILY, TriggerType.WEEKLY}
        if self.type in timed and self.at is None:
            raise ValueError(f"a {self.type.value} trigger needs at")
        return self


class RunLevel(StrEnum):
    LIMITED = "Limited"
    HIGHEST = "Highest"


class TaskPrincipal(_Part):
    """Who the task runs as."""

    user_id: str = Field(
        default="SYSTEM",
        alias="userId",
        description=r"Account, e.g. SYSTEM, NT AUTHORITY\NetworkService or a gMSA "
        r"(DOMAIN\name$); password accounts are not supported.",
        max_length=ACCOUNT_MAX_LENGTH,
    )
    run_level: RunLevel = Field(
        default=RunLevel.LIMITED, alias="runLevel", description="Limited or Highest."
    )


class ScheduledTaskProperties(ResourceProperties):
    """A Task Scheduler task: one action, one trigger, a principal."""

    key_fields: ClassVar[tuple[str, ...]] = ("path", "name")

    name: str = Field(
        description="Task name; case-insensitive.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[^\\/]+$",
    )
    path: str = Field(
        default="\\",
        description=r"Task folder, starting and ending with a backslash, e.g. \Contoso\.",
        pattern=r"^\\([^\\]+\\)*$",
        max_length=1024,
    )
    description: str | None = Field(default=None, description="Task description.", max_length=2048)
    action: TaskAction | None = Field(
        default=None, description="What the task runs; required unless ensure is absent."
    )
    trigger: TaskTrigger | None = Field(default=None, description="When the task runs.")
    principal: TaskPrincipal | None = Field(default=None, description="Who the task runs as.")
    enabled: bool = Field(default=True, description="Whether the task is enabled.")

    @model_validator(mode="after")
    def _needs_action(self) -> ScheduledTaskProperties:
        if self.ensure is Ensure.PRESENT and self.action is None:
            raise ValueError("a present task needs action")
        return self

    def identity(self) -> str:
        return f"task:{self.path.lower()}{self.name.lower()}"


# --- IIS --------------------------------------------------------------------------------------


class PipelineMode(StrEnum):
    INTEGRATED = "Integrated"
    CLASSIC = "Classic"


class AppPoolIdentity(StrEnum):
    APPLICATION_POOL_IDENTITY = "ApplicationPoolIdentity"
    NETWORK_SERVICE = "NetworkService"
    LOCAL_SERVICE = "LocalService"
    LOCAL_SYSTEM = "LocalSystem"
    SPECIFIC_USER = "SpecificUser"


class IisState(StrEnum):
    STARTED = "Started"
    STOPPED = "Stopped"


class IisAppPoolProperties(ResourceProperties):
    """An IIS application pool."""

    key_fields: ClassVar[tuple[str, ...]] = ("name",)

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.identityType) && self.identityType == 'SpecificUser') "
                    "== (has(self.userName) && has(self.password))",
                    "message": "identityType SpecificUser needs userName and password, "
                    "and only it takes them",
                }
            ]
        }
    )
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    name: str = Field(
        description="Pool name; case-insensitive.",
        min_length=1,
        max_length=64,
        pattern=r"^[^/\\\[\]:|<>+=;,?*'\"]+$",
    )
    managed_runtime_version: str | None = Field(
        default=None,
        alias="managedRuntimeVersion",
        description='CLR version: "v4.0", "v2.0", or "" for No Managed Code.',
        pattern=r"^(v4\.0|v2\.0|)$",
    )
    managed_pipeline_mode: PipelineMode | None = Field(
        default=None, alias="managedPipelineMode", description="Integrated or Classic."
    )
    identity_type: AppPoolIdentity | None = Field(
        default=None,
        alias="identityType",
        description="ApplicationPoolIdentity, NetworkService, LocalService, LocalSystem or "
        "SpecificUser.",
    )
    user_name: str | None = Field(
        default=None,
        alias="userName",
        description=r"SpecificUser account, DOMAIN\user.",
        max_length=ACCOUNT_MAX_LENGTH,
    )
    password: SecretKeyRef | None = Field(
        default=None, description="SpecificUser password, from a Secret."
    )
    state: IisState | None = Field(default=None, description="Started or Stopped.")

    @model_validator(mode="after")
    def _user(self) -> IisAppPoolProperties:
        specific = self.identity_type is AppPoolIdentity.SPECIFIC_USER
        if specific != (self.user_name is not None and self.password is not None):
            raise ValueError(
                "identityType SpecificUser needs userName and password, and only it takes them"
            )
        return self

    def identity(self) -> str:
        return f"iis-apppool:{self.name.lower()}"


class BindingProtocol(StrEnum):
    HTTP = "http"
    HTTPS = "https"


class SiteBinding(_Part):
    """One IIS site binding (protocol, IP, port, host header, TLS certificate)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(self.protocol == 'https') == has(self.certificateThumbprint)",
                    "message": "https bindings need certificateThumbprint, http bindings take none",
                }
            ]
        }
    )

    protocol: BindingProtocol = Field(default=BindingProtocol.HTTP, description="http or https.")
    ip_address: str = Field(
        default="*",
        alias="ipAddress",
        description="IP address to listen on, or * for all.",
        max_length=45,
    )
    port: int = Field(description="TCP port.", ge=1, le=65535)
    host_name: str = Field(
        default="",
        alias="hostName",
        description="Host header; empty matches any host.",
        max_length=253,
    )
    certificate_thumbprint: str | None = Field(
        default=None,
        alias="certificateThumbprint",
        description="SHA-1 thumbprint of the certificate in certificateStoreName (https only).",
        pattern=THUMBPRINT_PATTERN,
    )
    certificate_store_name: str = Field(
        default="My",
        alias="certificateStoreName",
        description="LocalMachine certificate store: My or WebHosting.",
        pattern=r"^(My|WebHosting)$",
    )
    require_sni: bool = Field(
        default=False, alias="requireSni", description="https: select the certificate by SNI."
    )

    @model_validator(mode="after")
    def _cert(self) -> SiteBinding:
        if (self.protocol is BindingProtocol.HTTPS) != (self.certificate_thumbprint is not None):
            raise ValueError("https bindings need certificateThumbprint, http bindings take none")
        return self

    def information(self) -> str:
        """IIS's bindingInformation string, ip:port:host."""
        return f"{self.ip_address}:{self.port}:{self.host_name}"


class IisSiteProperties(ResourceProperties):
    """An IIS web site: bindings, physical path, application pool and state."""

    key_fields: ClassVar[tuple[str, ...]] = ("name",)

    name: str = Field(
        description="Site name; case-insensitive.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[^/\\]+$",
    )
    physical_path: str | None = Field(
        default=None,
        alias="physicalPath",
        description=r"Content root, e.g. C:\inetpub\web; "
        "required to create the site.",
        max_length=PATH_MAX_LENGTH,
        pattern=WINDOWS_PATH_PATTERN,
    )
    app_pool: str | None = Field(
        default=None,
        alias="appPool",
        description="Application pool of the root application.",
        max_length=64,
    )
    bindings: list[SiteBinding] | None = Field(
        default=None,
        description="The site's full set of bindings (others are removed).",
        max_length=64,
    )
    state: IisState | None = Field(default=None, description="Started or Stopped.")

    def identity(self) -> str:
        return f"iis-site:{self.name.lower()}"

    def touches(self) -> list[str]:
        extra = [f"path:{self.physical_path}"] if self.physical_path else []
        return [self.identity(), *extra]


# --- FirewallRule -----------------------------------------------------------------------------


class Direction(StrEnum):
    INBOUND = "Inbound"
    OUTBOUND = "Outbound"


class FirewallAction(StrEnum):
    ALLOW = "Allow"
    BLOCK = "Block"


class FirewallProfile(StrEnum):
    DOMAIN = "Domain"
    PRIVATE = "Private"
    PUBLIC = "Public"


_PORT_PATTERN = r"^([0-9]{1,5}(-[0-9]{1,5})?|RPC|RPCEPMap|IPHTTPSIn|PlayToDiscovery)$"


class FirewallRuleProperties(ResourceProperties):
    """A Windows Defender Firewall rule (New-NetFirewallRule), identified by its rule name."""

    key_fields: ClassVar[tuple[str, ...]] = ("name",)

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.localPorts) || (has(self.protocol) && "
                    "(self.protocol == 'TCP' || self.protocol == 'UDP'))",
                    "message": "localPorts need protocol TCP or UDP",
                    "fieldPath": ".localPorts",
                }
            ]
        }
    )

    name: str = Field(
        description="Rule name (the unique ID, not the display name); case-insensitive.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[^|]+$",
    )
    display_name: str | None = Field(
        default=None,
        alias="displayName",
        description="Name shown in wf.msc.",
        max_length=NAME_MAX_LENGTH,
    )
    direction: Direction | None = Field(default=None, description="Inbound or Outbound.")
    action: FirewallAction | None = Field(default=None, description="Allow or Block.")
    protocol: str | None = Field(
        default=None,
        description="TCP, UDP, ICMPv4, ICMPv6, Any, or a protocol number 0-255.",
        pattern=r"^(TCP|UDP|ICMPv4|ICMPv6|Any|[0-9]{1,3})$",
    )
    local_ports: list[str] | None = Field(
        default=None,
        alias="localPorts",
        description="Ports or ranges, e.g. 80, 443, 8000-8100.",
        max_length=64,
    )
    remote_addresses: list[str] | None = Field(
        default=None,
        alias="remoteAddresses",
        description="Addresses, subnets or ranges, e.g. 10.0.0.0/8, LocalSubnet; unset is Any.",
        max_length=256,
    )
    program: str | None = Field(
        default=None,
        description="Full path of the program the rule applies to.",
        max_length=PATH_MAX_LENGTH,
    )
    profiles: list[FirewallProfile] | None = Field(
        default=None,
        description="Profiles the rule is active in; unset or all three is Any.",
        max_length=3,
    )
    enabled: bool = Field(default=True, description="Whether the rule is enabled.")

    @model_validator(mode="after")
    def _ports(self) -> FirewallRuleProperties:
        if self.local_ports is not None and self.protocol not in ("TCP", "UDP"):
            raise ValueError("localPorts need protocol TCP or UDP")
        return self

    def identity(self) -> str:
        return f"firewall:{self.name.lower()}"


# --- DscResource ------------------------------------------------------------------------------


class DscResourceProperties(ResourceProperties):
    """Any PowerShell DSC v1 resource, run through Invoke-DscResource (WMF 5.1)."""

    key_fields: ClassVar[tuple[str, ...]] = ("module", "name", "properties", "identity_key")
    removable: ClassVar[bool] = False

    runs_code: ClassVar[bool] = True

    module: str = Field(
        description="Module holding the resource, e.g. ComputerManagementDsc.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    )
    name: str = Field(
        description="Resource name, e.g. TimeZone.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_]*$",
    )
    version: str | None = Field(
        default=None,
        description="Exact module version, e.g. 9.0.0; unset takes the newest installed.",
        pattern=r"^[0-9]+(\.[0-9]+){1,3}$",
    )
    properties: dict[str, Any] = Field(
        description="The resource's properties, as Invoke-DscResource -Property takes them. "
        "Whether they are in the desired state is the resource's own Test method's answer.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    identity_key: str | None = Field(
        default=None,
        alias="identityKey",
        description="What this resource manages, for conflict detection between resources; "
        "default: the module, name and properties.",
        max_length=1024,
    )

    @model_validator(mode="after")
    def _present(self) -> DscResourceProperties:
        if self.ensure is Ensure.ABSENT:
            raise ValueError(
                "ensure: absent is not supported; set the DSC resource's own Ensure property"
            )
        return self

    def identity(self) -> str:
        if self.identity_key:
            return f"dsc:{self.identity_key}"
        props = json.dumps(self.properties, sort_keys=True, default=str)
        return f"dsc:{self.module.lower()}/{self.name.lower()}:{props}"
