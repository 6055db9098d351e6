"""Which hosts get the new generation next, and which may reboot: maxUnavailable, partitions
with their gates (approval, pause), maintenance windows, maxFailures and the reboot budget.

Pure functions of what the cluster says and the time, so the policy is tested exhaustively
without a cluster. The reconciler gathers the inputs (`Stage`s with their approvals, each
host's window `Verdict`, the reboot leases) and carries the `Plan` out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from transom.api import conditions as c
from transom.api.windows import ALWAYS, Verdict
from transom.controller.hostview import HostView


def resolve(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent against a host count: percentages of unavailability round up (as
    DaemonSets do), percentages of tolerated failures round down (the cautious side)."""
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


@dataclass(frozen=True)
class Stage:
    """A partition in rollout order, and what holds it before its first host starts."""

    name: str
    hosts: frozenset[str]
    #: approval: Manual, and no Approval of this generation for it yet.
    needs_approval: bool = False
    pause_seconds: float = 0.0


@dataclass(frozen=True)
class RebootLimits:
    max_rebooting: int | str
    deadline_seconds: float
    #: A change that may reboot needs this much left in the host's window to start.
    expected_seconds: float = 0.0


@dataclass(frozen=True)
class Wait:
    """Why the rollout does not go further now."""

    #: c.WAITING_FOR_APPROVAL, c.PAUSED or c.WAITING_FOR_WINDOW.
    reason: str
    #: The partition held ("" for hosts held by their windows).
    partition: str = ""
    hosts: tuple[str, ...] = ()
    #: When it may go on (epoch seconds): a pause's end, a window's opening; None: unknown.
    until: float | None = None


@dataclass(frozen=True)
class Plan:
    #: Hosts to write the new generation to now.
    assign: tuple[str, ...]
    #: Hosts updating or offline (failed hosts count toward maxFailures instead).
    unavailable: tuple[str, ...]
    failed: tuple[str, ...]
    halted: bool
    max_unavailable: int
    max_failures: int
    waits: tuple[Wait, ...] = ()
    #: Hosts asking to reboot that get a reboot lease now.
    grant_reboots: tuple[str, ...] = ()
    #: Hosts holding a reboot lease.
    rebooting: tuple[str, ...] = ()
    #: Hosts holding their reboot lease past the deadline: they halt the rollout.
    overdue: tuple[str, ...] = ()
    max_rebooting: int = 0
    #: When a pause ends, a window opens or a reboot deadline passes: reconcile again then.
    next_check: float | None = None
    #: Hosts not assigned now because their window is closed, with their verdicts.
    held: Mapping[str, Verdict] = field(default_factory=dict)


def plan(
    generation: int,
    hosts: Sequence[HostView],
    stages: Sequence[Stage],
    max_unavailable: int | str,
    max_failures: int | str,
    *,
    suspended: bool = False,
    now: float = 0.0,
    windows: Mapping[str, Verdict] | None = None,
    reboot_windows: Mapping[str, Verdict] | None = None,
    reboot: RebootLimits | None = None,
) -> Plan:
    """Decide the next wave. ``stages`` lists partitions in rollout order; hosts in none form
    a last partition. A partition starts only when every host before it is done, its pause
    since then is over and, if it needs one, it is approved; a host starts only when its
    window (``windows``, per host; open when absent) is open. A reboot lease goes to a host
    that asks for one while its ``reboot_windows`` verdict (room for a reboot; ``windows``
    when absent) is open and the budget has room."""
    windows = windows or {}
    total = len(hosts)
    budget_cap = max(1, resolve(max_unavailable, total, round_up=True))
    tolerated = resolve(max_failures, total, round_up=False)
    failed = tuple(h.name for h in hosts if h.failed(generation))
    unavailable = tuple(
        h.name
        for h in hosts
        if not h.failed(generation)
        and (not h.online or (h.at(generation) and not h.done(generation)))
    )
    reboots = _reboots(hosts, reboot, reboot_windows or windows, now)
    # A host that rolled back proved the generation bad: no other host gets it, whatever
    # maxFailures tolerates; so does a host that took its reboot lease and is not back.
    halted = (
        len(failed) > tolerated
        or any(h.rolled_back and h.failed(generation) for h in hosts)
        or bool(reboots.overdue)
    )
    checks = list(reboots.checks)
    base = Plan(
        (),
        unavailable,
        failed,
        halted,
        budget_cap,
        tolerated,
        grant_reboots=() if halted else reboots.grant,
        rebooting=reboots.holding,
        overdue=reboots.overdue,
        max_rebooting=reboots.cap,
    )
    if halted or suspended:
        return _with_checks(base, checks)

    budget = budget_cap - len(unavailable)
    chosen: list[str] = []
    waits: list[Wait] = []
    held: dict[str, Verdict] = {}
    previous_done_at = 0.0
    for stage, wave in _waves(hosts, stages):
        started = any(h.at(generation) for h in wave)
        pending = [h for h in wave if not h.at(generation)]
        if pending and not started:
            gate = _gate(stage, previous_done_at, now)
            if gate is not None:
                waits.append(gate)
                if gate.until is not None:
                    checks.append(gate.until)
                break
        # Assigned, but their agents hold it for their windows (a host offline through its
        # window, or a clock that disagrees): they wait as the hosts not assigned yet do.
        window_held = [
            h.name
            for h in wave
            if h.at(generation) and h.waiting_for_window and not h.done(generation)
        ]
        for h in pending:
            verdict = windows.get(h.name, ALWAYS)
            if not verdict.open:
                held[h.name] = verdict
                window_held.append(h.name)
                if verdict.opens_at is not None:
                    checks.append(verdict.opens_at.timestamp())
                continue
            if budget <= 0:
                break
            # An offline host that needs the update is already unavailable: it costs nothing
            # more to assign it now, and it converges as soon as it is back.
            if h.online:
                budget -= 1
            chosen.append(h.name)
        if window_held:
            opens = [
                t.timestamp()
                for n in window_held
                if (t := held.get(n, windows.get(n, ALWAYS)).opens_at) is not None
            ]
            waits.append(
                Wait(c.WAITING_FOR_WINDOW, stage.name, tuple(window_held), min(opens, default=None))
            )
        if any(not h.done(generation) for h in wave):
            break  # the next partition waits for this one
        previous_done_at = max(
            [previous_done_at, *(h.finished_at or 0.0 for h in wave)], default=0.0
        )
    planned = Plan(
        tuple(chosen),
        unavailable,
        failed,
        halted,
        budget_cap,
        tolerated,
        waits=tuple(waits),
        grant_reboots=base.grant_reboots,
        rebooting=base.rebooting,
        overdue=base.overdue,
        max_rebooting=base.max_rebooting,
        held=held,
    )
    return _with_checks(planned, checks)


