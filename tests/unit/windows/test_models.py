"""The Windows resource models: the checks the CRD's CEL rules mirror, identities, schema."""

from __future__ import annotations

from typing import Any

import pytest

from transom.api.errors import SpecError
from transom.api.resources import RESOURCE_TYPES, Platform, parse_resource

PRODUCT = "{6F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9}"

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("service", {"name": "x", "password": {"name": "s", "key": "k"}}, "password needs account"),
    ("service", {"name": "x", "startType": "Disabled", "state": "Running"}, "Disabled"),
    ("registryValue", {"key": "SOFTWARE\\X", "type": "REG_DWORD", "data": "1"}, "takes number"),
    ("registryValue", {"key": "SOFTWARE\\X", "type": "REG_QWORD", "number": 2**63}, "number"),
    ("registryValue", {"key": "SOFTWARE\\X", "type": "REG_BINARY", "binary": "0g"}, "hex"),
    (
        "registryValue",
        {"key": "SOFTWARE\\X", "type": "REG_MULTI_SZ", "multiData": ["a", ""]},
        "empty",
    ),
    ("registryValue", {"key": "\\SOFTWARE\\X", "data": "x"}, "pattern"),
    ("registryValue", {"key": "SOFTWARE\\X", "data": "a\0b"}, "NUL"),
    ("msiPackage", {"productCode": PRODUCT}, "path and source"),
    ("msiPackage", {"productCode": "6F1E2D3C", "path": "C:\\a.msi"}, "pattern"),
    (
        "iisSite",
        {"name": "x", "bindings": [{"protocol": "https", "port": 443}]},
        "certificateThumbprint",
    ),
    ("iisAppPool", {"name": "x", "identityType": "SpecificUser"}, "SpecificUser"),
    ("firewallRule", {"name": "x", "localPorts": ["80"]}, "TCP or UDP"),
    (
        "scheduledTask",
        {"name": "x", "action": {"execute": "a"}, "trigger": {"type": "Daily"}},
        "needs at",
    ),
    ("scheduledTask", {"name": "x"}, "needs action"),
    ("dscResource", {"module": "M", "name": "R", "properties": {}, "ensure": "absent"}, "Ensure"),
    ("service", {"name": "x", "recovery": {"actions": [{"type": "RunCommand"}]}}, "command"),
]


@pytest.mark.parametrize(
    ("member", "props", "message"), BAD, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD)]
)
def test_invalid_properties_name_the_problem(
    member: str, props: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        parse_resource({"name": "r", member: props}, "resources[0]")


def test_identities_are_case_insensitive_and_view_aware() -> None:
    def identity(member: str, props: dict[str, Any]) -> str:
        return parse_resource({"name": "r", member: props}, "").properties.identity()

    assert identity("service", {"name": "W3SVC"}) == identity("service", {"name": "w3svc"})
    value = {"key": "SOFTWARE\\Contoso", "valueName": "Level", "data": "1"}
    assert identity("registryValue", value) == identity(
        "registryValue", {**value, "key": "software\\CONTOSO", "valueName": "LEVEL"}
    )
    assert identity("registryValue", value) != identity("registryValue", {**value, "view": "32"})
    assert identity("registryValue", value) == "registry:HKLM\\software\\contoso@64\\level"


def _bounds(node: Any) -> list[int]:
    if isinstance(node, dict):
        own = [v for k, v in node.items() if k in ("minimum", "maximum") and isinstance(v, int)]
        return own + [b for v in node.values() for b in _bounds(v)]
    if isinstance(node, list):
        return [b for v in node for b in _bounds(v)]
    return []


def test_schema_bounds_survive_the_apiserver() -> None:
    # The apiserver decodes numbers through float64: a bound past 2^53 is no longer an integer
    # there, and every document using the field is rejected.
    windows = [cls for cls in RESOURCE_TYPES.values() if Platform.WINDOWS in cls.platforms]
    assert len(windows) >= 12
    for cls in windows:
        assert all(abs(b) <= 2**53 for b in _bounds(cls.model_json_schema())), cls.kind


def test_dsc_properties_are_free_form_in_the_crd() -> None:
    schema = RESOURCE_TYPES["dscResource"].model_json_schema()
    assert schema["properties"]["properties"]["x-kubernetes-preserve-unknown-fields"] is True


def test_every_windows_type_has_a_provider() -> None:
    from transom.providers.windows import providers
    from transom.providers.windows.simulated import SimulatedFacade

    windows = {cls.kind for cls in RESOURCE_TYPES.values() if Platform.WINDOWS in cls.platforms}
    assert windows == set(providers(SimulatedFacade()))


@pytest.mark.parametrize(
    ("member", "props"),
    [
        ("msiPackage", {"productCode": PRODUCT, "path": "pkgs\\app.msi"}),
        ("msiPackage", {"productCode": PRODUCT, "path": "C:\\a.msi", "logPath": "a.log"}),
        ("iisSite", {"name": "x", "physicalPath": "%SystemDrive%\\inetpub\\x"}),
        ("windowsFeature", {"name": "NET-Framework-Core", "source": "sxs"}),
    ],
)
def test_windows_paths_must_be_absolute(member: str, props: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match="pattern"):
        parse_resource({"name": "r", member: props}, "")
    good = {
        k: ("\\\\files\\share\\x" if isinstance(v, str) and k not in {"name", "productCode"} else v)
        for k, v in props.items()
    }
    parse_resource({"name": "r", member: good}, "")
