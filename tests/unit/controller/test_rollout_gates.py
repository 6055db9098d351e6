"""The rollout planner with every gate at once: partitions needing approval or a pause,
maintenance windows per host, the reboot budget. Properties over any fleet, then examples."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.controller.fleets import (
    GENERATION,
    failures_allowed,
    fleets,
    int_or_percent,
    partitions,
    view,
)
from transom.api import conditions as c
from transom.api.windows import Verdict
from transom.controller.hostview import HostView
from transom.controller.rollout import RebootLimits, Stage, _waves, plan, resolve

NOW = 1_800_000_000.0
LATER = datetime.fromtimestamp(NOW + 600, UTC)


@st.composite
def gated_fleets(draw: st.DrawFn) -> list[HostView]:
    """Fleets whose hosts may ask for a reboot, hold a reboot lease (some for long), and
    have finished at some time."""
    hosts = draw(fleets())
    return [
        dataclasses.replace(
            h,
            reboot_requested=draw(st.booleans()),
            reboot_since=draw(st.sampled_from([None, None, NOW - 10, NOW - 5000])),
            finished_at=draw(st.sampled_from([None, NOW - 100, NOW - 5])),
        )
        for h in hosts
    ]


def verdicts(data: st.DataObject, hosts: list[HostView]) -> dict[str, Verdict]:
    draw = data.draw
    return {
        h.name: Verdict(open=True)
        if draw(st.booleans())
        else Verdict(open=False, opens_at=LATER, reason="outside its Allow windows")
        for h in hosts
        if draw(st.booleans())
    }


@settings(deadline=None)  # timing on a loaded machine is not behaviour
@given(st.data(), gated_fleets(), int_or_percent, failures_allowed, int_or_percent)
def test_no_gate_is_ever_passed(
    data: st.DataObject,
    hosts: list[HostView],
    mu: int | str,
    mf: int | str,
    max_rebooting: int | str,
) -> None:
    stages = data.draw(partitions(hosts, gated=True))
    windows = verdicts(data, hosts)
    reboot_windows = verdicts(data, hosts)
    limits = RebootLimits(max_rebooting, deadline_seconds=600.0)
    p = plan(
        GENERATION,
        hosts,
        stages,
        mu,
        mf,
        now=NOW,
        windows=windows,
        reboot_windows=reboot_windows,
        reboot=limits,
    )
    by_name = {h.name: h for h in hosts}
    total = len(hosts)

    # A reboot lease held past the deadline halts everything, and keeps its budget spent.
    overdue = {h.name for h in hosts if h.reboot_since is not None and NOW - h.reboot_since > 600}
    assert set(p.overdue) == overdue
    if overdue:
        assert p.halted and p.assign == () and p.grant_reboots == ()

    # Never a host outside its window.
    for name in p.assign:
        assert windows.get(name, Verdict(open=True)).open, name
    for name in p.grant_reboots:
        assert reboot_windows.get(name, Verdict(open=True)).open, name

    # Never more than maxUnavailable updating or unready once the plan is carried out (or
    # no more than before, when outages alone exceed it).
    cap = max(1, resolve(mu, total, round_up=True))
    after = set(p.unavailable) | {n for n in p.assign if by_name[n].online}
    assert len(after) <= max(cap, len(p.unavailable))

    # Never progress past an unapproved gate, nor into a partition still pausing.
    waves = _waves(hosts, stages)
    done_at = 0.0
    for i, (stage, wave) in enumerate(waves):
        started = any(h.at(GENERATION) for h in wave)
        paused = stage.pause_seconds > 0 and done_at > 0 and done_at + stage.pause_seconds > NOW
        if not started and (stage.needs_approval or paused):
            later = {h.name for _, w in waves[i:] for h in w}
            assert not later & set(p.assign), (stage, p.assign)
            assert p.halted or any(
                w.partition == stage.name and w.reason in (c.WAITING_FOR_APPROVAL, c.PAUSED)
                for w in p.waits
            )
            break
        if not all(h.done(GENERATION) for h in wave):
            break
        done_at = max([done_at, *(h.finished_at or 0.0 for h in wave)])

    # The reboot budget: grants only to hosts that asked, are online and hold no lease, and
    # never beyond the budget.
    reboot_cap = max(1, resolve(max_rebooting, total, round_up=False))
    assert p.max_rebooting == reboot_cap
    holding = [h.name for h in hosts if h.reboot_since is not None]
    assert set(p.rebooting) == set(holding)
    assert len(p.grant_reboots) <= max(0, reboot_cap - len(holding))
    for name in p.grant_reboots:
        h = by_name[name]
        assert h.reboot_requested and h.online and h.reboot_since is None

    # Whatever waits on time is reconciled again then.
    timed = [w.until for w in p.waits if w.until is not None]
    if timed:
        assert p.next_check is not None and p.next_check <= min(timed)


def test_an_unapproved_partition_holds_and_approval_releases_it() -> None:
    hosts = [dataclasses.replace(view("a", True, "ready"), finished_at=NOW - 1)] + [
        view(n, True, "old") for n in ("b", "c")
    ]
    first, second = Stage("canary", frozenset({"a"})), frozenset({"b", "c"})
    held = plan(
        GENERATION, hosts, [first, Stage("rest", second, needs_approval=True)], "100%", 0, now=NOW
    )
    assert held.assign == ()
    assert [(w.reason, w.partition) for w in held.waits] == [(c.WAITING_FOR_APPROVAL, "rest")]
    released = plan(GENERATION, hosts, [first, Stage("rest", second)], "100%", 0, now=NOW)
    assert released.assign == ("b", "c")


def test_a_pause_counts_from_the_previous_partition_done() -> None:
    hosts = [
        dataclasses.replace(view("a", True, "ready"), finished_at=NOW - 10),
        view("b", True, "old"),
    ]
    stages = [Stage("canary", frozenset({"a"})), Stage("rest", frozenset({"b"}), pause_seconds=30)]
    pausing = plan(GENERATION, hosts, stages, 1, 0, now=NOW)
    assert pausing.assign == ()
    assert pausing.waits[0].reason == c.PAUSED and pausing.waits[0].until == NOW + 20
    assert pausing.next_check == NOW + 20
    assert plan(GENERATION, hosts, stages, 1, 0, now=NOW + 21).assign == ("b",)


def test_hosts_outside_their_window_wait_and_others_go() -> None:
    hosts = [view(n, True, "old") for n in ("a", "b")]
    closed = Verdict(open=False, opens_at=LATER, reason="outside its Allow windows")
    p = plan(GENERATION, hosts, [], "100%", 0, now=NOW, windows={"a": closed})
    assert p.assign == ("b",)
    assert p.waits[0].reason == c.WAITING_FOR_WINDOW and p.waits[0].hosts == ("a",)
    assert p.next_check == LATER.timestamp()


def test_reboot_budget_grants_in_name_order_up_to_the_budget() -> None:
    hosts = [
        dataclasses.replace(view(f"h{i}", True, "applying"), reboot_requested=True)
        for i in range(5)
    ]
    hosts[4] = dataclasses.replace(hosts[4], reboot_requested=False, reboot_since=NOW - 1)
    limits = RebootLimits(2, deadline_seconds=60)
    p = plan(GENERATION, hosts, [], "100%", 0, now=NOW, reboot=limits)
    assert p.rebooting == ("h4",)
    assert p.grant_reboots == ("h0",)
    assert p.next_check == NOW - 1 + 60
    overdue = plan(GENERATION, hosts, [], "100%", 0, now=NOW + 120, reboot=limits)
    assert overdue.halted and overdue.overdue == ("h4",) and overdue.grant_reboots == ()
