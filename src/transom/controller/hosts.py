"""Per-host plumbing: namespace, RBAC, and the Host's Ready condition from its Lease."""

from __future__ import annotations

import logging

from transom.api import conditions as c
from transom.api import names, rbac
from transom.api.host import HostStatus
from transom.controller.cache import Cache, Writer
from transom.kube.client import Obj
from transom.kube.kinds import HOSTS, LEASES, NAMESPACES, kind_of

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
            if self.cache.shard is None or await self._gone(host):
                await self._deprovision(host)
            return
        try:
            uid = str(obj["metadata"].get("uid", ""))
            if self.provisioned.get(host) != uid:
                await self.provision(host, uid)
            for kind, item in self.cache.unlabelled_of(host):
                meta = item["metadata"]
                await self.writer.label(
                    kind, meta["namespace"], meta["name"], self.cache.shard_labels()
                )
        finally:
            await self._write_status(host, obj)

    async def _gone(self, host: str) -> bool:
        """Sharded: a Host missing from this shard's cache may only be unlabelled or another
        shard's now (its namespace stays); it is gone when the apiserver says so."""
        shard = self.cache.shard
        assert shard is not None
        self.provisioned.pop(host, None)
        found = self.cache.unlabelled_host(host)
        if found is None:
            found = await self.writer.kube.get_or_none(HOSTS.path(name=host))
        if found is None:
            return True
        labels = found["metadata"].get("labels") or {}
        if names.LABEL_SHARD not in labels and shard.default_owner(host):
            # A Host made without the label (by an admin, or before sharding was turned on).
            await self.writer.label(HOSTS, "", host, shard.labels)
        return False

    async def provision(self, host: str, uid: str) -> None:
        """The host's namespace and RBAC (idempotent: server-side apply), remembered for the
        Host with ``uid`` so its reconciles do not write them again."""
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
        if self.cache.shard is not None and self.cache.lease(host) is None:
            # A host moved here from another shard: its Lease carries the old label.
            await self.writer.label(LEASES, ns, names.LEASE_NAME, self.cache.shard_labels())
        self.provisioned[host] = uid

    async def _deprovision(self, host: str) -> None:
        self.provisioned.pop(host, None)
        # Deleting the namespace removes Assignments, copied Secrets, the Lease and the RBAC.
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
