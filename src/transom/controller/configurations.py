"""Reconcile one Configuration: select hosts, roll the generation out, aggregate status.

A guard (deleted: remove its Assignments), then the pipeline: parse, check conflicts, plan
the wave, write Assignments (with copied Secrets), remove stale ones, aggregate. Whatever way
the pipeline ends, the status is written once, at the end: a problem found on the way (an
invalid spec, a conflict, a write the apiserver rejects) makes it Stalled with the problem's
message, on top of what the hosts report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from transom.api import conditions as c
from transom.api import names
from transom.api.assignment import (
    Assignment,
    AssignmentSource,
    AssignmentSpec,
    ObjectReference,
)
from transom.api.configuration import ConfigurationSpec, ConfigurationStatus
from transom.api.errors import SpecError, from_pydantic
from transom.api.provenance import UNVERIFIED_SOURCE, Provenance, unverified
from transom.api.wire import ObjectMeta
from transom.controller import events, flux_events, gates, rollout, shards
from transom.controller.cache import Cache, Writer
from transom.controller.hostview import HostView
from transom.controller.provenance import ProvenanceReader
from transom.controller.secrets_copy import MissingSecretError, copy_secrets, rewrite_refs
from transom.controller.status import aggregate, stalled
from transom.controller.substitute import SubstitutionError, substitute_host
from transom.engine.graph import check_acyclic
from transom.kube.client import ApiError, Obj
from transom.kube.informer import Key
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS

if TYPE_CHECKING:
    from transom.controller.metrics import ControllerMetrics

log = logging.getLogger(__name__)

#: Assignment writes in flight at once for one Configuration.
WRITE_CONCURRENCY = 32

#: Answers that mean the apiserver will never accept this write as it is.
_REJECTED = (400, 422)


class _StalledError(Exception):
    """A problem only a change to the Configuration (or the cluster) can fix."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(message)


def rejected(e: ApiError) -> bool:
    return e.status in _REJECTED


def identities(spec: ConfigurationSpec) -> dict[str, str]:
    """Managed OS object identity -> resource name, for conflict detection."""
    out: dict[str, str] = {}
    for r in spec.resources:
        try:
            out[r.properties.identity()] = r.name
        except NotImplementedError:
            continue
    return out


@dataclass(frozen=True)
class _Parsed:
    spec: ConfigurationSpec
    identities: dict[str, str]


