"""Signed audit checkpoints, published in Host status: the hub's witness of this host's log,
so rewriting the log on the host after a checkpoint shows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from transom.engine.audit import AuditTrail, Checkpoint, Checkpointer
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube
from transom.kube.kinds import HOSTS

log = logging.getLogger(__name__)


class AuditPublisher:
    def __init__(
        self,
        kube: Kube,
        host: str,
        trail: AuditTrail,
        checkpointer: Checkpointer,
        *,
        retry_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.host = host
        self.trail = trail
        self.checkpointer = checkpointer
        self.retry_seconds = retry_seconds
        self.clock = clock
        #: Set after changes: a checkpoint is signed and published when due.
        self.kick = asyncio.Event()
        #: The newest checkpoint the hub holds (from this run).
        self.published: Checkpoint | None = None
        self._unpublished_since: float | None = None

    def published_at(self) -> float | None:
        """The signing time of the newest checkpoint the hub holds (Unix time)."""
        return None if self.published is None else self.published.timestamp

    def unpublished_since(self) -> float | None:
        """Since when records exist that no checkpoint the hub holds covers (first noticed by
        the publisher's loop or a metrics scrape); None when the hub's witness is current."""
        covered = self.published.sequence if self.published is not None else 0
        if self.trail.log.head[0] <= covered:
            self._unpublished_since = None
        elif self._unpublished_since is None:
            self._unpublished_since = self.clock()
        return self._unpublished_since

    async def run(self) -> None:
        """Idle, it waits for a change: no requests."""
        while True:
            self.unpublished_since()
            latest = self.checkpointer.latest
            retry: float | None = None
            if latest is not None and latest != self.published:
                try:
                    await self.kube.patch(
                        HOSTS.path(name=self.host, subresource="status"),
                        {
                            "status": {
                                "auditCheckpoint": latest.to_api().model_dump(
                                    mode="json", by_alias=True
                                )
                            }
                        },
                    )
                    self.published = latest
                except (ApiError, *NETWORK_ERRORS) as exc:
                    log.debug("audit checkpoint not published yet: %s", exc)
                    retry = self.retry_seconds
            waits = [x for x in (self.checkpointer.seconds_until_due(), retry) if x is not None]
            self.kick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(waits) if waits else None):
                    await self.kick.wait()
            await asyncio.to_thread(self.trail.maybe_checkpoint)
