"""Flapping protection: stop fighting something that keeps changing a resource back."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

DEFAULT_MAX_CORRECTIONS = 5
DEFAULT_WINDOW_SECONDS = 600.0


class FlapGuard:
    """A resource corrected more than ``max_corrections`` times within ``window`` seconds is
    flapping: its corrections stop for ``backoff`` seconds (default: one window), then resume."""

    def __init__(
        self,
        max_corrections: int = DEFAULT_MAX_CORRECTIONS,
        window: float = DEFAULT_WINDOW_SECONDS,
        backoff: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_corrections = max_corrections
        self.window = window
        self.backoff = window if backoff is None else backoff
        self._clock = clock
        self._corrections: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}

    def flapping(self, key: str) -> str | None:
        """Why corrections of ``key`` are held back now, or None if they may go ahead."""
        until = self._until.get(key)
        now = self._clock()
        if until is None:
            return None
        if now >= until:
            del self._until[key]
            self._corrections.pop(key, None)
            return None
        return (
            f"corrected more than {self.max_corrections} times in {self.window / 60:g} min; "
            f"backing off for {until - now:.0f} s"
        )

    def record(self, key: str) -> None:
        """Count one correction of ``key``."""
        now = self._clock()
        times = self._corrections.setdefault(key, deque())
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) > self.max_corrections:
            self._until[key] = now + self.backoff
