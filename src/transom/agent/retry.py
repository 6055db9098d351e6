"""Retrying requests: which failures mean "the network, try again", and how long to wait."""

from __future__ import annotations

import asyncio

import aiohttp

#: The API server is unreachable or the connection broke: retry later, quietly.
NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
INITIAL_SECONDS = 0.5


class Backoff:
    """Exponential, from ``initial`` up to ``maximum`` seconds; ``reset`` after a success."""

    def __init__(self, maximum: float, initial: float = INITIAL_SECONDS) -> None:
        self.maximum = maximum
        self.initial = min(initial, maximum)
        self.delay = self.initial

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.maximum)

    def reset(self) -> None:
        self.delay = self.initial
