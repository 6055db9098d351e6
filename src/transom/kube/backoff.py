"""Exponential backoff between retries, reset by the first success."""

from __future__ import annotations

import asyncio


class Backoff:
    def __init__(self, maximum: float, initial: float = 0.5) -> None:
        self.initial = initial
        self.maximum = maximum
        self.delay = initial

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.maximum)

    def reset(self) -> None:
        self.delay = self.initial
