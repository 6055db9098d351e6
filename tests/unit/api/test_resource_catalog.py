"""The resource catalog is the one place a type is registered: every entry resolves to a model
and, on each of its platforms, a provider; nothing defines a type the catalog does not list;
and every type's key fields build the absent twin that removes the same object."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import transom.api.resources
import transom.providers
from transom.api.resources import (
    RESOURCE_TYPES,
    TYPES,
    Ensure,
    Platform,
    ResourceProperties,
    ResourceType,
    absent_twin,
    parse_resource,
)
from transom.api.resources.catalog import BY_KIND, load
from transom.engine.provider import Provider
from transom.providers.posix import posix_providers
from transom.providers.windows import facade as windows_facade
from transom.providers.windows import providers as windows_providers
from transom.providers.windows.simulated import SimulatedFacade
from transom.providers.windows.win32 import Win32Facade

#: One valid example of every type, with non-key fields set so the twin has to drop them.
SAMPLES: dict[str, dict[str, Any]] = {
    "file": {"path": "/etc/app.conf", "content": "x", "mode": "0640"},
    "directory": {"path": "/srv/app", "mode": "0755", "recurseDelete": True},
    "archive": {"path": "/srv/app", "source": "/tmp/a.zip", "sha256": "a" * 64, "clean": True},
    "environmentVariable": {"name": "JAVA_HOME", "value": "/opt/java", "file": "/etc/env"},
    "command": {"test": "true", "set": "true"},
    "service": {"name": "W3SVC", "startType": "Automatic", "state": "Running"},
    "registryKey": {"hive": "HKU", "key": "SOFTWARE\\Contoso", "view": "32"},
    "registryValue": {
        "hive": "HKLM",
        "key": "SOFTWARE\\Contoso",
        "valueName": "Level",
        "view": "32",
        "type": "REG_DWORD",
        "number": 3,
    },
    "windowsFeature": {"name": "Web-Server", "includeSubFeatures": True},
    "msiPackage": {
        "productCode": "{12345678-1234-1234-1234-123456789ABC}",
        "path": "C:\\pkgs\\app.msi",
    },
    "scheduledTask": {
        "name": "Backup",
        "path": "\\Contoso\\",
        "action": {"execute": "backup.exe"},
    },
    "iisAppPool": {"name": "web", "managedPipelineMode": "Integrated"},
    "iisSite": {"name": "web", "physicalPath": "C:\\inetpub\\web", "state": "Started"},
    "firewallRule": {"name": "web-in", "direction": "Inbound", "protocol": "TCP"},
    "dscResource": {"module": "ComputerManagementDsc", "name": "TimeZone", "properties": {}},
}


def _modules(package: Any) -> list[Any]:
    return [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]


def test_every_type_resolves_to_a_model_and_a_provider_on_each_platform() -> None:
    posix = posix_providers()
    windows = windows_providers(SimulatedFacade())
    for t in TYPES:
        model = t.load_model()
        assert issubclass(model, ResourceProperties), t.kind
        assert (model.kind, model.platforms) == (t.kind, t.platforms)
        assert RESOURCE_TYPES[t.member] is model
        for platform, built in ((Platform.POSIX, posix), (Platform.WINDOWS, windows)):
            if platform in t.platforms:
                provider = built[t.kind]
                assert isinstance(provider, load(t.providers[platform])), (t.kind, platform)
                assert provider.kind == t.kind
            else:
                assert t.kind not in built
    assert set(posix) == {t.kind for t in TYPES if Platform.POSIX in t.platforms}
    assert set(windows) == {t.kind for t in TYPES if Platform.WINDOWS in t.platforms}


def test_nothing_defines_a_type_the_catalog_does_not_list() -> None:
    # A model or provider added without its catalog entry (or the reverse) fails here.
    models = {
        f"{cls.__module__}:{cls.__qualname__}"
        for module in _modules(transom.api.resources)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ResourceProperties)
        and cls is not ResourceProperties
        and cls.__module__ == module.__name__
    }
    assert models == {t.model for t in TYPES}
    named = {ref for t in TYPES for ref in t.providers.values()}
    providers = {
        f"{cls.__module__}:{cls.__qualname__}"
        for module in _modules(transom.providers)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Provider)
        and not inspect.isabstract(cls)
        and cls.__module__ == module.__name__
    }
    assert providers == named


_WINDOWS_TYPES = [t for t in TYPES if Platform.WINDOWS in t.platforms]


@pytest.mark.parametrize("t", _WINDOWS_TYPES, ids=[t.kind for t in _WINDOWS_TYPES])
def test_windows_providers_call_only_the_facade_parts_they_declare(t: ResourceType) -> None:
    parts = [getattr(windows_facade, name) for name in t.facade]
    assert all(p in windows_facade.WindowsFacade.__mro__ for p in parts), t.facade
    allowed = {name for p in parts for name in vars(p) if not name.startswith("_")}
    for facade in (Win32Facade, SimulatedFacade):
        assert all(callable(getattr(facade, name, None)) for name in allowed), facade
    provider = load(t.providers[Platform.WINDOWS])
    called = set(re.findall(r"self\.os\.(\w+)", inspect.getsource(provider)))
    assert called <= allowed, (t.kind, called - allowed)


def test_every_removable_type_has_a_delete_on_each_platform() -> None:
    for t in TYPES:
        removable = t.load_model().removable
        for platform, ref in t.providers.items():
            overrides = load(ref).delete is not Provider.delete
            assert overrides == removable, (t.kind, platform)


def test_every_type_has_a_sample_and_declares_its_own_key_fields() -> None:
    assert set(SAMPLES) == {t.member for t in TYPES}
    for t in TYPES:
        model = t.load_model()
        assert "key_fields" in vars(model), f"{t.kind} declares no key_fields"
        assert model.key_fields and set(model.key_fields) <= set(model.model_fields), t.kind


@pytest.mark.parametrize("member", sorted(SAMPLES))
def test_absent_twin_removes_the_same_object(member: str) -> None:
    props = parse_resource({"name": "r", member: SAMPLES[member]}, "r").properties
    twin = absent_twin(props)
    if not type(props).removable:
        assert twin is None
        return
    assert twin is not None and type(twin) is type(props)
    assert twin.ensure is Ensure.ABSENT
    assert twin.identity() == props.identity()
    # Only the key fields survive: nothing that would re-create or reconfigure the object.
    kept = twin.model_dump(exclude_defaults=True)
    assert set(kept) <= {*type(props).key_fields, "ensure"}
    # The twin is a valid document resource, as the agent records it in its journal.
    wire = {"name": "r", member: twin.model_dump(mode="json", by_alias=True, exclude_defaults=True)}
    assert parse_resource(wire, "r").properties == twin


_NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,20}", fullmatch=True)


@given(
    hive=st.sampled_from(["HKLM", "HKU", "HKCR", "HKCC"]),
    key=st.lists(_NAME, min_size=1, max_size=4).map("\\".join),
    value_name=st.one_of(st.just(""), _NAME),
    view=st.sampled_from(["32", "64"]),
    number=st.integers(0, 2**32 - 1),
)
def test_registry_value_twin_names_the_same_value(
    hive: str, key: str, value_name: str, view: str, number: int
) -> None:
    props = RESOURCE_TYPES["registryValue"].model_validate(
        {
            "hive": hive,
            "key": key,
            "valueName": value_name,
            "view": view,
            "type": "REG_DWORD",
            "number": number,
        }
    )
    twin = absent_twin(props)
    assert twin is not None and twin.identity() == props.identity()


@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
    file=st.one_of(st.none(), st.from_regex(r"/[a-z]{1,8}(/[a-z]{1,8}){0,3}", fullmatch=True)),
    value=st.text(max_size=20),
)
def test_environment_twin_keeps_its_file(name: str, file: str | None, value: str) -> None:
    props = RESOURCE_TYPES["environmentVariable"].model_validate(
        {"name": name, "file": file, "value": value}
    )
    twin = absent_twin(props)
    assert twin is not None and twin.identity() == props.identity()
    assert BY_KIND["EnvironmentVariable"].load_model() is type(props)
