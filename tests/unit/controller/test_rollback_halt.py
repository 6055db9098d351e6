"""A host that rolled back halts the rollout whatever maxFailures tolerates, and the
Configuration says which host and why, in Flux's terms (Stalled, so kstatus Failed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.controller.fleets import GENERATION, STATES, view
from transom.api import conditions as c
from transom.api import kstatus
from transom.api.configuration import ConfigurationStatus
from transom.controller.hostview import Failure, HostView
from transom.controller.rollout import Stage, plan
from transom.controller.status import aggregate

MESSAGE = "rolled back from generation 5 to generation 4: probe site (http): returned 500"


def rolled_back(name: str, reason: str = c.ROLLED_BACK) -> HostView:
    return HostView(
        name=name,
        online=True,
        assigned=GENERATION,
        applied=GENERATION,
        failure=Failure("", reason, MESSAGE),
        rolled_back=True,
    )


def judged(status: ConfigurationStatus) -> kstatus.Status:
    obj = {
        "metadata": {"generation": GENERATION},
        "status": status.model_dump(mode="json", by_alias=True),
    }
    return kstatus.compute(obj).status


@pytest.mark.parametrize("reason", [c.ROLLING_BACK, c.ROLLED_BACK])
def test_one_rollback_halts_even_when_failures_are_tolerated(reason: str) -> None:
    hosts = [rolled_back("a", reason), view("b", True, "old"), view("c", True, "old")]
    stages = [Stage("first", frozenset({"a"})), Stage("second", frozenset({"b"}))]
    p = plan(GENERATION, hosts, stages, 3, "100%")
    assert p.halted and p.assign == ()
    status = aggregate(ConfigurationStatus(), GENERATION, "main@sha1:bad", hosts, p)
    ready = c.find_condition(status.conditions, c.READY)
    stalled = c.find_condition(status.conditions, c.STALLED)
    assert ready is not None and ready.status == "False" and ready.reason == reason
    assert stalled is not None and stalled.reason == reason
    assert "host a" in stalled.message and "returned 500" in stalled.message
    assert status.failing_hosts[0].host == "a" and status.failing_hosts[0].reason == reason
    assert judged(status) is kstatus.Status.FAILED


def test_probe_failure_without_rollback_is_named_probe_failed() -> None:
    failed = HostView(
        name="a",
        online=True,
        assigned=GENERATION,
        applied=GENERATION,
        failure=Failure("", c.PROBE_FAILED, "probe site (http): connection refused"),
    )
    hosts = [failed, view("b", True, "old")]
    p = plan(GENERATION, hosts, [], 1, 0)
    status = aggregate(ConfigurationStatus(), GENERATION, "", hosts, p)
    stalled = c.find_condition(status.conditions, c.STALLED)
    assert p.halted and stalled is not None and stalled.reason == c.PROBE_FAILED


@given(st.lists(st.sampled_from(STATES), max_size=8), st.integers(0, 7), st.integers(0, 8))
def test_no_new_host_gets_a_generation_a_host_rolled_back(
    states: list[str], where: int, tolerated: int
) -> None:
    hosts = [view(f"h{i}", True, s) for i, s in enumerate(states)]
    hosts.insert(min(where, len(hosts)), rolled_back("bad"))
    p = plan(GENERATION, hosts, [], len(hosts), tolerated)
    assert p.halted and p.assign == ()
