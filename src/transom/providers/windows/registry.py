"""RegistryKey, RegistryValue and machine EnvironmentVariable (a registry value plus a
WM_SETTINGCHANGE broadcast)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api import conditions as c
from transom.api.resources.environment import EnvironmentVariableProperties
from transom.api.resources.windows import (
    VALUE_FIELD,
    BinaryEncoding,
    RegistryKeyProperties,
    RegistryValueProperties,
    RegistryValueType,
    encode_binary,
)
from transom.engine.provider import Change, Context, ProviderError, SetOutcome, State, WatchTarget
from transom.providers.windows import facade as f
from transom.providers.windows._common import WindowsProvider, os_call, present, unsupported
from transom.providers.windows.facade import WindowsApiError

_TYPE_CODES: dict[RegistryValueType, int] = {
    RegistryValueType.REG_SZ: f.REG_SZ,
    RegistryValueType.REG_EXPAND_SZ: f.REG_EXPAND_SZ,
    RegistryValueType.REG_MULTI_SZ: f.REG_MULTI_SZ,
    RegistryValueType.REG_DWORD: f.REG_DWORD,
    RegistryValueType.REG_QWORD: f.REG_QWORD,
    RegistryValueType.REG_BINARY: f.REG_BINARY,
}
_TYPE_NAMES = {code: name for name, code in _TYPE_CODES.items()}
_QWORD_SPAN = 2**64


def registry_target(hive: str, key: str, view: int) -> WatchTarget:
    return WatchTarget("registry", f"{hive}\\{key}@{view}")


def _view(props: RegistryKeyProperties | RegistryValueProperties) -> f.View:
    return 32 if props.view.value == "32" else 64


def _hive(props: RegistryKeyProperties | RegistryValueProperties) -> f.Hive:
    return props.hive.value


def _query(
    os: f.WindowsFacade,
    hive: f.Hive,
    key: str,
    name: str,
    view: f.View,
) -> tuple[f.RegData, int] | None:
    try:
        return os.reg_query_value(hive, key, name, view)
    except WindowsApiError as exc:
        if exc.winerror == f.ERROR_FILE_NOT_FOUND:
            return None
        raise


class RegistryKeyProvider(WindowsProvider[RegistryKeyProperties]):
    kind = "RegistryKey"

    def get(self, desired: RegistryKeyProperties, ctx: Context) -> State:
        with os_call(f"open {desired.hive.value}\\{desired.key}"):
            return present(self.os.reg_key_exists(_hive(desired), desired.key, _view(desired)))

    def set(
        self, desired: RegistryKeyProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        hive, view, key = _hive(desired), _view(desired), desired.key
        with os_call(f"create {hive}\\{key}"):
            self.os.reg_create_key(hive, key, view)
        return SetOutcome()

    def delete(self, desired: RegistryKeyProperties, ctx: Context) -> SetOutcome:
        hive, view, key = _hive(desired), _view(desired), desired.key
        with os_call(f"delete {hive}\\{key}"):
            if not desired.recurse_delete and self.os.reg_has_subkeys(hive, key, view):
                raise ProviderError(
                    f"{hive}\\{key} has subkeys; set recurseDelete to delete them too",
                    c.WINDOWS_API_FAILED,
                )
            self.os.reg_delete_key(hive, key, view, recursive=desired.recurse_delete)
        return SetOutcome()

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        return bool(desired == actual)

    def watch_targets(self, desired: RegistryKeyProperties) -> list[WatchTarget]:
        parent = desired.key.rsplit("\\", 1)[0] if "\\" in desired.key else ""
        return [registry_target(desired.hive.value, parent or desired.key, _view(desired))]


def to_wire(value_type: int, data: f.RegData, encoding: BinaryEncoding) -> tuple[str, Any]:
    """A value as RegQueryValueEx returned it -> (type name, data field value)."""
    name = _TYPE_NAMES.get(value_type)
    if name is None:
        # REG_NONE, REG_LINK, ...: still drift from any type we manage.
        return f"REG_TYPE_{value_type}", None
    if name is RegistryValueType.REG_QWORD and isinstance(data, int) and data >= 2**63:
        data -= _QWORD_SPAN
    if name is RegistryValueType.REG_BINARY and isinstance(data, bytes):
        data = encode_binary(data, encoding)
    return name.value, data


def from_wire(props: RegistryValueProperties) -> f.RegData:
    """The desired data as RegSetValueEx takes it."""
    t = props.type
    if t is RegistryValueType.REG_MULTI_SZ:
        return list(props.multi_data or [])
    if t in (RegistryValueType.REG_DWORD, RegistryValueType.REG_QWORD):
        number = props.number or 0
        return number + _QWORD_SPAN if number < 0 else number
    if t is RegistryValueType.REG_BINARY:
        return props.binary_bytes()
    return props.data or ""


class RegistryValueProvider(WindowsProvider[RegistryValueProperties]):
    kind = "RegistryValue"

    def get(self, desired: RegistryValueProperties, ctx: Context) -> State:
        hive, view = _hive(desired), _view(desired)
        with os_call(f"read {hive}\\{desired.key}\\{desired.value_name or '(default)'}"):
            found = _query(self.os, hive, desired.key, desired.value_name, view)
        if found is None:
            return present(False)
        data, value_type = found
        if (
            value_type == f.REG_BINARY
            and desired.binary is not None
            and isinstance(data, bytes)
            and data == desired.binary_bytes()
        ):
            # Same bytes: report them as written, whatever the case of hex or base64 form.
            return {"ensure": "present", "type": "REG_BINARY", "binary": desired.binary}
        type_name, value = to_wire(value_type, data, desired.binary_encoding)
        state: State = {"ensure": "present", "type": type_name}
        if type_name in _TYPE_NAMES_STR:
            state[VALUE_FIELD[RegistryValueType(type_name)]] = value
        return state

    def set(
        self, desired: RegistryValueProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        hive, view, key, name = _hive(desired), _view(desired), desired.key, desired.value_name
        where = f"{hive}\\{key}\\{name or '(default)'}"
        with os_call(f"write {where}"):
            # One RegSetValueEx writes type and data together: never a new type with old data.
            self.os.reg_create_key(hive, key, view)
            self.os.reg_set_value(
                hive, key, name, view, value_type=_TYPE_CODES[desired.type], data=from_wire(desired)
            )
        return SetOutcome()

    def delete(self, desired: RegistryValueProperties, ctx: Context) -> SetOutcome:
        hive, view, key, name = _hive(desired), _view(desired), desired.key, desired.value_name
        with os_call(f"delete {hive}\\{key}\\{name or '(default)'}"):
            self.os.reg_delete_value(hive, key, name, view)
        return SetOutcome()

    def watch_targets(self, desired: RegistryValueProperties) -> list[WatchTarget]:
        return [registry_target(desired.hive.value, desired.key, _view(desired))]


_TYPE_NAMES_STR = frozenset(t.value for t in RegistryValueType)


ENVIRONMENT_KEY = r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"


class EnvironmentVariableProvider(WindowsProvider[EnvironmentVariableProperties]):
    """Machine scope: the Session Manager\\Environment value, as System Properties writes it."""

    kind = "EnvironmentVariable"

    def get(self, desired: EnvironmentVariableProperties, ctx: Context) -> State:
        unsupported(desired.model_dump(), ("file",), "EnvironmentVariable")
        with os_call(f"read machine environment variable {desired.name}"):
            found = _query(self.os, "HKLM", ENVIRONMENT_KEY, desired.name, 64)
        if found is None or not isinstance(found[0], str):
            return present(False)
        return {"ensure": "present", "value": found[0]}

    def set(
        self, desired: EnvironmentVariableProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"write machine environment variable {desired.name}"):
            value = desired.value or ""
            # REG_EXPAND_SZ when it refers to other variables, as Windows' own editor does;
            # otherwise %X% would reach programs unexpanded.
            kind = f.REG_EXPAND_SZ if "%" in value else f.REG_SZ
            self.os.reg_set_value(
                "HKLM", ENVIRONMENT_KEY, desired.name, 64, value_type=kind, data=value
            )
            self.os.broadcast_environment_change()
        return SetOutcome()

    def delete(self, desired: EnvironmentVariableProperties, ctx: Context) -> SetOutcome:
        with os_call(f"delete machine environment variable {desired.name}"):
            self.os.reg_delete_value("HKLM", ENVIRONMENT_KEY, desired.name, 64)
            self.os.broadcast_environment_change()
        return SetOutcome()

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        return bool(desired == actual)

    def watch_targets(self, desired: EnvironmentVariableProperties) -> list[WatchTarget]:
        return [registry_target("HKLM", ENVIRONMENT_KEY, 64)]
