"""Service: configuration, run state through pending states, recovery, errors, secrets."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import Secrets, apply, converges, engine

PASSWORD = "s3cr3t-Pa55word!"
SECRETS = Secrets({("svc-account", "password"): PASSWORD.encode()})


def service(**props: Any) -> dict[str, Any]:
    return {"name": "svc", "service": {"name": "TransomTest", **props}}


def existing(
    sim: SimulatedFacade,
    *,
    start_type: int = f.SERVICE_DEMAND_START,
    running: bool = False,
    crashes: bool = False,
) -> None:
    sim.add_service(
        "TransomTest",
        f.ServiceConfig(
            binary_path="C:\\svc.exe", start_type=start_type, display_name="Transom test"
        ),
        running=running,
        crashes=crashes,
    )


def test_create_configure_start(sim: SimulatedFacade) -> None:
    eng = engine(sim)
    converges(
        eng,
        service(
            binaryPath="C:\\svc.exe --serve",
            displayName="Test",
            startType="AutomaticDelayedStart",
            state="Running",
            description="A test service",
        ),
    )
    config, state = sim.service_query("TransomTest")
    assert state == f.SERVICE_RUNNING
    assert (config.start_type, config.delayed_auto_start) == (f.SERVICE_AUTO_START, True)
    assert config.binary_path == "C:\\svc.exe --serve"


def test_only_drifted_settings_change(sim: SimulatedFacade) -> None:
    existing(sim, running=True)
    eng = engine(sim)
    report = converges(eng, service(startType="Automatic", state="Running"))
    assert [d.prop for d in report.results[0].diff] == ["startType"]
    assert sim.service_query("TransomTest")[1] == f.SERVICE_RUNNING


def test_stop_goes_through_stop_pending(sim: SimulatedFacade) -> None:
    existing(sim, running=True)
    sim.pending_polls = 3
    converges(engine(sim), service(state="Stopped"))
    assert sim.service_query("TransomTest")[1] == f.SERVICE_STOPPED


def test_name_is_case_insensitive(sim: SimulatedFacade) -> None:
    existing(sim)
    report = apply(
        engine(sim), {"name": "svc", "service": {"name": "transomtest", "startType": "Manual"}}
    )
    assert report.in_desired_state and not report.changed


def test_starting_a_disabled_service_fails_with_reason(sim: SimulatedFacade) -> None:
    existing(sim, start_type=f.SERVICE_DISABLED)
    with pytest.raises(f.WindowsApiError) as caught:
        sim.service_start("TransomTest")
    assert caught.value.winerror == f.ERROR_SERVICE_DISABLED
    # Through the provider: the engine sees Running drift and the start fails.
    report = apply(engine(sim), service(state="Running"))
    assert report.failed
    assert report.results[0].reason == "ServiceDisabled"


def test_enabling_and_starting_in_one_run(sim: SimulatedFacade) -> None:
    existing(sim, start_type=f.SERVICE_DISABLED)
    converges(engine(sim), service(startType="Manual", state="Running"))


def test_a_service_that_dies_on_start_is_reported(sim: SimulatedFacade) -> None:
    existing(sim, crashes=True)
    report = apply(engine(sim), service(state="Running"))
    assert report.failed
    assert report.results[0].reason == "ServiceStartFailed"


def test_marked_for_delete(sim: SimulatedFacade) -> None:
    existing(sim, running=True)
    sim.service_delete("TransomTest")
    report = apply(engine(sim), service(displayName="New"))
    assert report.failed
    assert report.results[0].reason == "ServiceMarkedForDelete"


def test_remove_stops_then_deletes(sim: SimulatedFacade) -> None:
    existing(sim, running=True)
    converges(engine(sim), service(ensure="absent"))
    with pytest.raises(f.WindowsApiError) as caught:
        sim.service_query("TransomTest")
    assert caught.value.winerror == f.ERROR_SERVICE_DOES_NOT_EXIST


def test_recovery_actions(sim: SimulatedFacade) -> None:
    existing(sim)
    recovery = {
        "resetPeriodSeconds": 3600,
        "command": "C:\\notify.cmd",
        "actions": [
            {"type": "Restart", "delaySeconds": 5},
            {"type": "Restart", "delaySeconds": 30},
            {"type": "RunCommand", "delaySeconds": 0},
        ],
    }
    converges(engine(sim), service(recovery=recovery))
    actions = sim.service_query_failure_actions("TransomTest")
    assert actions.actions == (
        (f.SC_ACTION_RESTART, 5000),
        (f.SC_ACTION_RESTART, 30000),
        (f.SC_ACTION_RUN_COMMAND, 0),
    )


def test_account_password_is_set_and_never_shown(
    sim: SimulatedFacade, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    existing(sim)
    eng = engine(sim, SECRETS)
    props = {"account": "CONTOSO\\svc-web", "password": {"name": "svc-account", "key": "password"}}
    report = converges(eng, service(**props))
    assert sim.service_password("TransomTest") == PASSWORD
    assert PASSWORD not in json.dumps(report.to_json())
    # A later account change sets the password again: Windows cannot read it back to compare.
    sim.service_change("TransomTest", account="LocalSystem")
    drift = apply(eng, service(**props))
    assert drift.changed
    assert PASSWORD not in json.dumps(drift.to_json())
    assert PASSWORD not in caplog.text


def test_account_aliases_are_equal(sim: SimulatedFacade) -> None:
    existing(sim)
    sim.service_change("TransomTest", account="NT AUTHORITY\\NetworkService")
    report = apply(engine(sim), service(account="nt authority\\network service"))
    assert not report.changed and report.in_desired_state


def test_rebooter_tells_boots_apart(sim: SimulatedFacade) -> None:
    from transom.providers.windows.reboot import WindowsRebooter

    sim.reboot_pending = True
    rebooter = WindowsRebooter(sim)
    before = rebooter.boot_id()
    rebooter.reboot("Transom: Web-Server installed")
    assert rebooter.boot_id() != before
    assert sim.reboot_reasons == ["Transom: Web-Server installed"] and not sim.reboot_pending


_START_TYPES = {
    "Automatic": f.SERVICE_AUTO_START,
    "Manual": f.SERVICE_DEMAND_START,
    "Disabled": f.SERVICE_DISABLED,
}


@settings(max_examples=80, deadline=None)
@given(
    start=st.sampled_from(sorted(_START_TYPES)),
    running=st.booleans(),
    pending_polls=st.integers(0, 3),
    want_start=st.sampled_from(["Automatic", "AutomaticDelayedStart", "Manual", "Disabled"]),
    want_state=st.sampled_from(["Running", "Stopped"]),
)
def test_any_state_converges_to_any_valid_desired_state(
    start: str, running: bool, pending_polls: int, want_start: str, want_state: str
) -> None:
    assume(not (want_start == "Disabled" and want_state == "Running"))
    sim = SimulatedFacade(pending_polls=pending_polls)
    sim.add_service(
        "TransomTest",
        f.ServiceConfig("C:\\svc.exe", _START_TYPES[start]),
        running=running and start != "Disabled",
    )
    converges(engine(sim), service(startType=want_start, state=want_state))
    config, state = sim.service_query("TransomTest")
    assert state == (f.SERVICE_RUNNING if want_state == "Running" else f.SERVICE_STOPPED)
    assert config.delayed_auto_start == (want_start == "AutomaticDelayedStart")


@pytest.mark.wine_lacks(
    "QueryServiceConfig2(SERVICE_CONFIG_DELAYED_AUTO_START_INFO) fails with error 124"
)
def test_configuration_round_trip_on_any_facade(facade: f.WindowsFacade) -> None:
    """Runs on the real facade too: a Disabled service that is never started."""
    name = f"TransomTest{uuid.uuid4().hex[:8]}"
    eng = engine(facade)
    base = {
        "name": name,
        "binaryPath": "C:\\Windows\\System32\\cmd.exe /c exit 0",
        "displayName": "Transom test",
        "description": "Created by Transom's tests",
        "startType": "Disabled",
        "recovery": {
            "resetPeriodSeconds": 600,
            "actions": [{"type": "Restart", "delaySeconds": 5}],
        },
    }
    try:
        converges(eng, {"name": "svc", "service": base})
        with pytest.raises(f.WindowsApiError) as caught:
            facade.service_start(name)
        assert caught.value.winerror == f.ERROR_SERVICE_DISABLED
        report = converges(
            eng,
            {"name": "svc", "service": {**base, "startType": "Manual", "displayName": "Renamed"}},
        )
        assert sorted(d.prop for d in report.results[0].diff) == ["displayName", "startType"]
    finally:
        converges(eng, {"name": "svc", "service": {"name": name, "ensure": "absent"}})
