"""A probing session: every probe each periodSeconds until the gate settles (Ready or past
the deadline), telling each change of what the probes say."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from transom.agent.probes.context import ProbeContext
from transom.agent.probes.gate import Gate
from transom.agent.probes.run import attempt
from transom.api.readiness import ProbeResult, Readiness, ReadinessStatus

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _shown(gate: Gate) -> tuple[object, ...]:
    """What a status write would show: a new round that finds the same is no news."""
    return (gate.state, tuple((n, t.passing, t.message) for n, t in gate.probes.items()))


async def probe_until_settled(
    readiness: Readiness,
    ctx: ProbeContext,
    on_change: Callable[[Gate], None],
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> Gate:
    gate = Gate.start(readiness, clock())
    next_round = gate.started
    while True:
        now = clock()
        if now >= next_round:
            outcomes = await asyncio.gather(
                *(attempt(p, ctx, readiness.timeout_seconds) for p in readiness.probes)
            )
            now = clock()
            new = gate.observe(
                now, {p.name: o for p, o in zip(readiness.probes, outcomes, strict=True)}
            )
            # Rounds keep their rhythm; one that overran starts the next at once.
            next_round = max(next_round + readiness.period_seconds, now)
        else:
            new = gate.at(now)
        if _shown(new) != _shown(gate):
            on_change(new)
        gate = new
        if gate.settled:
            return gate
        await sleep(gate.next_wake(now, next_round) - now)


def _wall(monotonic: float, now: float) -> str:
    at = time.time() - (now - monotonic)
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def readiness_status(gate: Gate, now: float) -> ReadinessStatus:
    """The gate as the Assignment's status shows it (times on the wall clock)."""
    kinds = {p.name: p.kind for p in gate.readiness.probes}
    return ReadinessStatus(
        state=gate.state,
        started_at=_wall(gate.started, now),
        deadline_at=_wall(gate.deadline, now),
        passing_since="" if gate.passing_since is None else _wall(gate.passing_since, now),
        message=gate.message()[:1024],
        probes=[
            ProbeResult(
                name=name,
                kind=kinds[name],
                passing=t.passing,
                successes=t.successes,
                failures=t.failures,
                message=t.message,
            )
            for name, t in gate.probes.items()
        ],
    )
