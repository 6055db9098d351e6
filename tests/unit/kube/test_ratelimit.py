"""The client-side token bucket: bulk requests keep to the rate (plus the burst), critical
ones never wait and are paid for by the bulk lane."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from transom.kube.ratelimit import TokenBucket, critical, is_critical


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=200, deadline=None)
@given(
    hs.floats(1.0, 500.0),
    hs.integers(1, 50),
    hs.lists(hs.tuples(hs.floats(0.0, 0.5), hs.booleans()), min_size=1, max_size=200),
)
def test_bulk_keeps_to_the_rate_and_critical_never_waits(
    qps: float, burst: int, requests: list[tuple[float, bool]]
) -> None:
    """Requests arrive with gaps; each is bulk or critical. A bulk request starts once its
    token is there; over any run, requests sent <= burst + qps * elapsed, but for the
    critical ones, which go ahead regardless."""
    clock = Clock()
    bucket = TokenBucket(qps, burst, clock=clock)
    urgent_sent = 0
    for used, (gap, urgent) in enumerate(requests, start=1):
        clock.now += gap
        delay = bucket.reserve(critical=urgent)
        if urgent:
            assert delay == 0.0
            urgent_sent += 1
        clock.now += delay  # the caller sleeps this long before sending
        assert used - urgent_sent <= burst + qps * clock.now + 1e-6


def test_a_critical_burst_makes_bulk_wait_longer() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, 2, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve(critical=True) == 0.0
    assert bucket.reserve(critical=True) == 0.0  # in debt by one token now
    assert bucket.reserve() == pytest.approx(0.2)  # pays the debt and its own token


def test_take_sleeps_for_bulk_only() -> None:
    async def main() -> None:
        bucket = TokenBucket(20.0, 1)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for _ in range(5):
            await bucket.take()
        bulk = loop.time() - t0
        with critical():
            assert is_critical()
            t1 = loop.time()
            for _ in range(5):
                await bucket.take()
            urgent = loop.time() - t1
        assert not is_critical()
        assert bulk >= 4 / 20.0 * 0.9  # four of the five waited a twentieth of a second
        assert urgent < 0.05
        assert bucket.waited >= 4

    asyncio.run(main())


def test_rate_and_burst_are_checked() -> None:
    with pytest.raises(ValueError, match="qps must be > 0"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(1, 0)
