"""Windows provider tests run against a facade: the simulated one everywhere, the real one on
a Windows runner with TRANSOM_FACADE=win32 (see .github/workflows/windows.yml).

Tests that take ``facade`` run on both; tests that take ``sim`` need the simulation's knobs
(injected failures, MSI packages, features that want a reboot) and run only simulated.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from transom.api.resources import Resource, parse_resources
from transom.engine.converge import Engine
from transom.engine.provider import ProviderError
from transom.engine.result import RunReport
from transom.providers.windows import providers
from transom.providers.windows.facade import View, WindowsFacade
from transom.providers.windows.simulated import SimulatedFacade

REAL = os.environ.get("TRANSOM_FACADE") == "win32"


class Secrets:
    def __init__(self, values: Mapping[tuple[str, str], bytes] | None = None) -> None:
        self.values = dict(values or {})

    def resolve(self, name: str, key: str) -> bytes:
        try:
            return self.values[(name, key)]
        except KeyError:
            raise ProviderError(f"no secret {name}/{key}", "SecretNotFound") from None


def fresh_sim() -> SimulatedFacade:
    """A simulated Server 2016 with the IIS management scripts (the WebAdministration module)
    the IIS tests need; without them the IIS resources fail, as on Windows."""
    sim = SimulatedFacade(pending_polls=1)
    sim.add_feature("Web-Scripting-Tools", installed=True)
    return sim


@pytest.fixture
def facade() -> Iterator[WindowsFacade]:
    if not REAL:
        yield fresh_sim()
        return
    if os.name != "nt":
        pytest.skip("TRANSOM_FACADE=win32 needs Windows")
    from transom.providers.windows.win32 import Win32Facade

    real = Win32Facade()
    yield real
    real.close()


@pytest.fixture
def sim() -> SimulatedFacade:
    return fresh_sim()


@pytest.fixture
def root(facade: WindowsFacade) -> str:
    """A directory the test may write in."""
    if REAL:
        return tempfile.mkdtemp(prefix="transom-")
    facade.dir_create("C:\\TransomTest")
    return "C:\\TransomTest"


@pytest.fixture
def reg_key(facade: WindowsFacade) -> Iterator[str]:
    """A fresh registry key under HKLM\\SOFTWARE, removed afterwards."""
    key = f"SOFTWARE\\TransomTest\\{uuid.uuid4().hex[:8]}"
    yield key
    views: tuple[View, ...] = (32, 64)
    for view in views:
        if facade.reg_key_exists("HKLM", key, view):
            facade.reg_delete_key("HKLM", key, view, recursive=True)


def engine(facade: WindowsFacade, secrets: Secrets | None = None) -> Engine:
    eng = Engine(providers(facade), secrets=secrets or Secrets())
    # The simulation settles pending states after one query: no need to sleep between polls.
    eng.providers["Service"].poll_interval = 0.0  # type: ignore[attr-defined]
    return eng


def doc(*items: Mapping[str, Any]) -> list[Resource]:
    return parse_resources([dict(i) for i in items])


def apply(eng: Engine, *items: Mapping[str, Any]) -> RunReport:
    return eng.apply(doc(*items))


def converges(eng: Engine, *items: Mapping[str, Any]) -> RunReport:
    """Apply, then check that the host is in the desired state and a second run is a no-op."""
    first = eng.apply(doc(*items))
    assert not first.failed, first.to_json()["results"]
    assert first.in_desired_state, first.to_json()["results"]
    second = eng.apply(doc(*items))
    assert not second.changed, second.to_json()["results"]
    assert eng.test(doc(*items)).in_desired_state
    return first
