"""The controller's caches, fed by watches: a read-only view for the reconcilers, and the one
writer through which they change the cluster (its answers go into the caches, so the next
reconcile reads its own writes before the watch brings them)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from pydantic import ValidationError

from transom.api import names
from transom.api.admission import REBOOT_LEASE_NAME
from transom.api.assignment import Assignment
from transom.api.kinds import Kind
from transom.api.wire import LabelSelector
from transom.controller import liveness, shards
from transom.controller.shards import Shard
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.informer import Informer, Key, key_of
from transom.kube.kinds import (
    APPROVALS,
    ASSIGNMENTS,
    CONFIGURATIONS,
    CSRS,
    HOSTS,
    KUSTOMIZATIONS,
    LEASES,
)

log = logging.getLogger(__name__)


class Cache:
    """The informers, and the questions reconcilers ask of them. Reconcilers only read."""

    def __init__(
        self,
        kube: Kube,
        *,
        host_grace_seconds: float | None = None,
        shard: Shard | None = None,
    ) -> None:
        managed = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
        #: How long past a Lease's renewal a host still counts as online (None: its duration).
        self.host_grace_seconds = host_grace_seconds
        #: The shard this process owns; None: every host (unsharded).
        self.shard = shard
        mine = f",{shard.selector}" if shard is not None else ""
        self.configurations = Informer(kube, CONFIGURATIONS.path())
        self.assignments = Informer(kube, ASSIGNMENTS.path(), label_selector=managed + mine)
        self.hosts = Informer(kube, HOSTS.path(), label_selector=mine[1:] or None)
        agent_lease = f"metadata.name={names.LEASE_NAME}"
        self.leases = Informer(
            kube, LEASES.path(), field_selector=agent_lease, label_selector=mine[1:] or None
        )
        #: Reboot leases the controller granted (rollout.py's budget), one per host at most.
        self.reboot_leases = Informer(
            kube, LEASES.path(), field_selector=f"metadata.name={REBOOT_LEASE_NAME}"
        )
        self.approvals = Informer(kube, APPROVALS.path())
        self.csrs = Informer(kube, CSRS.path())
        self.kustomizations = Informer(kube, KUSTOMIZATIONS.path(), optional=True)
        self._by_kind: dict[Kind, Informer] = {
            CONFIGURATIONS: self.configurations,
            ASSIGNMENTS: self.assignments,
            HOSTS: self.hosts,
            LEASES: self.leases,
            CSRS: self.csrs,
            KUSTOMIZATIONS: self.kustomizations,
            APPROVALS: self.approvals,
        }
        #: Sharded: objects no shard has labelled yet (new Hosts, Leases an agent created,
        #: anything from before sharding), each shard labelling its own; and the shards'
        #: leader Leases, which say which shards are alive.
        self.unlabelled: dict[Kind, Informer] = {}
        self.shard_leases: Informer | None = None
        if shard is not None:
            none = f"!{names.LABEL_SHARD}"
            self.unlabelled = {
                HOSTS: Informer(kube, HOSTS.path(), label_selector=none),
                LEASES: Informer(
                    kube, LEASES.path(), field_selector=agent_lease, label_selector=none
                ),
                ASSIGNMENTS: Informer(kube, ASSIGNMENTS.path(), label_selector=f"{managed},{none}"),
            }
            self.shard_leases = Informer(kube, LEASES.path(shard.lease_namespace))
        self._assignment_models: dict[Key, tuple[str, Assignment]] = {}

    @property
    def informers(self) -> list[Informer]:
        extra = [] if self.shard_leases is None else [self.shard_leases]
        return [*self._by_kind.values(), self.reboot_leases, *self.unlabelled.values(), *extra]

    def informer(self, kind: Kind) -> Informer | None:
        return self._by_kind.get(kind)

    # -- Configurations -------------------------------------------------------------------------

    def configuration(self, key: Key) -> Obj | None:
        return self.configurations.get(*key)

    def configuration_keys(self) -> list[Key]:
        return sorted(self.configurations.items)

    def each_configuration(self) -> Iterator[tuple[Key, Obj]]:
        return iter(sorted(self.configurations.items.items()))

    def kustomization_of(self, conf: Obj) -> Obj | None:
        """The Flux Kustomization that applied a Configuration, from Flux's labels."""
        labels = conf["metadata"].get("labels") or {}
        name = labels.get(names.FLUX_KUSTOMIZATION_NAME)
        if not name:
            return None
        namespace = labels.get(names.FLUX_KUSTOMIZATION_NAMESPACE, conf["metadata"]["namespace"])
        return self.kustomizations.get(namespace, name)

    # -- Assignments ----------------------------------------------------------------------------

    def assignment(self, namespace: str, name: str) -> Assignment | None:
        """The cached Assignment as a model, parsed once per resourceVersion."""
        obj = self.assignments.get(namespace, name)
        if obj is None:
            self._assignment_models.pop((namespace, name), None)
            return None
        rv = str(obj["metadata"].get("resourceVersion", ""))
        cached = self._assignment_models.get((namespace, name))
        if cached is not None and cached[0] == rv:
            return cached[1]
        try:
            model = Assignment.model_validate(obj)
        except ValidationError as e:
            # Not as this controller writes it: treated as absent, so it is written again.
            log.warning("Assignment %s/%s unreadable: %s", namespace, name, e)
            return None
        self._assignment_models[(namespace, name)] = (rv, model)
        return model

    def assignments_labelled(self, configuration_label: str) -> list[tuple[Key, Obj]]:
        return [
            (k, obj)
            for k, obj in sorted(self.assignments.items.items())
            if (obj["metadata"].get("labels") or {}).get(names.LABEL_CONFIGURATION)
            == configuration_label
        ]

    # -- Hosts ----------------------------------------------------------------------------------

    def host(self, name: str) -> Obj | None:
        return self.hosts.get("", name)

    def host_names(self) -> list[str]:
        return sorted(name for _, name in self.hosts.items)

    def host_labels(self, name: str) -> dict[str, str]:
        return dict(((self.host(name) or {}).get("metadata") or {}).get("labels") or {})

    def select_hosts(
        self, selector: LabelSelector, among: frozenset[str] | set[str] | None = None
    ) -> list[str]:
        """Unpaused Hosts whose labels match, optionally only among some names."""
        out = []
        for (_, name), host in self.hosts.items.items():
            if among is not None and name not in among:
                continue
            if (host.get("spec") or {}).get("paused"):
                continue
            if selector.matches(host["metadata"].get("labels") or {}):
                out.append(name)
        return sorted(out)

    def shard_labels(self) -> dict[str, str]:
        """Labels for what this process writes for its hosts (none unsharded)."""
        return {} if self.shard is None else self.shard.labels

    def owns(self, obj: Obj) -> bool:
        """Whether a Host, Assignment or Lease is this shard's (always, unsharded)."""
        if self.shard is None:
            return True
        labels = obj["metadata"].get("labels") or {}
        return labels.get(names.LABEL_SHARD) == str(self.shard.key)

    def shards_alive(self) -> frozenset[int]:
        """Shards with a live leader (this one always); unsharded: just shard 0."""
        if self.shard is None or self.shard_leases is None:
            return frozenset({0})
        return shards.alive(
            self.shard,
            {
                k: self.shard_leases.get(self.shard.lease_namespace, self.shard.lease_name(k))
                for k in range(self.shard.count)
            },
        )

    def unlabelled_of(self, host: str) -> list[tuple[Kind, Obj]]:
        """This host's Lease and Assignments that carry no shard label yet."""
        ns = names.host_namespace(host)
        out: list[tuple[Kind, Obj]] = []
        for kind in (LEASES, ASSIGNMENTS):
            informer = self.unlabelled.get(kind)
            if informer is not None:
                out += [(kind, o) for (n, _), o in sorted(informer.items.items()) if n == ns]
        return out

    def unlabelled_host(self, name: str) -> Obj | None:
        informer = self.unlabelled.get(HOSTS)
        return None if informer is None else informer.get("", name)

    def lease(self, host: str) -> Obj | None:
        return self.leases.get(names.host_namespace(host), names.LEASE_NAME)

    def reboot_lease(self, host: str) -> Obj | None:
        return self.reboot_leases.get(names.host_namespace(host), REBOOT_LEASE_NAME)

    def online(self, host: str) -> bool:
        return liveness.online(self.lease(host), grace=self.host_grace_seconds)

    def last_heartbeat(self, host: str) -> str:
        return liveness.last_heartbeat(self.lease(host))

    # -- CSRs -----------------------------------------------------------------------------------

    def csr(self, name: str) -> Obj | None:
        return self.csrs.get("", name)


