"""One Assignment's status on its way to the API: the latest wanted status, pushed until the
API has it. Writes coalesce (only the newest is sent) and are retried with backoff, so a
worker never waits on the network unless it asks to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from transom.agent import status as st
from transom.api.assignment import AssignmentStatus
from transom.kube.backoff import Backoff
from transom.kube.client import NETWORK_ERRORS, ApiError

log = logging.getLogger(__name__)


class StatusWriter(Protocol):
    async def write_status(self, name: str, status: AssignmentStatus) -> None:
        """Patch the Assignment's status subresource; raises ApiError or a network error."""


class StatusPusher:
    def __init__(self, name: str, writer: StatusWriter, *, backoff_max_seconds: float) -> None:
        self.name = name
        self._writer = writer
        self._backoff_max = backoff_max_seconds
        #: What the API should show; None until this worker has something to say.
        self.wanted: AssignmentStatus | None = None
        #: The last status the API accepted from this pusher.
        self.written: AssignmentStatus | None = None
        self._push = asyncio.Event()
        self._pushed = asyncio.Event()

    def adopt(self, status: AssignmentStatus) -> None:
        """Take the API's status as ours, with nothing to push (it is there already)."""
        self.wanted = self.written = status
        self._pushed.set()

    async def want(self, status: AssignmentStatus, *, wait_seconds: float | None = None) -> None:
        """Make ``status`` the one to push; with ``wait_seconds``, wait that long at most for
        the API to have it."""
        if self.wanted is not None and st.same(status, self.wanted):
            return
        self.wanted = status
        self._pushed.clear()
        self._push.set()
        if wait_seconds is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds):
                    await self._pushed.wait()

    def repush(self) -> None:
        """Push the wanted status again (the API lost it, e.g. while we were offline)."""
        if self.wanted is not None:
            self._pushed.clear()
            self._push.set()

    async def flushed(self) -> None:
        """Wait until the API has the wanted status."""
        await self._pushed.wait()

    async def run(self) -> None:
        backoff = Backoff(self._backoff_max, initial=min(0.5, self._backoff_max))
        while True:
            await self._push.wait()
            self._push.clear()
            status = self.wanted
            if status is None:
                continue
            try:
                await self._writer.write_status(self.name, status)
            except ApiError as exc:
                if exc.status == 404:
                    continue  # deleted meanwhile
                log.warning("assignment %s: status not written: %s", self.name, exc)
            except NETWORK_ERRORS as exc:
                log.debug("assignment %s: status not written yet: %s", self.name, exc)
            else:
                backoff.reset()
                self.written = status
                if status is self.wanted:
                    self._pushed.set()
                continue
            await backoff.sleep()
            self._push.set()
