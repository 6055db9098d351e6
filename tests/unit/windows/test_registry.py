"""RegistryKey, RegistryValue and machine EnvironmentVariable."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transom.providers.windows import facade as f
from transom.providers.windows.facade import WindowsFacade
from transom.providers.windows.registry import ENVIRONMENT_KEY
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import apply, converges, engine

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=40
)


def value(key: str, name: str = "Setting", **props: Any) -> dict[str, Any]:
    return {"name": "v", "registryValue": {"key": key, "valueName": name, **props}}


_VALUES = st.one_of(
    st.builds(lambda s: {"type": "REG_SZ", "data": s}, _TEXT),
    st.builds(lambda s: {"type": "REG_EXPAND_SZ", "data": s}, _TEXT),
    st.builds(
        lambda items: {"type": "REG_MULTI_SZ", "multiData": items},
        st.lists(_TEXT.filter(bool), max_size=5),
    ),
    st.builds(lambda n: {"type": "REG_DWORD", "number": n}, st.integers(0, 2**32 - 1)),
    st.builds(lambda n: {"type": "REG_QWORD", "number": n}, st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda b: {"type": "REG_BINARY", "binary": b.hex()}, st.binary(max_size=32)),
    st.builds(
        lambda b: {
            "type": "REG_BINARY",
            "binary": base64.b64encode(b).decode(),
            "binaryEncoding": "base64",
        },
        st.binary(max_size=32),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=_VALUES, second=_VALUES, view=st.sampled_from(["32", "64"]))
def test_every_type_round_trips_and_is_idempotent(
    facade: WindowsFacade, reg_key: str, first: dict[str, Any], second: dict[str, Any], view: str
) -> None:
    eng = engine(facade)
    # Each value in turn, over whatever the last example left: type changes included.
    converges(eng, value(reg_key, view=view, **first))
    report = converges(eng, value(reg_key, view=view, **second))
    if first == second:
        assert not report.changed


def test_views_are_separate_and_32_bit_lands_under_wow6432node(
    facade: WindowsFacade, reg_key: str
) -> None:
    eng = engine(facade)
    converges(eng, value(reg_key, view="32", type="REG_DWORD", number=32))
    converges(eng, value(reg_key, view="64", type="REG_DWORD", number=64))
    assert facade.reg_query_value("HKLM", reg_key, "Setting", 32) == (32, f.REG_DWORD)
    assert facade.reg_query_value("HKLM", reg_key, "Setting", 64) == (64, f.REG_DWORD)
    wow = reg_key.replace("SOFTWARE\\", "SOFTWARE\\WOW6432Node\\", 1)
    assert facade.reg_query_value("HKLM", wow, "Setting", 64) == (32, f.REG_DWORD)


def test_names_are_case_insensitive(facade: WindowsFacade, reg_key: str) -> None:
    eng = engine(facade)
    converges(eng, value(reg_key, name="Level", type="REG_SZ", data="a"))
    report = apply(eng, value(reg_key.upper(), name="LEVEL", type="REG_SZ", data="a"))
    assert not report.changed and report.in_desired_state


def test_wrong_type_is_drift_and_is_rewritten(facade: WindowsFacade, reg_key: str) -> None:
    facade.reg_create_key("HKLM", reg_key, 64)
    facade.reg_set_value("HKLM", reg_key, "Setting", 64, value_type=f.REG_SZ, data="1")
    eng = engine(facade)
    report = converges(eng, value(reg_key, type="REG_DWORD", number=1))
    assert report.changed
    assert [d.prop for d in report.results[0].diff] == ["type"]
    assert facade.reg_query_value("HKLM", reg_key, "Setting", 64) == (1, f.REG_DWORD)


def test_absent_value_and_key(facade: WindowsFacade, reg_key: str) -> None:
    eng = engine(facade)
    converges(eng, value(reg_key, data="x"))
    converges(eng, value(reg_key, ensure="absent"))
    converges(eng, {"name": "k", "registryKey": {"key": f"{reg_key}\\Child"}})
    report = apply(eng, {"name": "k", "registryKey": {"key": reg_key, "ensure": "absent"}})
    assert report.failed and "recurseDelete" in report.results[0].message
    converges(
        eng,
        {"name": "k", "registryKey": {"key": reg_key, "ensure": "absent", "recurseDelete": True}},
    )
    assert not facade.reg_key_exists("HKLM", reg_key, 64)


def test_simulation_keeps_winreg_read_semantics(sim: SimulatedFacade) -> None:
    sim.reg_create_key("HKLM", "SOFTWARE\\X", 64)
    sim.reg_set_value("HKLM", "SOFTWARE\\X", "s", 64, value_type=f.REG_SZ, data="ab\0cd")
    sim.reg_set_value(
        "HKLM", "SOFTWARE\\X", "m", 64, value_type=f.REG_MULTI_SZ, data=["a", "", "b"]
    )
    assert sim.reg_query_value("HKLM", "SOFTWARE\\X", "s", 64) == ("ab", f.REG_SZ)
    assert sim.reg_query_value("HKLM", "SOFTWARE\\X", "m", 64) == (["a"], f.REG_MULTI_SZ)
    for bad_type, bad in (
        (f.REG_DWORD, 2**32),
        (f.REG_DWORD, -1),
        (f.REG_QWORD, 2**64),
        (f.REG_SZ, 1),
        (f.REG_BINARY, "00"),
    ):
        with pytest.raises(f.WindowsApiError) as caught:
            sim.reg_set_value("HKLM", "SOFTWARE\\X", "v", 64, value_type=bad_type, data=bad)
        assert caught.value.winerror == f.ERROR_INVALID_PARAMETER


def test_access_denied_maps_to_reason(sim: SimulatedFacade) -> None:
    sim.protect("HKLM\\SOFTWARE\\Policies")
    report = apply(engine(sim), value("SOFTWARE\\Policies\\Contoso", data="x"))
    assert report.failed
    assert report.results[0].reason == "AccessDenied"
    assert "Access is denied" in report.results[0].message


def test_dword_out_of_range_is_rejected_before_the_os(sim: SimulatedFacade) -> None:
    from transom.api.errors import SpecError

    with pytest.raises(SpecError, match="REG_DWORD"):
        apply(engine(sim), value("SOFTWARE\\X", type="REG_DWORD", number=2**32))
    with pytest.raises(SpecError, match="takes number"):
        apply(engine(sim), value("SOFTWARE\\X", type="REG_DWORD", data="1"))


def test_machine_environment_variable(facade: WindowsFacade) -> None:
    eng = engine(facade)
    name = "TRANSOM_TEST_VAR"
    try:
        converges(
            eng, {"name": "e", "environmentVariable": {"name": name, "value": "%SystemRoot%\\x"}}
        )
        assert facade.reg_query_value("HKLM", ENVIRONMENT_KEY, name, 64) == (
            "%SystemRoot%\\x",
            f.REG_EXPAND_SZ,
        )
        converges(eng, {"name": "e", "environmentVariable": {"name": name, "value": "plain"}})
        assert facade.reg_query_value("HKLM", ENVIRONMENT_KEY, name, 64)[1] == f.REG_SZ
    finally:
        converges(eng, {"name": "e", "environmentVariable": {"name": name, "ensure": "absent"}})
    if isinstance(facade, SimulatedFacade):
        assert facade.environment_broadcasts == 3
