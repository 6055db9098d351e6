"""A wave's Assignment writes: a bounded number in flight, none started after a failure, the
outcome in host order; by property over fleets, failures and write latencies."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from transom.controller.configurations import WRITE_CONCURRENCY, ConfigurationReconciler


class RefusedError(Exception):
    pass


@settings(max_examples=60, deadline=None)
@given(
    delays=st.lists(st.sampled_from([0, 1, 2, 5]), min_size=0, max_size=3 * WRITE_CONCURRENCY),
    failing=st.sets(st.integers(min_value=0, max_value=3 * WRITE_CONCURRENCY)),
)
def test_write_wave(delays: list[int], failing: set[int]) -> None:
    hosts = [f"h{i}" for i in range(len(delays))]
    started: list[str] = []
    in_flight = peak = 0

    async def write(host: str) -> None:
        nonlocal in_flight, peak
        started.append(host)
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            for _ in range(delays[int(host[1:])]):
                await asyncio.sleep(0)
            if int(host[1:]) in failing:
                raise RefusedError(host)
        finally:
            in_flight -= 1

    written, errors = asyncio.run(ConfigurationReconciler._write_wave(hosts, write))

    assert peak <= WRITE_CONCURRENCY
    # Every host started is accounted for once, in host order, and nothing else is.
    assert len(started) == len(set(started))
    failed = [str(e) for e in errors]
    assert sorted(written + failed, key=hosts.index) == sorted(started, key=hosts.index)
    assert written == sorted(written, key=hosts.index)
    assert failed == sorted(failed, key=hosts.index)
    assert all(int(h[1:]) in failing for h in failed)
    assert not any(int(h[1:]) in failing for h in written)
    if not set(range(len(hosts))) & failing:
        assert written == hosts and errors == []
    else:
        # After the first failure no write starts: at most the ones already in flight follow.
        first = started.index(failed[0]) if failed else len(started)
        assert failed
        assert len(started) - first - 1 < WRITE_CONCURRENCY


def test_writes_keep_going_while_one_is_slow() -> None:
    """A slow write holds up only itself: the others go on, WRITE_CONCURRENCY - 1 at a time
    (written in batches, every batch would wait for it)."""
    hosts = [f"h{i}" for i in range(4 * WRITE_CONCURRENCY)]
    slow_started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def write(host: str) -> None:
        if host == "h0":
            slow_started.set()
            await release.wait()
        finished.append(host)

    async def main() -> tuple[list[str], list[Exception]]:
        wave = asyncio.create_task(ConfigurationReconciler._write_wave(hosts, write))
        await slow_started.wait()
        for _ in range(10 * len(hosts)):
            await asyncio.sleep(0)
        assert len(finished) == len(hosts) - 1  # all but the slow one, while it waits
        release.set()
        return await wave

    written, errors = asyncio.run(main())
    assert written == hosts and errors == []
