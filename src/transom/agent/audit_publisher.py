"""Signed audit checkpoints, published in Host status: the hub's witness of this host's log,
so rewriting the log on the host after a checkpoint shows."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from transom.engine.audit import AuditTrail, Checkpointer
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
    ) -> None:
        self.kube = kube
        self.host = host
        self.trail = trail
        self.checkpointer = checkpointer
        self.retry_seconds = retry_seconds
        #: Set after changes: a checkpoint is signed and published when due.
        self.kick = asyncio.Event()

    async def run(self) -> None:
        """Idle, it waits for a change: no requests."""
        published = None
        while True:
            latest = self.checkpointer.latest
            retry: float | None = None
            if latest is not None and latest != published:
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
                    published = latest
                except (ApiError, *NETWORK_ERRORS) as exc:
                    log.debug("audit checkpoint not published yet: %s", exc)
                    retry = self.retry_seconds
            waits = [x for x in (self.checkpointer.seconds_until_due(), retry) if x is not None]
            self.kick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(waits) if waits else None):
                    await self.kick.wait()
            await asyncio.to_thread(self.trail.maybe_checkpoint)
