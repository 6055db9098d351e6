"""Per-host plumbing: namespace, RBAC, and the Host's Ready condition from its Lease."""

from __future__ import annotations

import logging

from transom.api import conditions as c
from transom.api import names, rbac
from transom.api.host import HostStatus
from transom.controller.cache import Cache, Writer
from transom.kube.client import Obj
from transom.kube.kinds import HOSTS, NAMESPACES, kind_of

log = logging.getLogger(__name__)


class HostReconciler:
    def __init__(self, cache: Cache, writer: Writer) -> None:
        self.cache = cache
        self.writer = writer
        #: Host name -> Host uid whose namespace and RBAC this process has applied.
        self.provisioned: dict[str, str] = {}

    async def reconcile(self, host: str) -> None:
        obj = self.cache.host(host)
        if obj is None:
            await self._deprovision(host)
            return
        try:
            uid = str(obj["metadata"].get("uid", ""))
            if self.provisioned.get(host) != uid:
                await self.provision(host)
                self.provisioned[host] = uid
        finally:
            await self._write_status(host, obj)

    async def provision(self, host: str) -> None:
        """The host's namespace and RBAC (idempotent: server-side apply)."""
        ns = names.host_namespace(host)
        await self.writer.apply(
            NAMESPACES,
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {names.LABEL_HOST: host, names.LABEL_MANAGED_BY: names.MANAGED_BY},
                },
            },
        )
        for item in rbac.host_rbac(host):
            await self.writer.apply(kind_of(item), item)

    async def _deprovision(self, host: str) -> None:
        self.provisioned.pop(host, None)
        for item in reversed(rbac.host_rbac(host)):
            if item["kind"].startswith("Cluster"):
                await self.writer.delete(kind_of(item), "", item["metadata"]["name"])
        # Deleting the namespace removes Assignments, copied Secrets, the Lease and the Role.
        await self.writer.delete(NAMESPACES, "", names.host_namespace(host))

    async def _write_status(self, host: str, obj: Obj) -> None:
        status = HostStatus.model_validate(obj.get("status") or {})
        online = self.cache.online(host)
        heartbeat = self.cache.last_heartbeat(host)
        # Messages and lastHeartbeatTime change only with Ready, not on every renewal: the
        # Lease carries the live heartbeat, and rewriting Host status every 10 s would double
        # API load.
        if online:
            conds = c.set_condition(
                status.conditions, c.READY, "True", c.SUCCEEDED, "agent heartbeat is current"
            )
        elif heartbeat:
            conds = c.set_condition(
                status.conditions,
                c.READY,
                "Unknown",
                c.HOSTS_UNREACHABLE,
                f"no agent heartbeat since {heartbeat}",
            )
        else:
            conds = c.set_condition(
                status.conditions,
                c.READY,
                "Unknown",
                c.HOSTS_UNREACHABLE,
                "agent has not reported yet",
            )
        generation = int(obj["metadata"].get("generation") or 1)
        ready_before = c.find_condition(status.conditions, c.READY)
        if ready_before is not None and ready_before.status == conds[-1].status:
            heartbeat = status.last_heartbeat_time
        new = status.model_copy(
            update={
                "conditions": conds,
                "namespace": names.host_namespace(host),
                "identity": names.host_user(host),
                "last_heartbeat_time": heartbeat,
                "observed_generation": generation,
            }
        )
        before = status.model_dump(mode="json", by_alias=True)
        after = new.model_dump(mode="json", by_alias=True)
        patch = {k: v for k, v in after.items() if before.get(k) != v}
        if patch:
            await self.writer.patch_status(HOSTS, "", host, patch)
