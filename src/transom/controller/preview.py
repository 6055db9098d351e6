"""Previews: turn a Preview (proposed Configuration specs) into one HostPreview per selected
host and Configuration, in that host's namespace, and garbage-collect them when they expire.

The controller asks, it never answers: each host's agent evaluates its HostPreview in
what-if mode (agent/preview.py). Hosts are resolved and values substituted exactly as for an
Assignment (`ConfigurationReconciler.assignment_for`), so a host evaluates what it would be
sent. A Preview is acted on once (its spec is immutable); its status lists every selected
host, with the ones not asked (offline, or failing already here) and why.

HostPreviews live in other namespaces than their Preview, and owner references cannot cross
namespaces (the garbage collector would delete such a dependent at once), so they are
found by label and deleted here: when their Preview is gone or either has expired.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from pydantic import ValidationError

from transom.api import conditions as c
from transom.api import names
from transom.api.assignment import ObjectReference
from transom.api.configuration import ConfigurationSpec
from transom.api.errors import from_pydantic
from transom.api.preview import (
    LABEL_PREVIEW,
    MAX_PREVIEW_HOSTS,
    HostPreview,
    HostPreviewSpec,
    Preview,
    PreviewedConfiguration,
    PreviewHost,
    PreviewHostState,
    PreviewStatus,
    expired,
    host_preview_name,
    parse_time,
    preview_label,
    rfc3339,
)
from transom.api.wire import ObjectMeta
from transom.controller.cache import Cache, snapshot
from transom.controller.configurations import ConfigurationReconciler, _StalledError
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.informer import Informer, Key, key_of
from transom.kube.kinds import HOST_PREVIEWS, PREVIEWS, SECRETS

log = logging.getLogger(__name__)

#: Reasons in a Preview's status.
DISPATCHED = "Dispatched"
PREVIEW_FAILED = "PreviewFailed"
#: How often expiry is checked (a Preview's TTL is at least a minute).
SWEEP_SECONDS = 15.0

Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PreviewReconciler:
    """Its own watches and loop, beside the Configuration work queue: a preview must not wait
    behind a fleet's rollout, nor delay one."""

    def __init__(
        self,
        cache: Cache,
        kube: Kube,
        configurations: ConfigurationReconciler,
        *,
        clock: Clock = _now,
        sweep_seconds: float = SWEEP_SECONDS,
        concurrency: int = 16,
    ) -> None:
        self.cache = cache
        self.kube = kube
        self.configurations = configurations
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        self.concurrency = concurrency
        managed = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
        self.previews = Informer(kube, PREVIEWS.path(), self._on_preview, optional=True)
        self.host_previews = Informer(
            kube, HOST_PREVIEWS.path(), label_selector=managed, optional=True
        )
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()

    def _on_preview(self, event: str, obj: Obj) -> None:
        self._dirty.add(key_of(obj))
        self._wake.set()

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in (self.previews, self.host_previews)]
        try:
            await asyncio.gather(self.previews.synced.wait(), self.host_previews.synced.wait())
            await asyncio.gather(self._work(), self._sweeper())
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sweeper(self) -> None:
        while True:
            try:
                await self.sweep()
            except (ApiError, OSError) as e:
                log.warning("preview sweep failed, will retry: %s", e)
            await asyncio.sleep(self.sweep_seconds)

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            items = sorted(self._dirty)
            self._dirty.difference_update(items)
            for key in items:
                try:
                    await self.reconcile(key)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("preview %s/%s failed, will retry: %s", *key, e)
                    self._dirty.add(key)
            if self._dirty:
                await asyncio.sleep(1.0)
                self._wake.set()

    # -- one Preview ------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        obj = self.previews.get(*key)
        if obj is None:
            await self._delete_host_previews(preview_label(*key))
            return
        created = parse_time(str(obj["metadata"].get("creationTimestamp") or "")) or self.clock()
        generation = int(obj["metadata"].get("generation") or 1)
        try:
            preview = Preview.model_validate(obj)
        except ValidationError as e:
            await self._write_status(
                obj, _failed_status(generation, f"invalid Preview: {e.errors()[0]['msg']}")
            )
            return
        expires = created + dt.timedelta(seconds=preview.spec.ttl_seconds)
        if self.clock() >= expires:
            await self._delete_host_previews(preview_label(*key))
            await self.kube.delete(PREVIEWS.path(*key))
            self.previews.forget(*key)
            return
        if preview.status.observed_generation == generation:
            return  # asked once; the spec cannot change
        fleet, configurations = await self._fleet()
        selected = 0
        for proposed in preview.spec.configurations:
            try:
                spec = proposed.configuration_spec()
            except ValidationError as e:
                problems = "; ".join(str(err) for err in from_pydantic("spec", e)[:5])
                await self._write_status(
                    obj,
                    _failed_status(generation, f"Configuration {proposed.name}: {problems}"),
                )
                return
            selected += len(fleet.select_hosts(spec.host_selector))
        if selected > MAX_PREVIEW_HOSTS:
            message = (
                f"the Configurations select {selected} hosts (counted once per Configuration); "
                f"one preview covers at most {MAX_PREVIEW_HOSTS}: preview fewer at once"
            )
            await self._write_status(obj, _failed_status(generation, message))
            return
        hosts: list[PreviewHost] = []
        for proposed in preview.spec.configurations:
            hosts += await self._ask(
                obj,
                preview,
                proposed,
                rfc3339(expires),
                fleet=fleet,
                configurations=configurations,
            )
        status = PreviewStatus(
            observed_generation=generation,
            hosts=hosts,
            expires_at=rfc3339(expires),
            conditions=c.set_condition(
                [],
                c.READY,
                "True",
                DISPATCHED,
                _dispatched_message(hosts),
                generation=generation,
            ),
        )
        await self._write_status(obj, status)

    async def _fleet(self) -> tuple[Cache, ConfigurationReconciler]:
        """The hosts to choose from: the caches'; sharded, those hold one shard's hosts, so
        every Host and host Lease is read once for this Preview (one shard asks for all)."""
        if self.cache.shard is None:
            return self.cache, self.configurations
        everyone = await snapshot(self.kube)
        return everyone, ConfigurationReconciler(
            everyone, self.configurations.writer, requeue=lambda _: None
        )

    async def _ask(
        self,
        obj: Obj,
        preview: Preview,
        proposed: PreviewedConfiguration,
        expires_at: str,
        *,
        fleet: Cache,
        configurations: ConfigurationReconciler,
    ) -> list[PreviewHost]:
        """One HostPreview per host ``proposed`` selects; the hosts not asked, and why."""
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        conf = {"metadata": {"namespace": namespace, "name": proposed.name, "labels": {}}}
        spec = proposed.configuration_spec()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(host: str) -> PreviewHost:
            entry = PreviewHost(
                host=host, configuration=proposed.name, state=PreviewHostState.REQUESTED
            )
            if not fleet.online(host):
                return entry.model_copy(update={"state": PreviewHostState.OFFLINE})
            async with gate:
                try:
                    body, problem = await self._request(
                        configurations,
                        conf,
                        proposed.name,
                        spec,
                        host,
                        preview=preview,
                        expires_at=expires_at,
                        at=(namespace, name),
                    )
                except _StalledError as e:
                    return _failed_host(entry, e.reason, e.message)
                if problem:
                    return _failed_host(entry, c.SECRET_NOT_FOUND, problem)
                written = await self.kube.apply(
                    HOST_PREVIEWS.path(names.host_namespace(host), body["metadata"]["name"]), body
                )
            self.host_previews.observe(written)
            return entry.model_copy(update={"host_preview": body["metadata"]["name"]})

        # A few at a time, as the Configuration reconciler writes Assignments.
        hosts = fleet.select_hosts(spec.host_selector)
        return list(await asyncio.gather(*(one(h) for h in hosts)))

    async def _request(
        self,
        configurations: ConfigurationReconciler,
        conf: Obj,
        configuration: str,
        spec: ConfigurationSpec,
        host: str,
        *,
        preview: Preview,
        expires_at: str,
        at: Key,
    ) -> tuple[Obj, str]:
        """The HostPreview for one host, and what the real rollout would stop at before it
        reached the host (a missing Secret), if anything. Raises what the rollout would stall
        at on this host (a value that cannot be substituted, or invalid once it is)."""
        namespace, name = at
        assignment, wanted = configurations.assignment_for(conf, spec, host, 1, "")
        host_ns = names.host_namespace(host)
        pending: list[str] = []
        for secret, keys in sorted(wanted.items()):
            source = await self.kube.get_or_none(SECRETS.path(namespace, secret))
            data = (source or {}).get("data") or {}
            missing = sorted(k for k in keys if k not in data)
            if source is None or missing:
                what = "not found" if source is None else f"has no key {', '.join(missing)}"
                return {}, f"Secret {namespace}/{secret} {what}"
            copy = names.copied_secret_name(namespace, secret)
            if await self.kube.get_or_none(SECRETS.path(host_ns, copy)) is None:
                pending.append(copy)
        request = HostPreviewSpec(
            host=host,
            preview=ObjectReference(namespace=namespace, name=name),
            configuration=ObjectReference(namespace=namespace, name=configuration),
            requested_by=preview.spec.requested_by,
            expires_at=expires_at,
            resources=assignment.spec.resources,
            mode=assignment.spec.mode,
            pending_secrets=pending,
        )
        model = HostPreview(
            metadata=ObjectMeta(
                name=host_preview_name(namespace, name, configuration),
                namespace=host_ns,
                labels={
                    names.LABEL_HOST: host,
                    LABEL_PREVIEW: preview_label(namespace, name),
                    names.LABEL_MANAGED_BY: names.MANAGED_BY,
                },
            ),
            spec=request,
        )
        body = model.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"status", "metadata"}
        )
        body["metadata"] = model.metadata.model_dump(
            mode="json", by_alias=True, exclude_defaults=True
        )
        return body, ""

    async def _write_status(self, obj: Obj, status: PreviewStatus) -> None:
        meta = obj["metadata"]
        try:
            written = await self.kube.patch(
                PREVIEWS.path(meta["namespace"], meta["name"], "status"),
                {"status": status.model_dump(mode="json", by_alias=True)},
            )
        except ApiError as e:
            if e.status == 404:
                return
            raise
        self.previews.observe(written)

    # -- garbage collection -----------------------------------------------------------------

    async def sweep(self) -> None:
        """Delete expired Previews, and HostPreviews whose Preview is gone or expired."""
        now = self.clock()
        for key in sorted(self.previews.items):
            self._dirty.add(key)  # reconcile deletes it once expired
        self._wake.set()
        live = {preview_label(*k) for k in self.previews.items}
        for (ns, name), obj in list(self.host_previews.items.items()):
            labels = obj["metadata"].get("labels") or {}
            spec = obj.get("spec") or {}
            if labels.get(LABEL_PREVIEW) not in live or expired(
                str(spec.get("expiresAt", "")), now
            ):
                await self._delete(ns, name)

    async def _delete_host_previews(self, label: str) -> None:
        for (ns, name), obj in list(self.host_previews.items.items()):
            if (obj["metadata"].get("labels") or {}).get(LABEL_PREVIEW) == label:
                await self._delete(ns, name)

    async def _delete(self, namespace: str, name: str) -> None:
        await self.kube.delete(HOST_PREVIEWS.path(namespace, name))
        self.host_previews.forget(namespace, name)


def _failed_host(entry: PreviewHost, reason: str, message: str) -> PreviewHost:
    return entry.model_copy(
        update={"state": PreviewHostState.FAILED, "reason": reason, "message": message[:1024]}
    )


def _failed_status(generation: int, message: str) -> PreviewStatus:
    return PreviewStatus(
        observed_generation=generation,
        conditions=c.set_condition(
            [], c.READY, "False", PREVIEW_FAILED, message[:1024], generation=generation
        ),
    )


def _dispatched_message(hosts: list[PreviewHost]) -> str:
    counts = {state: sum(1 for h in hosts if h.state is state) for state in PreviewHostState}
    return (
        f"{counts[PreviewHostState.REQUESTED]} host(s) asked, "
        f"{counts[PreviewHostState.OFFLINE]} offline, "
        f"{counts[PreviewHostState.FAILED]} failing before they were asked"
    )
