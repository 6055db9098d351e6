"""The host's side of the fleet-wide reboot budget: it reboots only holding the reboot lease
the controller grants (a Lease named transom-reboot in its own namespace, which admission
keeps the host from creating), and releases it once it is back and has re-applied. A host
that never comes back keeps it, so the budget stays spent and the controller halts the
rollout at the deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from transom.api.admission import REBOOT_LEASE_NAME
from transom.api.names import host_namespace
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube, Obj
from transom.kube.informer import DELETED, Informer
from transom.kube.kinds import LEASES

log = logging.getLogger(__name__)

RELEASE_ATTEMPTS = 10


class RebootLease:
    def __init__(
        self,
        kube: Kube,
        host: str,
        *,
        on_granted: Callable[[], None] = lambda: None,
        timeout_seconds: int = 1800,
        backoff_max_seconds: float = 30.0,
    ) -> None:
        self.kube = kube
        self.host = host
        namespace = host_namespace(host)
        self._path = LEASES.path(namespace, REBOOT_LEASE_NAME)
        #: Called (on the event loop) when the controller grants the lease.
        self.on_granted = on_granted
        self._held = False
        self.informer = Informer(
            kube,
            LEASES.path(namespace),
            self._on_event,
            on_list=self._on_list,
            field_selector=f"metadata.name={REBOOT_LEASE_NAME}",
            timeout_seconds=timeout_seconds,
            backoff_max_seconds=backoff_max_seconds,
        )

    def held(self) -> bool:
        """Granted to this host (read from the reboot coordinator's thread: one bool)."""
        return self._held

    async def run(self) -> None:
        await self.informer.run()

    async def release(self) -> None:
        """Give the lease back (one already gone is fine); retried a few times, since a host
        just back from a reboot may not reach the API at once. A lease not released counts
        as a host not back: the controller halts the rollout at the deadline."""
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                await self.kube.delete(self._path)
                break
            except (ApiError, *NETWORK_ERRORS) as e:
                if attempt == RELEASE_ATTEMPTS - 1:
                    log.warning("reboot lease not released: %s", e)
                    return
                await asyncio.sleep(1.0)
        self._held = False
        log.info("reboot lease released")

    def _mine(self, obj: Obj | None) -> bool:
        return obj is not None and (obj.get("spec") or {}).get("holderIdentity") == self.host

    def _set(self, held: bool) -> None:
        granted = held and not self._held
        self._held = held
        if granted:
            log.info("reboot lease granted")
            self.on_granted()

    def _on_event(self, kind: str, obj: Obj) -> None:
        self._set(kind != DELETED and self._mine(obj))

    def _on_list(self, items: list[Obj]) -> None:
        self._set(any(self._mine(o) for o in items))
