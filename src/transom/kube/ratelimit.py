"""Client-side rate limiting with a priority lane, as client-go's token bucket (QPS, burst)
plus what it lacks: requests marked ``critical()`` (the controller's leader-election Lease, an
agent's heartbeat) never wait behind a burst of bulk writes, so a 10,000-host rollout cannot
starve the requests that keep a process alive in others' eyes. They still take a token, so the
bulk lane slows down to leave room for them.

The apiserver side of the same idea is API Priority and Fairness: deploy/ ships a FlowSchema
and PriorityLevelConfiguration per kind of client.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator

_critical: contextvars.ContextVar[bool] = contextvars.ContextVar("transom_critical", default=False)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Requests made inside (and in tasks started inside) skip the bulk queue."""
    token = _critical.set(True)
    try:
        yield
    finally:
        _critical.reset(token)


def is_critical() -> bool:
    return _critical.get()


class TokenBucket:
    """``qps`` tokens a second, at most ``burst`` saved up. ``await take()`` before a request."""

    def __init__(
        self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"qps must be > 0 and burst >= 1, not qps={qps}, burst={burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()
        #: Requests that waited, and for how long in all (seconds): what throttling cost.
        self.waited = 0
        self.wait_seconds = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now

    def reserve(self, *, critical: bool = False) -> float:
        """Take a token; the seconds to wait before using it (0 when one was there). A critical
        request never waits: it may leave the bucket in debt, which bulk requests pay off."""
        self._refill()
        self._tokens -= 1
        if critical or self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    async def take(self) -> None:
        if is_critical():
            self.reserve(critical=True)
            return
        # One waiter at a time keeps the bulk lane first-come, first-served.
        async with self._lock:
            delay = self.reserve()
            if delay > 0:
                self.waited += 1
                self.wait_seconds += delay
                await asyncio.sleep(delay)
