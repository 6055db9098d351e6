"""Rollout planning: maxUnavailable, partitions, maxFailures; exhaustively for small fleets,
by property for larger ones."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.controller.fleets import (
    GENERATION,
    STATES,
    failures_allowed,
    fleets,
    int_or_percent,
    partitions,
    view,
)
from transom.controller.hostview import HostView
from transom.controller.rollout import Plan, Stage, _waves, plan, resolve


def check(hosts: list[HostView], parts: list[Stage], mu: int | str, mf: int | str) -> Plan:
    """Plan, and check every invariant the rollout promises."""
    p = plan(GENERATION, hosts, parts, mu, mf)
    by_name = {h.name: h for h in hosts}
    total = len(hosts)
    cap = max(1, resolve(mu, total, round_up=True))
    tolerated = resolve(mf, total, round_up=False)
    failed = [h.name for h in hosts if h.failed(GENERATION)]
    assert p.failed == tuple(failed)
    assert p.halted == (len(failed) > tolerated)
    assert (p.max_unavailable, p.max_failures) == (cap, tolerated)
    # Unavailable: offline, or updating; failed hosts count toward maxFailures instead.
    assert set(p.unavailable) == {
        h.name
        for h in hosts
        if not h.failed(GENERATION)
        and (not h.online or (h.at(GENERATION) and not h.done(GENERATION)))
    }
    assert len(set(p.assign)) == len(p.assign)
    if p.halted:
        assert p.assign == ()
        return p
    for name in p.assign:
        assert not by_name[name].at(GENERATION), "a host is never assigned twice"
    # The budget: online hosts newly assigned never push unavailability past the cap.
    newly_unavailable = [n for n in p.assign if by_name[n].online]
    assert len(newly_unavailable) <= max(0, cap - len(p.unavailable))
    # Partitions in order: a host is assigned only when every earlier partition is done.
    waves = _waves(hosts, parts)
    for i, (_, wave) in enumerate(waves):
        if any(h.name in p.assign for h in wave):
            assert all(h.done(GENERATION) for _, w in waves[:i] for h in w)
    # Progress: with nothing unavailable and something left to do, a wave starts.
    if not p.unavailable and any(not h.at(GENERATION) for h in hosts):
        assert p.assign
    return p


@pytest.mark.parametrize("mu", [1, 2, "50%"])
@pytest.mark.parametrize("mf", [0, 1])
@pytest.mark.parametrize("partitioned", [False, True])
def test_every_fleet_of_three(mu: int | str, mf: int | str, partitioned: bool) -> None:
    parts = (
        [Stage("first", frozenset({"h0"})), Stage("rest", frozenset({"h1", "h2"}))]
        if partitioned
        else []
    )
    for states in itertools.product(itertools.product([True, False], STATES), repeat=3):
        hosts = [view(f"h{i}", online, state) for i, (online, state) in enumerate(states)]
        check(hosts, parts, mu, mf)


@settings(deadline=None)  # timing on a loaded machine is not behaviour
@given(st.data(), fleets(), int_or_percent, failures_allowed)
def test_invariants_hold_for_any_fleet(
    data: st.DataObject, hosts: list[HostView], mu: int | str, mf: int | str
) -> None:
    check(hosts, data.draw(partitions(hosts)), mu, mf)


@given(fleets(), int_or_percent)
def test_suspended_assigns_nothing(hosts: list[HostView], mu: int | str) -> None:
    assert plan(GENERATION, hosts, [], mu, 100, suspended=True).assign == ()


def test_a_fresh_fleet_rolls_in_name_order_within_the_budget() -> None:
    hosts = [view(f"h{i}", True, "old") for i in range(5)]
    assert plan(GENERATION, hosts, [], 2, 0).assign == ("h0", "h1")
    assert plan(GENERATION, hosts, [], "40%", 0).assign == ("h0", "h1")
    assert plan(GENERATION, hosts, [], "100%", 0).assign == tuple(f"h{i}" for i in range(5))


def test_a_failure_beyond_max_failures_halts() -> None:
    hosts = [view("a", True, "failed"), view("b", True, "old")]
    assert plan(GENERATION, hosts, [], 1, 0).halted
    assert plan(GENERATION, hosts, [], 1, 1).assign == ("b",)


@given(st.integers(0, 1000), st.integers(1, 100))
def test_percentages_round_up_for_unavailability_and_down_for_failures(
    total: int, percent: int
) -> None:
    up = resolve(f"{percent}%", total, round_up=True)
    down = resolve(f"{percent}%", total, round_up=False)
    assert down <= percent * total / 100 <= up
    assert up - down <= 1
    assert resolve(percent, total, round_up=True) == percent
