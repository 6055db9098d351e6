"""The controller process: caches fed by watches, one work queue per kind, one reconciler per
kind (Configuration, Host, CSR), and the periodic liveness check that turns a silent agent
into an unavailable host. Event handlers only mark work; reconcilers read the cache and
write through the one writer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from transom.api import names
from transom.controller.cache import Cache, Writer
from transom.controller.configurations import ConfigurationReconciler
from transom.controller.csr import CsrReconciler
from transom.controller.flux_events import Notifier
from transom.controller.hosts import HostReconciler
from transom.controller.liveness import Transitions
from transom.controller.preview import PreviewReconciler
from transom.controller.shards import Shard
from transom.kube.backoff import Backoff
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.informer import DELETED, Key, key_of
from transom.kube.leader import LeaderElector, LeadershipLostError

if TYPE_CHECKING:
    from transom.controller.metrics import ControllerMetrics

log = logging.getLogger(__name__)

#: The wait before a pass, to coalesce events: at least this long,
MIN_WINDOW_SECONDS = 0.02
#: this many times as long as the last pass took,
WINDOW_PER_PASS = 4.0
#: and never longer than this.
MAX_WINDOW_SECONDS = 1.0


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
        metrics: ControllerMetrics | None = None,
        shard: Shard | None = None,
    ) -> None:
        self.kube = kube
        self.liveness_interval = liveness_interval
        self.concurrency = concurrency
        self.cache = Cache(kube, host_grace_seconds=host_grace_seconds, shard=shard)
        self.writer = writer = Writer(kube, self.cache)
        self.metrics = metrics
        if metrics is not None:
            metrics.observe_hosts(self.cache)  # read when scraped
        self.configurations = ConfigurationReconciler(
            self.cache,
            writer,
            requeue=self._mark,
            requeue_after=self._mark_later,
            notifier=notifier,
            instance=instance,
            metrics=self.metrics,
        )
        self.hosts = HostReconciler(self.cache, writer)
        self.csrs = CsrReconciler(self.cache, writer, self.hosts)
        self.previews = PreviewReconciler(self.cache, kube, self.configurations)
        self._liveness = Transitions(self.cache.online)
        self._shards_alive = self.cache.shards_alive()
        self._dirty: set[Key] = set()
        self._hosts_dirty: set[str] = set()
        self._csr_queue: set[str] = set()
        self._wake = asyncio.Event()
        #: Reconciles due at a time (a pause ends, a window opens), at most one per key.
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._retry = Backoff(30.0, initial=0.5)
        self.cache.configurations.on_event = self._on_configuration
        self.cache.assignments.on_event = self._on_assignment
        self.cache.hosts.on_event = self._on_host
        self.cache.leases.on_event = self._on_lease
        self.cache.csrs.on_event = self._on_csr
        self.cache.kustomizations.on_event = self._on_kustomization
        self.cache.approvals.on_event = self._on_approval
        self.cache.reboot_leases.on_event = self._on_reboot_lease
        for informer in self.cache.unlabelled.values():
            informer.on_event = self._on_unlabelled
        if self.cache.shard_leases is not None:
            self.cache.shard_leases.on_event = self._on_shard_lease

    # -- event handlers: cheap, they only mark work ----------------------------------------------

    def _mark(self, keys: Iterable[Key]) -> None:
        self._dirty.update(keys)
        self._wake.set()

    def _mark_later(self, key: Key, seconds: float) -> None:
        """Reconcile ``key`` again in ``seconds`` (an earlier timer for it stays)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, seconds)
        timer = self._timers.get(key)
        if timer is not None and loop.time() < timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._mark, [key])

    def _mark_all(self) -> None:
        self._mark(self.cache.configuration_keys())

    def _on_configuration(self, event: str, obj: Obj) -> None:
        self._mark([key_of(obj)])

    def _on_assignment(self, event: str, obj: Obj) -> None:
        # The Assignment names its Configuration (its label may be hash-shortened).
        source = ((obj.get("spec") or {}).get("source") or {}).get("configuration") or {}
        if source.get("name"):
            self._mark([(str(source.get("namespace", "")), str(source["name"]))])

    def _on_host(self, event: str, obj: Obj) -> None:
        host = obj["metadata"]["name"]
        if event == DELETED:
            self._liveness.forget(host)
        self._hosts_dirty.add(host)
        self._mark_all()

    def _on_lease(self, event: str, obj: Obj) -> None:
        namespace = obj["metadata"].get("namespace", "")
        if namespace.startswith(names.HOST_NAMESPACE_PREFIX):
            self._refresh_liveness([namespace[len(names.HOST_NAMESPACE_PREFIX) :]])

    def _on_csr(self, event: str, obj: Obj) -> None:
        if event != DELETED:
            self._csr_queue.add(obj["metadata"]["name"])
            self._wake.set()

    def _on_unlabelled(self, event: str, obj: Obj) -> None:
        # The host reconciler labels what is this shard's: an unlabelled Host by its name's
        # hash, a Lease or Assignment by its host's shard.
        if event == DELETED:
            return
        meta = obj["metadata"]
        namespace = str(meta.get("namespace", ""))
        host = namespace.removeprefix(names.HOST_NAMESPACE_PREFIX) if namespace else meta["name"]
        self._hosts_dirty.add(host)
        self._wake.set()

    def _on_shard_lease(self, event: str, obj: Obj) -> None:
        self._refresh_shards()

    def _refresh_shards(self) -> None:
        alive = self.cache.shards_alive()
        if alive != self._shards_alive:
            log.info("live shards: %s", ", ".join(map(str, sorted(alive))))
            self._shards_alive = alive
            self._mark_all()

    def _on_kustomization(self, event: str, obj: Obj) -> None:
        self._mark_all()

    def _on_approval(self, event: str, obj: Obj) -> None:
        conf = (obj.get("spec") or {}).get("configuration")
        if conf:
            self._mark([(str(obj["metadata"].get("namespace", "")), str(conf))])

    def _on_reboot_lease(self, event: str, obj: Obj) -> None:
        # A lease counts against the budget of every Configuration selecting its host.
        self._mark_all()

    def _refresh_liveness(self, hosts: Iterable[str]) -> None:
        changed = self._liveness.changed(hosts)
        if changed:
            self._hosts_dirty.update(changed)
            self._mark_all()

    # -- the loops --------------------------------------------------------------------------------

    async def run(self, elector: LeaderElector | None = None) -> None:
        """Reconcile until cancelled. With an elector, the caches fill first (a warm
        standby), then the work waits for leadership; losing it raises LeadershipLostError."""
        informers = self.cache.informers
        tasks = [asyncio.create_task(i.run()) for i in informers]
        try:
            await asyncio.gather(*(i.synced.wait() for i in informers))
            log.info("caches synced")
            if elector is not None:
                await elector.acquire()
                self.writer.leading = elector.leading
                # What the previous leader wrote last is in the caches before any decision.
                await asyncio.gather(
                    *(
                        i.resync()
                        for i in (
                            self.cache.configurations,
                            self.cache.hosts,
                            self.cache.assignments,
                        )
                    )
                )
            self._mark_all()
            self._hosts_dirty.update(self.cache.host_names())
            shard = self.cache.shard
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._work())
                    tg.create_task(self._liveness_loop())
                    if shard is None or shard.key == 0:
                        tg.create_task(self.previews.run())  # one shard asks every host
                    if elector is not None:
                        tg.create_task(elector.hold())
            except* LeadershipLostError as group:
                raise group.exceptions[0] from None
        finally:
            for timer in self._timers.values():
                timer.cancel()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.liveness_interval)
            self._refresh_liveness(self.cache.host_names())
            self._refresh_shards()  # a shard's leader Lease runs out without an event

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        window = MIN_WINDOW_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Coalesce a burst of events into one pass. A pass reads every host of a
            # Configuration, so a big fleet's status reports wait longer between passes: the
            # window is a few times the last pass, so passes take at most a fraction of a core.
            await asyncio.sleep(window)
            started = loop.time()
            failed = await self._drain(self._csr_queue, self.csrs.reconcile)
            failed |= await self._drain(self._hosts_dirty, self.hosts.reconcile)
            failed |= await self._drain(self._dirty, self.configurations.reconcile)
            window = min(
                MAX_WINDOW_SECONDS,
                max(MIN_WINDOW_SECONDS, WINDOW_PER_PASS * (loop.time() - started)),
            )
            if failed:
                await self._retry.sleep()  # back off, longer each time, then retry what failed
                self._wake.set()
            else:
                self._retry.reset()

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
                except ApiError as e:
                    # The apiserver's answer says it all; no traceback for an expected failure.
                    log.warning("reconcile %s failed, will retry: %s", item, e)
                    queue.add(item)
                    failed = True
                except Exception:
                    log.exception("reconcile %s failed; will retry", item)
                    queue.add(item)
                    failed = True

        await asyncio.gather(*(one(i) for i in items))
        return failed