def _gate(stage: Stage, previous_done_at: float, now: float) -> Wait | None:
    """What holds a partition none of whose hosts has started, if anything."""
    if stage.needs_approval:
        return Wait(c.WAITING_FOR_APPROVAL, stage.name, tuple(sorted(stage.hosts)))
    if stage.pause_seconds > 0 and previous_done_at > 0:
        until = previous_done_at + stage.pause_seconds
        if now < until:
            return Wait(c.PAUSED, stage.name, tuple(sorted(stage.hosts)), until)
    return None


@dataclass(frozen=True)
class _Reboots:
    grant: tuple[str, ...] = ()
    holding: tuple[str, ...] = ()
    overdue: tuple[str, ...] = ()
    cap: int = 0
    checks: tuple[float, ...] = ()


def _reboots(
    hosts: Sequence[HostView],
    limits: RebootLimits | None,
    windows: Mapping[str, Verdict],
    now: float,
) -> _Reboots:
    """Reboot leases: who holds one, who held one too long, who gets one now. A host counts
    against the budget from its grant until its agent releases the lease, back and
    re-applied; a host past the deadline keeps its lease, so the budget stays spent."""
    holding = tuple(h.name for h in hosts if h.reboot_since is not None)
    if limits is None:
        return _Reboots(holding=holding)
    cap = max(1, resolve(limits.max_rebooting, len(hosts), round_up=False))
    overdue = tuple(
        h.name
        for h in hosts
        if h.reboot_since is not None and now - h.reboot_since > limits.deadline_seconds
    )
    checks = [
        h.reboot_since + limits.deadline_seconds
        for h in hosts
        if h.reboot_since is not None and h.name not in overdue
    ]
    free = cap - len(holding)
    grant: list[str] = []
    for h in sorted(hosts, key=lambda h: h.name):
        if not h.reboot_requested or h.reboot_since is not None or not h.online:
            continue
        verdict = windows.get(h.name, ALWAYS)
        if not verdict.open:
            if verdict.opens_at is not None:
                checks.append(verdict.opens_at.timestamp())
            continue
        if free <= 0:
            break
        grant.append(h.name)
        free -= 1
    return _Reboots(tuple(grant), holding, overdue, cap, tuple(checks))


def _with_checks(p: Plan, checks: Sequence[float]) -> Plan:
    return replace(p, next_check=min(checks, default=None))


def _waves(
    hosts: Sequence[HostView], stages: Sequence[Stage]
) -> list[tuple[Stage, list[HostView]]]:
    by_name = {h.name: h for h in hosts}
    seen: set[str] = set()
    waves: list[tuple[Stage, list[HostView]]] = []
    for stage in stages:
        members = sorted(n for n in stage.hosts if n in by_name and n not in seen)
        seen.update(members)
        if members:
            waves.append((stage, [by_name[n] for n in members]))
    rest = sorted(n for n in by_name if n not in seen)
    if rest:
        waves.append((Stage("", frozenset(rest)), [by_name[n] for n in rest]))
    return waves
