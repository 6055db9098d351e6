"""The service readiness probe against a Service Control Manager: the simulated one on Linux,
the real one in the Windows lane (Wine's services.exe, through pywin32) and on a Windows
runner. Three services every SCM has: a builtin that always runs (RpcSs), one the test
creates and never starts, and a name no service has. The SCM's errors for them are compared
between the two facades by code and by the call that fails; the text is FormatMessage's,
localised on Windows (and Wine's own wording), so it is not part of the contract."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from transom.agent.probes.context import ProbeContext
from transom.agent.probes.run import attempt
from transom.api.readiness import Probe
from transom.engine.policy import HostPolicy
from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade

#: Remote Procedure Call: running on every Windows (it cannot be stopped) and in every Wine
#: prefix (services.exe starts it at boot).
ALWAYS_RUNNING = "RpcSs"


def probe(name: str, running_seconds: int = 0) -> Probe:
    return Probe.model_validate(
        {"name": "p", "service": {"name": name, "runningSeconds": running_seconds}}
    )


def session(facade: f.WindowsFacade) -> ProbeContext:
    return ProbeContext(HostPolicy(), facade, applied_at=time.time())


def unknown_name() -> str:
    return f"TransomNoSuch{uuid.uuid4().hex[:8]}"


def winerror(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(f.WindowsApiError) as caught:
        call()
    return caught.value.winerror, caught.value.function


@pytest.fixture
def running(facade: f.WindowsFacade) -> str:
    if isinstance(facade, SimulatedFacade):
        config = f.ServiceConfig(
            binary_path="C:\\Windows\\system32\\svchost.exe -k rpcss",
            start_type=f.SERVICE_AUTO_START,
        )
        facade.add_service(ALWAYS_RUNNING, config, running=True)
    return ALWAYS_RUNNING


@pytest.fixture
def stopped(facade: f.WindowsFacade) -> Iterator[str]:
    """A service created for the test and never started; deleted afterwards."""
    name = f"TransomProbe{uuid.uuid4().hex[:8]}"
    config = f.ServiceConfig(
        binary_path="C:\\Windows\\System32\\cmd.exe /c exit 0",
        start_type=f.SERVICE_DEMAND_START,
        display_name="Transom probe test",
    )
    facade.service_create(name, config, None)
    yield name
    facade.service_delete(name)


async def test_a_running_service_passes_once_it_has_run_for_running_seconds(
    facade: f.WindowsFacade, running: str
) -> None:
    probing = session(facade)
    check = probe(running, running_seconds=1)
    assert await attempt(check, probing, 5) == (False, f"service {running} running for 0 of 1 s")
    since = probing.running_since[running]
    while time.monotonic() < since + 1:  # the probe's own clock, not a guess at it
        await asyncio.sleep(0.05)
    assert await attempt(check, probing, 5) == (True, f"service {running} running")
    # Service names are case-insensitive in every SCM.
    assert (await attempt(probe(running.lower()), session(facade), 5))[0]


async def test_a_stopped_service_fails_naming_it_and_its_state(
    facade: f.WindowsFacade, stopped: str
) -> None:
    probing = session(facade)
    assert await attempt(probe(stopped), probing, 5) == (False, f"service {stopped} is Stopped")
    assert stopped not in probing.running_since


async def test_an_unknown_service_fails_saying_it_is_not_installed(
    facade: f.WindowsFacade,
) -> None:
    name = unknown_name()
    ok, message = await attempt(probe(name), session(facade), 5)
    assert not ok
    assert message == (
        f"service {name} is not installed (Win32 error 1060; the probe takes the service "
        "name, not its display name)"
    )


def test_the_scm_answers_as_windows_does(facade: f.WindowsFacade, stopped: str) -> None:
    """What the simulated SCM must say as the real one does, for the probe and the Service
    provider alike."""
    name = unknown_name()
    no_service = (f.ERROR_SERVICE_DOES_NOT_EXIST, "OpenService")
    assert winerror(lambda: facade.service_state(name)) == no_service
    assert winerror(lambda: facade.service_query(name)) == no_service
    assert winerror(lambda: facade.service_start(name)) == no_service
    assert facade.service_state(stopped.upper()) == f.SERVICE_STOPPED
    assert winerror(lambda: facade.service_stop(stopped)) == (
        f.ERROR_SERVICE_NOT_ACTIVE,
        "ControlService",
    )
    config = f.ServiceConfig(binary_path="C:\\x.exe", start_type=f.SERVICE_DEMAND_START)
    assert winerror(lambda: facade.service_create(stopped.lower(), config, None)) == (
        f.ERROR_SERVICE_EXISTS,
        "CreateService",
    )


async def test_a_stop_restarts_the_count(sim: SimulatedFacade) -> None:
    """Simulated only: the test starts and stops the service, which needs a service program
    (the real SCM's start and stop run in tests/bundle/test_service_on_wine.py)."""
    sim.service_create(
        "W3SVC",
        f.ServiceConfig(binary_path="C:\\svc\\app.exe", start_type=f.SERVICE_AUTO_START),
        None,
    )
    probing = session(sim)
    sim.service_start("W3SVC")
    ok, message = await attempt(probe("W3SVC"), probing, 1)
    assert (ok, message) == (False, "service W3SVC is StartPending")
    assert await attempt(probe("W3SVC"), probing, 1) == (True, "service W3SVC running")
    assert await attempt(probe("W3SVC", running_seconds=60), probing, 1) == (
        False,
        "service W3SVC running for 0 of 60 s",
    )
    sim.service_stop("W3SVC")
    assert await attempt(probe("W3SVC"), probing, 1) == (False, "service W3SVC is StopPending")
    assert await attempt(probe("W3SVC"), probing, 1) == (False, "service W3SVC is Stopped")
    assert "W3SVC" not in probing.running_since
