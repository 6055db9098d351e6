"""The host's heartbeat: a coordination.k8s.io Lease in its namespace, renewed on a fixed
period, as kubelets do (every minute by default, sized for 10,000 hosts: docs/scale.md).
Idle, the renewals are the agent's only requests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from transom.agent import status as st
from transom.api.names import LEASE_NAME, host_namespace
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube
from transom.kube.kinds import LEASES
from transom.kube.ratelimit import critical

log = logging.getLogger(__name__)
#: After a failed renewal, the next try comes this soon (or at the period, if shorter).
RETRY_SECONDS = 5.0


class LeaseRenewer:
    def __init__(
        self,
        kube: Kube,
        host: str,
        *,
        duration_seconds: int,
        interval_seconds: float,
        on_reconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self.kube = kube
        self.host = host
        self.namespace = host_namespace(host)
        self.duration_seconds = duration_seconds
        self.interval_seconds = interval_seconds
        #: Called when the API answers again after an outage.
        self.on_reconnect = on_reconnect
        self.renewals = 0
        self._path = LEASES.path(self.namespace, LEASE_NAME)

    async def run(self) -> None:
        lease: dict[str, Any] | None = None
        offline = False
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                with critical():  # never queued behind bulk writes by a client-side limit
                    lease = await self._renew(lease)
                self.renewals += 1
                if offline:
                    # Back from an outage: a watch on a connection that died silently would
                    # wait for its read timeout; the caller starts fresh ones now.
                    offline = False
                    self.on_reconnect()
                period = self.interval_seconds
            except ApiError as exc:
                lease = None  # conflict or gone: read it again next time
                log.warning("lease not renewed: %s", exc)
                period = min(self.interval_seconds, RETRY_SECONDS)
            except NETWORK_ERRORS as exc:
                offline = True
                log.debug("lease not renewed: %s", exc)
                # Soon again: the lease runs out, and the watches wait for the way back.
                period = min(self.interval_seconds, RETRY_SECONDS)
            # A fixed period, however slow the apiserver answers.
            await asyncio.sleep(max(0.0, started + period - loop.time()))

    async def _renew(self, lease: dict[str, Any] | None) -> dict[str, Any]:
        now = st.micro_time()
        spec = {
            "holderIdentity": self.host,
            "leaseDurationSeconds": self.duration_seconds,
            "renewTime": now,
        }
        if lease is None:
            lease = await self.kube.get_or_none(self._path)
            if lease is None:
                return await self.kube.create(
                    LEASES.path(self.namespace),
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                        "spec": {**spec, "acquireTime": now},
                    },
                )
        lease.setdefault("spec", {}).update(spec)
        return await self.kube.replace(self._path, lease)
