"""The controller process: caches fed by watches, a queue of dirty Configurations, and the
periodic liveness check that turns a silent agent into an unavailable host."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError

from transom.api import names
from transom.api.assignment import Assignment
from transom.api.configuration import ConfigurationSpec
from transom.api.wire import LabelSelector
from transom.controller import configurations, csr, hosts
from transom.controller.flux_events import Notifier
from transom.kube.client import Kube, Obj
from transom.kube.informer import Informer, Key, key_of
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, CSRS, HOSTS, KUSTOMIZATIONS, LEASES

log = logging.getLogger(__name__)


def _parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


class Controller:
    def __init__(
        self,
        kube: Kube,
        *,
        host_grace_seconds: float | None = None,
        liveness_interval: float = 1.0,
        instance: str = "transom-controller",
        concurrency: int = 16,
        notifier: Notifier | None = None,
    ) -> None:
        self.kube = kube
        self.instance = instance
        #: How long past a Lease's duration a host still counts as online (None: the duration).
        self.host_grace_seconds = host_grace_seconds
        self.liveness_interval = liveness_interval
        self.concurrency = concurrency
        #: Forwards rollout outcomes to Flux's notification-controller when set.
        self.notifier = notifier
        self._dirty: set[Key] = set()
        self._hosts_dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._online: dict[str, bool] = {}
        managed = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
        self.configurations = Informer(kube, CONFIGURATIONS.path(), self._on_configuration)
        self.assignments = Informer(
            kube, ASSIGNMENTS.path(), self._on_assignment, label_selector=managed
        )
        self.hosts = Informer(kube, HOSTS.path(), self._on_host)
        self.leases = Informer(
            kube, LEASES.path(), self._on_lease, field_selector=f"metadata.name={names.LEASE_NAME}"
        )
        self.csrs = Informer(kube, CSRS.path(), self._on_csr)
        self.kustomizations = Informer(
            kube, KUSTOMIZATIONS.path(), self._on_kustomization, optional=True
        )
        self._informers = [
            self.configurations,
            self.assignments,
            self.hosts,
            self.leases,
            self.csrs,
            self.kustomizations,
        ]
        self._csr_queue: set[str] = set()
        #: Host name -> Host uid whose namespace and RBAC this process has applied.
        self.provisioned: dict[str, str] = {}
        self._revisions: dict[tuple[str, str, int], str] = {}
        self._assignment_models: dict[Key, tuple[str, Assignment]] = {}
        self._parsed: dict[tuple[str, int], tuple[ConfigurationSpec, dict[str, str]]] = {}

    # -- event handlers: cheap, they only mark work ----------------------------------------------

    def _mark(self, keys: Iterable[Key]) -> None:
        self._dirty.update(keys)
        self._wake.set()

    def _mark_all(self) -> None:
        self._mark(self.configurations.items.keys())

    def _on_configuration(self, event: str, obj: Obj) -> None:
        self._mark([key_of(obj)])

    def _on_assignment(self, event: str, obj: Obj) -> None:
        if event == "DELETED":
            self._assignment_models.pop(key_of(obj), None)
        label = (obj.get("metadata", {}).get("labels") or {}).get(names.LABEL_CONFIGURATION, "")
        if "." in label:
            ns, name = label.split(".", 1)
            self._mark([(ns, name)])

    def _on_host(self, event: str, obj: Obj) -> None:
        self._hosts_dirty.add(obj["metadata"]["name"])
        self._mark_all()

    def _on_lease(self, event: str, obj: Obj) -> None:
        host = self._host_of_namespace(obj["metadata"].get("namespace", ""))
        if host is not None:
            self._refresh_liveness([host])

    def _on_csr(self, event: str, obj: Obj) -> None:
        if event != "DELETED":
            self._csr_queue.add(obj["metadata"]["name"])
            self._wake.set()

    def _on_kustomization(self, event: str, obj: Obj) -> None:
        self._mark_all()

    # -- queries used by reconcilers -------------------------------------------------------------

    @staticmethod
    def _host_of_namespace(namespace: str) -> str | None:
        if namespace.startswith(names.HOST_NAMESPACE_PREFIX):
            return namespace[len(names.HOST_NAMESPACE_PREFIX) :]
        return None

    def select_hosts(
        self, selector: LabelSelector, among: Iterable[str] | None = None
    ) -> list[str]:
        pool = set(among) if among is not None else None
        out = []
        for (_, name), host in self.hosts.items.items():
            if pool is not None and name not in pool:
                continue
            if (host.get("spec") or {}).get("paused"):
                continue
            if selector.matches(host["metadata"].get("labels") or {}):
                out.append(name)
        return sorted(out)

    def online(self, host: str) -> bool:
        lease = self.leases.get(names.host_namespace(host), names.LEASE_NAME)
        if lease is None:
            return False
        spec = lease.get("spec") or {}
        renewed = _parse_time(spec.get("renewTime") or "")
        if renewed is None or not spec.get("holderIdentity"):
            return False  # never renewed, or released by an agent that stopped
        grace = self.host_grace_seconds
        if grace is None:
            grace = float(spec.get("leaseDurationSeconds") or 40)
        return (dt.datetime.now(dt.UTC) - renewed).total_seconds() <= grace

    def last_heartbeat(self, host: str) -> str:
        lease = self.leases.get(names.host_namespace(host), names.LEASE_NAME) or {}
        return str((lease.get("spec") or {}).get("renewTime") or "")

    def revision_for(self, conf: Obj, generation: int) -> str:
        """The Git revision Flux was applying when this generation appeared: the
        Kustomization's lastAttemptedRevision, remembered per generation (and recovered from
        Assignments after a restart) so later commits that leave it alone don't relabel it."""
        meta = conf["metadata"]
        key = (meta["namespace"], meta["name"], generation)
        if key in self._revisions:
            return self._revisions[key]
        label = configurations.config_label(meta["namespace"], meta["name"])
        for obj in self.assignments.items.values():
            spec = obj.get("spec") or {}
            if (obj["metadata"].get("labels") or {}).get(names.LABEL_CONFIGURATION) == label and (
                spec.get("source") or {}
            ).get("generation") == generation:
                rev = str(spec["source"].get("revision") or "")
                self._revisions[key] = rev
                return rev
        ks = self.kustomization_of(conf)
        rev = str(((ks or {}).get("status") or {}).get("lastAttemptedRevision") or "")
        if rev:
            self._revisions[key] = rev
        return rev

    def assignment(self, namespace: str, name: str) -> Assignment | None:
        """The cached Assignment as a model, parsed once per resourceVersion."""
        obj = self.assignments.get(namespace, name)
        if obj is None:
            return None
        rv = obj["metadata"].get("resourceVersion", "")
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

    def kustomization_of(self, conf: Obj) -> Obj | None:
        """The Flux Kustomization that applied a Configuration, from Flux's labels."""
        labels = conf["metadata"].get("labels") or {}
        name = labels.get(names.FLUX_KUSTOMIZATION_NAME)
        if not name:
            return None
        namespace = labels.get(names.FLUX_KUSTOMIZATION_NAMESPACE, conf["metadata"]["namespace"])
        return self.kustomizations.get(namespace, name)

    def parsed(self, conf: Obj) -> tuple[ConfigurationSpec, dict[str, str]]:
        """A Configuration's validated spec and managed identities, parsed once per generation:
        every Assignment status change re-reconciles, and conflict checks read every spec.
        Raises ValidationError for an invalid spec."""
        meta = conf["metadata"]
        key = (meta.get("uid", ""), int(meta.get("generation") or 0))
        cached = self._parsed.get(key)
        if cached is None:
            spec = ConfigurationSpec.model_validate(conf.get("spec") or {})
            for stale in [k for k in self._parsed if k[0] == key[0]]:
                del self._parsed[stale]  # an older generation of the same object
            cached = self._parsed[key] = (spec, configurations.identities(spec))
        return cached

    def conflicts(self, key: Key, spec: ConfigurationSpec, selected: list[str]) -> str:
        """A message naming the other Configuration when both manage one OS object on a host."""
        mine = configurations.identities(spec)
        chosen = set(selected)
        for other_key, other in sorted(self.configurations.items.items()):
            if other_key == key:
                continue
            try:
                other_spec, theirs = self.parsed(other)
            except ValueError:
                continue
            shared = set(mine) & set(theirs)
            if not shared:
                continue
            both = chosen & set(self.select_hosts(other_spec.host_selector))
            if both:
                ident = sorted(shared)[0]
                return (
                    f"resource {mine[ident]} ({ident}) is also managed by Configuration "
                    f"{other_key[0]}/{other_key[1]} on host(s) {', '.join(sorted(both)[:5])}"
                )
        return ""

    def _refresh_liveness(self, hosts_: Iterable[str]) -> None:
        changed = False
        for host in hosts_:
            now = self.online(host)
            if self._online.get(host) != now:
                self._online[host] = now
                self._hosts_dirty.add(host)
                changed = True
        if changed:
            self._mark_all()

    # -- the loops --------------------------------------------------------------------------------

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in self._informers]
        try:
            await asyncio.gather(*(i.synced.wait() for i in self._informers))
            log.info("caches synced")
            self._mark_all()
            self._hosts_dirty.update(n for _, n in self.hosts.items)
            await asyncio.gather(self._work(), self._liveness())
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _liveness(self) -> None:
        while True:
            await asyncio.sleep(self.liveness_interval)
            self._refresh_liveness(n for _, n in self.hosts.items)

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0.02)  # coalesce bursts of events into one pass
            failed = await self._drain(self._csr_queue, lambda n: csr.review(self, n))
            failed |= await self._drain(self._hosts_dirty, lambda h: hosts.reconcile(self, h))
            failed |= await self._drain(self._dirty, lambda k: configurations.reconcile(self, k))
            if failed:
                await asyncio.sleep(0.5)  # back off, then retry what failed
                self._wake.set()

    async def _drain(self, queue: set[Any], work: Callable[[Any], Awaitable[None]]) -> bool:
        """Run work for every queued item, a few at a time; failed items are queued again."""
        items = sorted(queue)
        queue.difference_update(items)
        sem = asyncio.Semaphore(self.concurrency)
        failed = False

        async def one(item: Any) -> None:
            nonlocal failed
            async with sem:
                try:
                    await work(item)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconcile %s failed; will retry", item)
                    queue.add(item)
                    failed = True

        await asyncio.gather(*(one(i) for i in items))
        return failed