class ConfigurationReconciler:
    def __init__(
        self,
        cache: Cache,
        writer: Writer,
        *,
        requeue: Callable[[Iterable[Key]], None],
        requeue_after: Callable[[Key, float], None] | None = None,
        notifier: flux_events.Notifier | None = None,
        instance: str = "transom-controller",
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.writer = writer
        self.requeue = requeue
        #: Reconcile a Configuration again after some seconds (a pause ends, a window opens).
        self.requeue_after = requeue_after
        #: Forwards rollout outcomes to Flux's notification-controller when set.
        self.notifier = notifier
        self.instance = instance
        self._revisions: dict[tuple[str, str, int], str] = {}
        self.provenance = ProvenanceReader(writer.kube, cache)
        self._parsed: dict[tuple[str, int], _Parsed] = {}
        #: Configuration -> the others it was last found in conflict with: both sides are
        #: marked, and both clear when one goes, whichever arrived first.
        self._partners: dict[Key, set[Key]] = {}
        self._views: dict[Key, tuple[tuple[str, bool, float | None], HostView]] = {}

    # -- the reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        obj = self.cache.configuration(key)
        if obj is None:
            await self._remove_assignments(key, keep=set())
            self._set_partners(key, set())
            self._forget(key)
            if self.metrics is not None:
                self.metrics.forget(key)
            return
        generation = int(obj["metadata"].get("generation", 1))
        previous = ConfigurationStatus.model_validate(obj.get("status") or {})
        # Sharded, this shard's hosts alone say how far it got (shards.py adds the others).
        status = base = shards.own(previous, self.cache.shard)
        try:
            status = await self._pipeline(key, obj, generation, base)
        except _StalledError as e:
            status = stalled(base, generation, e.reason, e.message)
            if self.metrics is not None:
                self.metrics.rollout(key, generation, None, status)
        finally:
            # The one status write, whichever way the pipeline ended (an unexpected error
            # leaves the previous status, which writes nothing, and is retried).
            status = await self._write_status(obj, status, generation)
        await self._announce(obj, previous, status)
        await gates.announce(self.writer.kube, obj, previous, status, self.instance)

    async def _pipeline(
        self, key: Key, obj: Obj, generation: int, previous: ConfigurationStatus
    ) -> ConfigurationStatus:
        spec = self.parsed(obj).spec
        try:
            check_acyclic(spec.resources, "spec.resources")
        except SpecError as e:
            raise _StalledError(c.INVALID_SPEC, str(e)) from None
        selected = self.cache.select_hosts(spec.host_selector)
        problem: _StalledError | None = None
        conflict = self._conflicts(key, spec, selected)
        if conflict:
            problem = _StalledError(c.RESOURCE_CONFLICT, conflict)

        revision = self.revision_for(obj, generation)
        provenance = await self.provenance.read(obj, generation, revision)
        if problem is None and spec.require_verified_source:
            why = unverified(provenance)
            if why:
                problem = _StalledError(
                    UNVERIFIED_SOURCE, f"spec.requireVerifiedSource: not rolled out: {why}"
                )
        views = {h: self._view(h, key) for h in selected}
        records = gates.approvals(self.cache, key, generation)
        now = time.time()
        limits = shards.reboot_share(self.cache.shard, gates.reboot_limits(spec))
        room = limits.expected_seconds if limits is not None else 0.0
        # A change that may reboot needs room for one in the window to start at all.
        windows = gates.verdicts(
            self.cache, spec, selected, now, room if gates.may_reboot(spec) else 0.0
        )
        plan = rollout.plan(
            generation,
            list(views.values()),
            gates.stages(self.cache, spec, selected, {r.partition for r in records}),
            *shards.limits(self.cache.shard, spec.rollout),
            suspended=spec.suspend,
            now=now,
            windows=windows,
            reboot_windows=gates.verdicts(self.cache, spec, selected, now, room)
            if limits is not None
            else None,
            reboot=limits,
        )
        plan = shards.held(plan, self.cache.shard, previous.shards, generation)
        assign = () if problem is not None else plan.assign
        if (
            assign
            and previous.observed_generation != generation
            and not any(v.at(generation) for v in views.values())
        ):
            await events.emit(
                self.writer.kube,
                obj,
                type_=events.NORMAL,
                reason=c.ROLLOUT_IN_PROGRESS,
                action="Rollout",
                note=f"rolling out generation {generation}"
                f"{' (' + revision + ')' if revision else ''} to {len(selected)} host(s)",
                instance=self.instance,
            )
        written, errors = await self._write_wave(
            assign,
            lambda h: self._write_assignment(
                obj, spec, h, generation, revision, provenance=provenance
            ),
        )
        for host in written:
            views[host] = HostView(name=host, online=views[host].online, assigned=generation)
        stalls = [e for e in errors if isinstance(e, _StalledError)]
        if stalls:
            problem = stalls[0]
        elif errors:
            raise errors[0]
        granted = await self._grant_reboots(obj, key, plan, limits) if problem is None else []
        for host in granted:
            views[host] = replace(views[host], reboot_since=now)
        await self._remove_assignments(key, keep=set(selected))
        if plan.next_check is not None and self.requeue_after is not None:
            self.requeue_after(key, plan.next_check - now + 0.05)

        status = aggregate(
            previous,
            generation,
            revision,
            list(views.values()),
            plan,
            suspended=spec.suspend,
            approvals=records,
            rebooting=len(plan.rebooting) + len(granted),
        )
        if problem is not None:
            status = stalled(status, generation, problem.reason, problem.message)
        if self.metrics is not None:
            self.metrics.rollout(key, generation, views.values(), status)
        return status

    @staticmethod
    async def _write_wave(
        hosts: Sequence[str], write: Callable[[str], Awaitable[None]]
    ) -> tuple[list[str], list[Exception]]:
        """Write a wave's Assignments, WRITE_CONCURRENCY in flight (the client's rate limit
        paces them): one at a time, a 1,000-host wave waits out 1,000 round trips, and in
        batches each batch waits for its slowest write. After the first failure no more are
        started (the next hosts would meet the same problem). The hosts written and the
        failures, both in host order."""
        todo = iter(enumerate(hosts))
        outcome: dict[int, Exception | None] = {}
        failed = False

        async def worker() -> None:
            nonlocal failed
            while not failed and (item := next(todo, None)) is not None:
                i, host = item
                try:
                    await write(host)
                    outcome[i] = None
                except Exception as e:
                    outcome[i], failed = e, True

        await asyncio.gather(*(worker() for _ in range(min(WRITE_CONCURRENCY, len(hosts)))))
        done = sorted(outcome.items())
        return (
            [hosts[i] for i, r in done if r is None],
            [r for _, r in done if r is not None],
        )

    # -- reading ----------------------------------------------------------------------------

    def parsed(self, conf: Obj) -> _Parsed:
        """A Configuration's validated spec and managed identities, parsed once per generation:
        every Assignment status change re-reconciles, and conflict checks read every spec."""
        meta = conf["metadata"]
        key = (str(meta.get("uid", "")), int(meta.get("generation") or 0))
        cached = self._parsed.get(key)
        if cached is None:
            try:
                spec = ConfigurationSpec.model_validate(conf.get("spec") or {})
            except ValidationError as e:
                message = "; ".join(str(err) for err in from_pydantic("spec", e))
                raise _StalledError(c.INVALID_SPEC, message) from None
            for stale in [k for k in self._parsed if k[0] == key[0]]:
                del self._parsed[stale]  # an older generation of the same object
            cached = self._parsed[key] = _Parsed(spec, identities(spec))
        return cached

    def _forget(self, key: Key) -> None:
        live = {str(o["metadata"].get("uid", "")) for _, o in self.cache.each_configuration()}
        self._parsed = {k: v for k, v in self._parsed.items() if k[0] in live}
        self._revisions = {k: v for k, v in self._revisions.items() if k[:2] != key}
        self.provenance.keep(live)
        gone = names.assignment_name(*key)
        self._views = {k: v for k, v in self._views.items() if k[1] != gone}

    def _view(self, host: str, key: Key) -> HostView:
        """The host's view, computed once per Assignment version, liveness and reboot lease."""
        namespace, name = names.host_namespace(host), names.assignment_name(*key)
        obj = self.cache.assignments.get(namespace, name)
        stamp = (
            str(obj["metadata"].get("resourceVersion", "")) if obj else "",
            self.cache.online(host),
            gates.reboot_since(self.cache, host),
        )
        cached = self._views.get((namespace, name))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        view = HostView.from_assignment(
            host, stamp[1], self.cache.assignment(namespace, name), reboot_since=stamp[2]
        )
        self._views[(namespace, name)] = (stamp, view)
        return view

    async def _grant_reboots(
        self, obj: Obj, key: Key, plan: rollout.Plan, limits: rollout.RebootLimits | None
    ) -> list[str]:
        """Give the hosts the plan chose their reboot lease, each with an Event."""
        if limits is None:
            return []
        granted: list[str] = []
        for host in plan.grant_reboots:
            if not await gates.grant_reboot(
                self.writer, self.cache, host, key, limits.deadline_seconds
            ):
                continue
            granted.append(host)
            await events.emit(
                self.writer.kube,
                obj,
                type_=events.NORMAL,
                reason=c.REBOOT_GRANTED,
                action="Reboot",
                note=f"host {host} may reboot: "
                f"{len(plan.rebooting) + len(granted)}/{plan.max_rebooting} rebooting",
                instance=self.instance,
            )
        return granted

    def revision_for(self, conf: Obj, generation: int) -> str:
        """The Git revision Flux was applying when this generation appeared: the
        Kustomization's lastAttemptedRevision, remembered per generation (and recovered from
        Assignments after a restart) so later commits that leave it alone don't relabel it."""
        meta = conf["metadata"]
        key = (meta["namespace"], meta["name"], generation)
        if key in self._revisions:
            return self._revisions[key]
        label = names.configuration_label(meta["namespace"], meta["name"])
        for _, obj in self.cache.assignments_labelled(label):
            source = (obj.get("spec") or {}).get("source") or {}
            if source.get("generation") == generation:
                rev = str(source.get("revision") or "")
                self._revisions[key] = rev
                return rev
        ks = self.cache.kustomization_of(conf)
        rev = str(((ks or {}).get("status") or {}).get("lastAttemptedRevision") or "")
        if rev:
            self._revisions[key] = rev
        return rev

    def _conflicts(self, key: Key, spec: ConfigurationSpec, selected: list[str]) -> str:
        """A message naming another Configuration that manages one of the same OS objects on
        one of the same hosts; both sides are reconciled again when the pairing changes."""
        mine = identities(spec)
        chosen = set(selected)
        found: dict[Key, tuple[str, list[str]]] = {}
        for other_key, other in self.cache.each_configuration():
            if other_key == key:
                continue
            try:
                theirs = self.parsed(other)
            except _StalledError:
                continue
            shared = set(mine) & set(theirs.identities)
            if not shared:
                continue
            both = chosen & set(self.cache.select_hosts(theirs.spec.host_selector))
            if both:
                found[other_key] = (sorted(shared)[0], sorted(both))
        self._set_partners(key, set(found))
        if not found:
            return ""
        other_key, (ident, hosts) = sorted(found.items())[0]
        return (
            f"resource {mine[ident]} ({ident}) is also managed by Configuration "
            f"{other_key[0]}/{other_key[1]} on host(s) {', '.join(hosts[:5])}"
        )

    def _set_partners(self, key: Key, partners: set[Key]) -> None:
        before = self._partners.get(key, set())
        if partners:
            self._partners[key] = partners
        else:
            self._partners.pop(key, None)
        # The other side learns of a new conflict, or of one that ended, by its own reconcile.
        unaware = {k for k in partners if key not in self._partners.get(k, set())}
        outdated = {k for k in before - partners if key in self._partners.get(k, set())}
        if unaware | outdated:
            self.requeue(sorted(unaware | outdated))

    # -- writing ----------------------------------------------------------------------------

    def assignment_for(
        self,
        conf: Obj,
        spec: ConfigurationSpec,
        host: str,
        generation: int,
        revision: str,
        *,
        provenance: Provenance | None = None,
    ) -> tuple[Assignment, dict[str, set[str]]]:
        """The host's Assignment as a model, validated after substitution, and the Secrets
        (by name, with their keys) it references."""
        meta = conf["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            resources = substitute_host(
                [r.to_wire() for r in spec.resources],
                host,
                self.cache.host_labels(host),
                "spec.resources",
            )
            readiness = (
                None
                if spec.readiness is None
                else substitute_host(
                    spec.readiness.model_dump(mode="json", by_alias=True, exclude_none=True),
                    host,
                    self.cache.host_labels(host),
                    "spec.readiness",
                )
            )
        except SubstitutionError as e:
            raise _StalledError(c.INVALID_SPEC, str(e)) from None
        wanted = rewrite_refs(resources, namespace)
        labels = meta.get("labels") or {}
        kustomization = None
        if names.FLUX_KUSTOMIZATION_NAME in labels:
            kustomization = ObjectReference(
                namespace=labels.get(names.FLUX_KUSTOMIZATION_NAMESPACE, namespace),
                name=labels[names.FLUX_KUSTOMIZATION_NAME],
            )
        try:
            assignment_spec = AssignmentSpec.model_validate(
                {
                    "host": host,
                    "source": AssignmentSource(
                        configuration=ObjectReference(namespace=namespace, name=name),
                        generation=generation,
                        revision=revision,
                        kustomization=kustomization,
                        provenance=provenance,
                    ),
                    "resources": resources,
                    "mode": spec.mode,
                    "reboot_policy": spec.reboot_policy,
                    "reboot_lease": spec.reboot is not None,
                    "removal_policy": spec.removal_policy,
                    "readiness": readiness,
                    "rollback": spec.rollout.rollback,
                    "maintenance": gates.host_maintenance(spec, self.cache.host_labels(host)),
                }
            )
        except ValidationError as e:
            message = "; ".join(str(err) for err in from_pydantic("spec", e))
            raise _StalledError(
                c.INVALID_SPEC, f"host {host}: after substitution: {message}"
            ) from None
        assignment = Assignment(
            metadata=ObjectMeta(
                name=names.assignment_name(namespace, name),
                namespace=names.host_namespace(host),
                labels={
                    names.LABEL_HOST: host,
                    names.LABEL_CONFIGURATION: names.configuration_label(namespace, name),
                    names.LABEL_MANAGED_BY: names.MANAGED_BY,
                    **self.cache.shard_labels(),
                },
            ),
            spec=assignment_spec,
        )
        return assignment, wanted

    async def _write_assignment(
        self,
        conf: Obj,
        spec: ConfigurationSpec,
        host: str,
        generation: int,
        revision: str,
        *,
        provenance: Provenance,
    ) -> None:
        assignment, wanted = self.assignment_for(
            conf, spec, host, generation, revision, provenance=provenance
        )
        body = wire(assignment)
        host_ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        namespace = conf["metadata"]["namespace"]
        existing = self.cache.assignments.get(host_ns, name)
        try:
            # Secrets go first, so an agent never sees an Assignment whose Secrets are not
            # there yet; a new Assignment's copies get their owner reference once it exists.
            if wanted:
                await copy_secrets(self.writer.kube, wanted, namespace, host_ns, existing)
            written = await self.writer.apply(ASSIGNMENTS, body)
            if wanted and existing is None:
                await copy_secrets(self.writer.kube, wanted, namespace, host_ns, written)
        except MissingSecretError as e:
            raise _StalledError(c.INVALID_SPEC, str(e)) from None
        except ApiError as e:
            if rejected(e):
                raise _StalledError(
                    c.INVALID_SPEC, f"the apiserver rejected the write for host {host}: {e.message}"
                ) from None
            raise

    async def _remove_assignments(self, key: Key, keep: set[str]) -> None:
        for (ns, name), obj in self.cache.assignments_labelled(names.configuration_label(*key)):
            source = ((obj.get("spec") or {}).get("source") or {}).get("configuration") or {}
            if (source.get("namespace"), source.get("name")) != key:
                continue  # a hash-shortened label shared by another Configuration
            host = (obj["metadata"].get("labels") or {}).get(names.LABEL_HOST)
            if host in keep or (self.cache.shard and self.cache.host(str(host)) is None):
                continue  # kept, or a host that moved to another shard (which takes it over)
            await self.writer.delete(ASSIGNMENTS, ns, name)

    async def _write_status(
        self, obj: Obj, status: ConfigurationStatus, generation: int
    ) -> ConfigurationStatus:
        """Patch status only when it changed, so a quiet fleet costs the apiserver nothing;
        sharded, this shard's entry first, then the status all entries give (returned)."""
        if self.cache.shard is not None:
            obj, status = await shards.publish(
                self.writer, obj, status, self.cache.shard, self.cache.shards_alive()
            )
        # A manual reconcile request (Flux's annotation) is acknowledged the way Flux does it.
        requested = (obj["metadata"].get("annotations") or {}).get(names.FLUX_RECONCILE_REQUESTED)
        if requested:
            status = status.model_copy(update={"last_handled_reconcile_at": requested})
        # status.shards is each shard's own, written by shards.publish; unsharded, what
        # shards left there goes.
        new = status.model_dump(mode="json", by_alias=True, exclude={"shards"})
        if self.cache.shard is None and (obj.get("status") or {}).get("shards"):
            new["shards"] = None
        if new == _normalized(obj.get("status")):
            return status
        meta = obj["metadata"]
        try:
            await self.writer.patch_status(CONFIGURATIONS, meta["namespace"], meta["name"], new)
        except ApiError as e:
            if not rejected(e):
                raise
            # The status itself is refused: say so, with the apiserver's words, in the
            # smallest status that can carry them.
            fallback = stalled(
                ConfigurationStatus(),
                generation,
                c.INVALID_SPEC,
                f"the apiserver rejected this Configuration's status: {e.message}"[:1024],
            )
            await self.writer.patch_status(
                CONFIGURATIONS,
                meta["namespace"],
                meta["name"],
                fallback.model_dump(mode="json", by_alias=True, exclude={"shards"}),
            )
        return status

    async def _announce(
        self, obj: Obj, previous: ConfigurationStatus, status: ConfigurationStatus
    ) -> None:
        """Events for transitions only: a rollout that finished or halted."""

        def state(s: ConfigurationStatus) -> tuple[str | None, str | None]:
            ready = c.find_condition(s.conditions, c.READY)
            stall = c.find_condition(s.conditions, c.STALLED)
            return (ready.status if ready else None, stall.status if stall else None)

        if (
            state(previous) == state(status)
            and previous.observed_generation == status.observed_generation
        ):
            return
        ready = c.find_condition(status.conditions, c.READY)
        if ready is None:
            return
        failed = c.find_condition(status.conditions, c.STALLED) is not None
        if not failed and ready.status != "True":
            return
        kube = self.writer.kube
        await events.emit(
            kube,
            obj,
            type_=events.WARNING if failed else events.NORMAL,
            reason=ready.reason,
            action="Rollout",
            note=ready.message,
            instance=self.instance,
        )
        kustomization = self.cache.kustomization_of(obj)
        if failed and kustomization is not None:
            # Flux's health-check message carries only "Configuration/ns/name status: 'Failed'"
            # (fluxcd/pkg/ssa builds it from kstatus alone); this Event puts host, resource and
            # reason where `kubectl describe` and `flux events` on the Kustomization show them.
            await events.emit(
                kube,
                kustomization,
                type_=events.WARNING,
                reason=ready.reason,
                action="HealthCheck",
                note=f"Configuration {obj['metadata']['namespace']}/{obj['metadata']['name']}: "
                f"{ready.message}",
                instance=self.instance,
            )
        if self.notifier is not None:
            body = flux_events.event(
                obj,
                severity=flux_events.ERROR if failed else flux_events.INFO,
                reason=ready.reason,
                message=ready.message,
                revision=status.revision,
                instance=self.instance,
            )
            if body is not None:
                await self.notifier.post(body)


def wire(assignment: Assignment) -> dict[str, Any]:
    """The apply body: spec only (status is the agent's), metadata as set."""
    body = assignment.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"status", "metadata"}
    )
    body["metadata"] = assignment.metadata.model_dump(
        mode="json", by_alias=True, exclude_defaults=True
    )
    return body


def _normalized(status: dict[str, Any] | None) -> dict[str, Any]:
    return ConfigurationStatus.model_validate(status or {}).model_dump(
        mode="json", by_alias=True, exclude={"shards"}
    )
