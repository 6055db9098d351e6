"""Leader election's rules: whatever the interleaving of candidates' attempts, pauses and
crashes, at most one candidate may act as leader at any moment; a candidate alone gets the
Lease within one lease duration (plus a retry) of the last holder's last renewal.

The store is a stand-in for the apiserver's Lease with its one property that matters here:
a write must carry the resourceVersion it read (409 otherwise)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from transom.kube.client import ApiError
from transom.kube.leader import LeaderElector, LeadershipLostError, Record, Rules

LEASE, RENEW, RETRY = 15.0, 10.0, 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LeaseStore:
    """One Lease with optimistic concurrency, as the apiserver keeps it."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.version = 0
        self.writes = 0

    async def get_or_none(self, path: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.obj)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.obj is not None:
            raise ApiError(409, {"reason": "AlreadyExists"})
        return self._store(body)

    async def replace(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.obj is not None
        if body["metadata"].get("resourceVersion") != self.obj["metadata"]["resourceVersion"]:
            raise ApiError(409, {"reason": "Conflict"})
        return self._store(body)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.writes += 1
        self.obj = copy.deepcopy(body)
        self.obj["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.obj)


def elector(store: LeaseStore, clock: Clock, name: str) -> LeaderElector:
    return LeaderElector(
        store,  # type: ignore[arg-type]  # the three verbs leader election uses
        "ns",
        "lease",
        identity=name,
        lease_duration=LEASE,
        renew_deadline=RENEW,
        retry_period=RETRY,
        clock=clock,
    )


STEP = hs.one_of(
    hs.tuples(hs.just("try"), hs.integers(0, 2)),
    hs.tuples(hs.just("wait"), hs.floats(0.1, 20.0)),
    hs.tuples(hs.just("release"), hs.integers(0, 2)),
)


@settings(max_examples=300, deadline=None)
@given(hs.lists(STEP, max_size=60))
def test_never_two_leaders(steps: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        store, clock = LeaseStore(), Clock()
        candidates = [elector(store, clock, f"c{i}") for i in range(3)]
        for step in steps:
            if step[0] == "try":
                await candidates[step[1]]._try()
            elif step[0] == "wait":
                clock.now += step[1]
            else:
                await candidates[step[1]].release()
            leaders = [c.identity for c in candidates if c.leading()]
            assert len(leaders) <= 1, (leaders, clock.now)
            holder = Record.of(store.obj).holder if store.obj else ""
            # Whoever may act is the one the Lease names.
            assert not leaders or leaders == [holder]

    asyncio.run(main())


@settings(max_examples=100, deadline=None)
@given(hs.floats(0.0, 30.0), hs.booleans())
def test_a_standby_takes_over_within_one_lease_duration(pause: float, released: bool) -> None:
    """The leader renews, then dies (or stops cleanly, releasing); the standby, trying every
    retry period, leads no later than one lease duration plus one retry after it saw the
    last renewal (at once after a release)."""

    async def main() -> None:
        store, clock = LeaseStore(), Clock()
        old, standby = elector(store, clock, "old"), elector(store, clock, "new")
        assert await old._try()
        clock.now += pause % RETRY
        assert not await standby._try()  # it sees the last renewal now
        seen = clock.now
        if released:
            await old.release()
        while not await standby._try():
            clock.now += RETRY
            assert clock.now <= seen + LEASE + RETRY
        assert clock.now <= (seen + RETRY if released else seen + LEASE + RETRY)
        assert standby.leading() and not old.leading()
        assert Record.of(store.obj or {}).transitions == 1

    asyncio.run(main())


def test_a_leader_that_cannot_renew_stops_before_others_may_start() -> None:
    rules = Rules("a", LEASE, RENEW)
    rules.written(Record("a"), now=0.0)
    assert rules.leading(RENEW - 0.01) and not rules.leading(RENEW)
    other = Rules("b", LEASE, RENEW)
    other.observe(Record("a", renew_time="t0"), now=0.0)
    assert not other.may_write(LEASE - 0.01) and other.may_write(LEASE)


def test_renew_deadline_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError, match="shorter than the lease duration"):
        Rules("a", lease_duration=10.0, renew_deadline=10.0)


def test_hold_raises_when_renewals_fail_past_the_deadline() -> None:
    class Down(LeaseStore):
        async def get_or_none(self, path: str) -> dict[str, Any] | None:
            raise OSError("connection refused")

    async def main() -> None:
        store, clock = Down(), Clock()
        e = elector(store, clock, "a")
        e.rules.written(Record("a"), clock.now)
        e.retry_period = 0.0  # the fake clock moves instead

        async def advance() -> None:
            while True:
                clock.now += RETRY
                await asyncio.sleep(0)

        ticker = asyncio.create_task(advance())
        with pytest.raises(LeadershipLostError, match="not renewed within 10 s"):
            await e.hold()
        ticker.cancel()

    asyncio.run(main())