async def snapshot(kube: Kube) -> Cache:
    """Every Host and host Lease as they are now, in an unsharded Cache that no watch keeps
    current: for the rare question about the whole fleet a shard cannot answer alone."""
    cache = Cache(kube)
    for informer in (cache.hosts, cache.leases):
        params = {"fieldSelector": informer.field_selector} if informer.field_selector else {}
        for obj in (await kube.list(informer.path, **params))["items"]:
            informer.observe(obj)
    return cache


class NotLeadingError(Exception):
    """This process no longer holds the leader Lease: it must not write."""


class Writer:
    """Every change the reconcilers make, through one place that keeps the caches current."""

    def __init__(self, kube: Kube, cache: Cache) -> None:
        self.kube = kube
        self._cache = cache
        #: With leader election: whether this process may still act as leader.
        self.leading: Callable[[], bool] = lambda: True

    def check(self) -> None:
        """Refuse to write once leadership is past its renew deadline (a process paused past
        it would otherwise write over the new leader's decisions)."""
        if not self.leading():
            raise NotLeadingError("not the leader any more")

    def _observe(self, kind: Kind, obj: Obj) -> Obj:
        informer = self._cache.informer(kind)
        if kind in self._cache.unlabelled and obj.get("metadata") and not self._cache.owns(obj):
            return obj  # another shard's (or not yet any shard's): not in this shard's cache
        if informer is not None and obj.get("metadata"):
            informer.observe(obj)
        return obj

    async def apply(
        self,
        kind: Kind,
        obj: Obj,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        self.check()
        meta = obj["metadata"]
        path = kind.path(meta.get("namespace"), meta["name"], subresource)
        return self._observe(kind, await self.kube.apply(path, obj, field_manager=field_manager))

    async def label(self, kind: Kind, namespace: str, name: str, labels: dict[str, str]) -> None:
        """Merge labels into an object; nothing when it is gone."""
        self.check()
        try:
            written = await self.kube.patch(
                kind.path(namespace or None, name), {"metadata": {"labels": labels}}
            )
        except ApiError as e:
            if e.status == 404:
                return
            raise
        self._observe(kind, written)

    async def create(self, kind: Kind, obj: Obj, *, exists_ok: bool = False) -> Obj | None:
        self.check()
        try:
            return self._observe(
                kind, await self.kube.create(kind.path(obj["metadata"].get("namespace")), obj)
            )
        except ApiError as e:
            if e.status == 409 and exists_ok:
                return None
            raise

    async def patch_status(
        self, kind: Kind, namespace: str, name: str, status: dict[str, object]
    ) -> Obj | None:
        """Merge-patch an object's status; None when the object is gone."""
        self.check()
        try:
            written = await self.kube.patch(
                kind.path(namespace or None, name, "status"), {"status": status}
            )
        except ApiError as e:
            if e.status == 404:
                return None
            raise
        return self._observe(kind, written)

    async def replace(self, kind: Kind, obj: Obj, subresource: str | None = None) -> Obj:
        self.check()
        meta = obj["metadata"]
        path = kind.path(meta.get("namespace"), meta["name"], subresource)
        return self._observe(kind, await self.kube.replace(path, obj))

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        self.check()
        await self.kube.delete(kind.path(namespace or None, name))
        informer = self._cache.informer(kind)
        if informer is not None:
            informer.forget(namespace, name)


__all__ = ["Cache", "Key", "Writer", "key_of"]
