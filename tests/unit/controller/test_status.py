"""Status aggregation: a Configuration's status from its hosts, as Flux (kstatus) reads it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.controller.fleets import GENERATION, STATES, fleets, view
from transom.api import conditions as c
from transom.api import kstatus
from transom.api.configuration import MAX_FAILING_HOSTS, ConfigurationStatus
from transom.controller.hostview import HostView
from transom.controller.rollout import plan
from transom.controller.status import aggregate, stalled

PREVIOUS = [
    ConfigurationStatus(),
    stalled(ConfigurationStatus(), GENERATION - 1, c.INVALID_SPEC, "was invalid"),
]


def judged(status: ConfigurationStatus) -> kstatus.Status:
    obj = {
        "kind": "Configuration",
        "metadata": {"generation": GENERATION},
        "status": status.model_dump(mode="json", by_alias=True),
    }
    return kstatus.compute(obj).status


def check(
    previous: ConfigurationStatus, hosts: list[HostView], mf: int, *, suspended: bool = False
) -> ConfigurationStatus:
    p = plan(GENERATION, hosts, [], 1, mf, suspended=suspended)
    s = aggregate(previous, GENERATION, "main@sha1:abc", hosts, p, suspended=suspended)
    ready = [h for h in hosts if h.succeeded(GENERATION)]
    failed = [h for h in hosts if h.failed(GENERATION)]
    done = len(ready) + len(failed) == len(hosts)
    assert (s.desired, s.ready, s.failed) == (len(hosts), len(ready), len(failed))
    assert s.updated == sum(1 for h in hosts if h.at(GENERATION))
    assert s.summary == f"{len(ready)}/{len(hosts)}"
    assert s.unavailable == len(p.unavailable)
    types = [cond.type for cond in s.conditions]
    assert c.READY in types, "Ready is always present once observed"
    assert not (c.RECONCILING in types and c.STALLED in types)
    assert len(s.failing_hosts) <= MAX_FAILING_HOSTS
    failing = [f.host for f in s.failing_hosts]
    assert (
        failing[: min(len(failed), MAX_FAILING_HOSTS)]
        == [h.name for h in failed][:MAX_FAILING_HOSTS]
    )
    # What Flux concludes: Failed exactly when halted, Current exactly when every host is
    # done (within maxFailures), InProgress otherwise, including while suspended.
    expected = (
        kstatus.Status.FAILED
        if p.halted
        else kstatus.Status.IN_PROGRESS
        if suspended and len(ready) < len(hosts)
        else kstatus.Status.CURRENT
        if done
        else kstatus.Status.IN_PROGRESS
    )
    assert judged(s) is expected, (s, p)
    if expected is kstatus.Status.IN_PROGRESS and not suspended:
        assert s.observed_generation == previous.observed_generation
    if expected is not kstatus.Status.IN_PROGRESS:
        assert s.observed_generation == GENERATION
    return s


@pytest.mark.parametrize("previous", PREVIOUS, ids=["new", "was-stalled"])
@pytest.mark.parametrize("mf", [0, 1])
def test_every_fleet_of_three(previous: ConfigurationStatus, mf: int) -> None:
    for states in itertools.product(itertools.product([True, False], STATES), repeat=3):
        hosts = [view(f"h{i}", online, state) for i, (online, state) in enumerate(states)]
        check(previous, hosts, mf)
        check(previous, hosts, mf, suspended=True)


@given(fleets(max_hosts=30), st.integers(0, 5), st.booleans(), st.sampled_from(PREVIOUS))
def test_aggregation_for_any_fleet(
    hosts: list[HostView], mf: int, suspended: bool, previous: ConfigurationStatus
) -> None:
    check(previous, hosts, mf, suspended=suspended)


def test_no_hosts_selected_is_ready() -> None:
    s = check(ConfigurationStatus(), [], 0)
    ready = c.find_condition(s.conditions, c.READY)
    assert ready is not None and ready.reason == c.NO_HOSTS_SELECTED


def test_a_halt_names_host_resource_and_message() -> None:
    s = check(ConfigurationStatus(), [view("a", True, "failed"), view("b", True, "old")], 0)
    stall = c.find_condition(s.conditions, c.STALLED)
    assert stall is not None and stall.reason == c.ROLLOUT_HALTED
    assert "host a: resource motd: disk full" in stall.message
