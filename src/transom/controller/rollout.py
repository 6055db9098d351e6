"""Which hosts get the new generation next: maxUnavailable, partitions, maxFailures.

Pure functions, so the policy is tested exhaustively without a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from transom.controller.hostview import HostView


def resolve(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent against a host count: percentages of unavailability round up (as
    DaemonSets do), percentages of tolerated failures round down (the cautious side)."""
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


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


def plan(
    generation: int,
    hosts: Sequence[HostView],
    partitions: Sequence[frozenset[str]],
    max_unavailable: int | str,
    max_failures: int | str,
    *,
    suspended: bool = False,
) -> Plan:
    """Decide the next wave. ``partitions`` lists host-name sets in rollout order; hosts in
    none form a last partition. A partition starts only when every host before it is done."""
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
    # A host that rolled back proved the generation bad: no other host gets it, whatever
    # maxFailures tolerates.
    halted = len(failed) > tolerated or any(h.rolled_back and h.failed(generation) for h in hosts)
    if halted or suspended:
        return Plan((), unavailable, failed, halted, budget_cap, tolerated)

    budget = budget_cap - len(unavailable)
    chosen: list[str] = []
    for wave in _waves(hosts, partitions):
        pending = [h for h in wave if not h.at(generation)]
        for h in pending:
            if budget <= 0:
                break
            # An offline host that needs the update is already unavailable: it costs nothing
            # more to assign it now, and it converges as soon as it is back.
            if h.online:
                budget -= 1
            chosen.append(h.name)
        if any(not h.done(generation) for h in wave):
            break  # the next partition waits for this one
    return Plan(tuple(chosen), unavailable, failed, halted, budget_cap, tolerated)


def _waves(hosts: Sequence[HostView], partitions: Sequence[frozenset[str]]) -> list[list[HostView]]:
    by_name = {h.name: h for h in hosts}
    seen: set[str] = set()
    waves: list[list[HostView]] = []
    for part in partitions:
        members = sorted(n for n in part if n in by_name and n not in seen)
        seen.update(members)
        if members:
            waves.append([by_name[n] for n in members])
    rest = sorted(n for n in by_name if n not in seen)
    if rest:
        waves.append([by_name[n] for n in rest])
    return waves
