"""Reconcile one Configuration: select hosts, roll the generation out, aggregate status.

Guard clauses first (deleted, invalid, conflicting), then the pipeline: plan the wave,
write Assignments (with copied Secrets), remove stale ones, and patch status once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from transom.api import conditions as c
from transom.api import names
from transom.api.configuration import ConfigurationSpec, ConfigurationStatus
from transom.api.errors import SpecError, from_pydantic
from transom.api.wire import API_VERSION
from transom.controller import events, flux_events, rollout
from transom.controller.hostview import HostView
from transom.controller.secrets_copy import MissingSecretError, copy_secrets, rewrite_refs
from transom.controller.status import aggregate, stalled
from transom.controller.substitute import SubstitutionError, substitute_host
from transom.engine.graph import check_acyclic
from transom.kube.client import ApiError, Obj
from transom.kube.informer import Key
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS

if TYPE_CHECKING:
    from transom.controller.manager import Controller

log = logging.getLogger(__name__)


def config_label(namespace: str, name: str) -> str:
    return names.assignment_name(namespace, name)


async def reconcile(ctl: Controller, key: Key) -> None:
    namespace, name = key
    obj = ctl.configurations.get(namespace, name)
    if obj is None:
        await _remove_assignments(ctl, key, keep=set())
        return
    generation = int(obj["metadata"].get("generation", 1))
    previous = ConfigurationStatus.model_validate(obj.get("status") or {})

    try:
        spec, _ = ctl.parsed(obj)
        check_acyclic(spec.resources, "spec.resources")
    except ValidationError as exc:
        message = "; ".join(str(e) for e in from_pydantic("spec", exc))
        await _write_status(ctl, obj, stalled(previous, generation, c.INVALID_SPEC, message))
        return
    except SpecError as exc:
        await _write_status(ctl, obj, stalled(previous, generation, c.INVALID_SPEC, str(exc)))
        return

    selected = ctl.select_hosts(spec.host_selector)
    conflict = ctl.conflicts(key, spec, selected)
    if conflict:
        await _write_status(ctl, obj, stalled(previous, generation, c.RESOURCE_CONFLICT, conflict))
        return

    revision = ctl.revision_for(obj, generation)
    views = {h: _view(ctl, h, key) for h in selected}
    partitions = [
        frozenset(ctl.select_hosts(p.host_selector, among=selected))
        for p in spec.rollout.partitions
    ]
    plan = rollout.plan(
        generation,
        list(views.values()),
        partitions,
        spec.rollout.max_unavailable,
        spec.rollout.max_failures,
        suspended=spec.suspend,
    )

    if (
        plan.assign
        and previous.observed_generation != generation
        and not any(v.at(generation) for v in views.values())
    ):
        await events.emit(
            ctl.kube,
            obj,
            type_=events.NORMAL,
            reason=c.ROLLOUT_IN_PROGRESS,
            action="Rollout",
            note=f"rolling out generation {generation}"
            f"{' (' + revision + ')' if revision else ''} to "
            f"{len(selected)} host(s)",
        )
    for host in plan.assign:
        try:
            await _write_assignment(ctl, obj, spec, host, generation=generation, revision=revision)
        except (MissingSecretError, SubstitutionError) as exc:
            await _write_status(ctl, obj, stalled(previous, generation, c.INVALID_SPEC, str(exc)))
            return
        views[host] = HostView(name=host, online=views[host].online, assigned=generation)
    await _remove_assignments(ctl, key, keep=set(selected))

    status = aggregate(
        previous, generation, revision, list(views.values()), plan, suspended=spec.suspend
    )
    await _write_status(ctl, obj, status)
    await _announce(ctl, obj, previous, status)


def _view(ctl: Controller, host: str, key: Key) -> HostView:
    assignment = ctl.assignment(names.host_namespace(host), names.assignment_name(*key))
    return HostView.from_assignment(host, ctl.online(host), assignment)


async def _write_assignment(
    ctl: Controller,
    conf: Obj,
    spec: ConfigurationSpec,
    host: str,
    *,
    generation: int,
    revision: str,
) -> None:
    namespace, name = conf["metadata"]["namespace"], conf["metadata"]["name"]
    host_ns = names.host_namespace(host)
    host_labels = (ctl.hosts.get("", host) or {}).get("metadata", {}).get("labels") or {}
    resources = substitute_host(
        [r.to_wire() for r in spec.resources], host, host_labels, "spec.resources"
    )
    wanted = rewrite_refs(resources, namespace)
    labels = conf["metadata"].get("labels") or {}
    source: dict[str, Any] = {
        "configuration": {"namespace": namespace, "name": name},
        "generation": generation,
        "revision": revision,
    }
    if names.FLUX_KUSTOMIZATION_NAME in labels:
        source["kustomization"] = {
            "namespace": labels.get(names.FLUX_KUSTOMIZATION_NAMESPACE, namespace),
            "name": labels[names.FLUX_KUSTOMIZATION_NAME],
        }
    body = {
        "apiVersion": API_VERSION,
        "kind": "Assignment",
        "metadata": {
            "name": names.assignment_name(namespace, name),
            "namespace": host_ns,
            "labels": {
                names.LABEL_HOST: host,
                names.LABEL_CONFIGURATION: config_label(namespace, name),
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
            },
        },
        "spec": {
            "host": host,
            "source": source,
            "resources": resources,
            "mode": spec.mode.value,
            "rebootPolicy": spec.reboot_policy.model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
            "removalPolicy": spec.removal_policy.value,
        },
    }
    assignment = names.assignment_name(namespace, name)
    existing = ctl.assignments.get(host_ns, assignment)
    # Secrets go first, so an agent never sees an Assignment whose Secrets are not there yet;
    # a new Assignment's copies get their owner reference once it exists.
    if wanted:
        await copy_secrets(ctl.kube, wanted, namespace, host_ns, existing)
    written = await ctl.kube.apply(ASSIGNMENTS.path(host_ns, assignment), body)
    ctl.assignments.items[(host_ns, assignment)] = written
    if wanted and existing is None:
        await copy_secrets(ctl.kube, wanted, namespace, host_ns, written)


async def _remove_assignments(ctl: Controller, key: Key, keep: set[str]) -> None:
    label = config_label(*key)
    for (ns, name), obj in list(ctl.assignments.items.items()):
        labels = obj.get("metadata", {}).get("labels") or {}
        if labels.get(names.LABEL_CONFIGURATION) != label:
            continue
        if labels.get(names.LABEL_HOST) in keep:
            continue
        await ctl.kube.delete(ASSIGNMENTS.path(ns, name))
        ctl.assignments.items.pop((ns, name), None)


async def _write_status(ctl: Controller, obj: Obj, status: ConfigurationStatus) -> None:
    """Patch status only when it changed, so a quiet fleet costs the apiserver nothing."""
    # A manual reconcile request (Flux's annotation) is acknowledged the way Flux does it.
    requested = (obj["metadata"].get("annotations") or {}).get(names.FLUX_RECONCILE_REQUESTED)
    if requested:
        status = status.model_copy(update={"last_handled_reconcile_at": requested})
    new = status.model_dump(mode="json", by_alias=True)
    if new == _normalized(obj.get("status")):
        return
    meta = obj["metadata"]
    try:
        written = await ctl.kube.patch(
            CONFIGURATIONS.path(meta["namespace"], meta["name"], "status"),
            {"status": new},
        )
    except ApiError as e:
        if e.status == 404:
            return
        raise
    ctl.configurations.items[(meta["namespace"], meta["name"])] = written


def _normalized(status: dict[str, Any] | None) -> dict[str, Any]:
    return ConfigurationStatus.model_validate(status or {}).model_dump(mode="json", by_alias=True)


async def _announce(
    ctl: Controller, obj: Obj, previous: ConfigurationStatus, status: ConfigurationStatus
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
    await events.emit(
        ctl.kube,
        obj,
        type_=events.WARNING if failed else events.NORMAL,
        reason=ready.reason,
        action="Rollout",
        note=ready.message,
    )
    kustomization = ctl.kustomization_of(obj)
    if failed and kustomization is not None:
        # Flux's health-check message carries only "Configuration/ns/name status: 'Failed'"
        # (fluxcd/pkg/ssa builds it from kstatus alone); this Event puts host, resource and
        # reason where `kubectl describe` and `flux events` on the Kustomization show them.
        await events.emit(
            ctl.kube,
            kustomization,
            type_=events.WARNING,
            reason=ready.reason,
            action="HealthCheck",
            note=f"Configuration {obj['metadata']['namespace']}/{obj['metadata']['name']}: "
            f"{ready.message}",
        )
    if ctl.notifier is not None:
        body = flux_events.event(
            obj,
            severity=flux_events.ERROR if failed else flux_events.INFO,
            reason=ready.reason,
            message=ready.message,
            revision=status.revision,
        )
        if body is not None:
            await ctl.notifier.post(body)


def identities(spec: ConfigurationSpec) -> dict[str, str]:
    """Managed OS object identity -> resource name, for conflict detection."""
    out: dict[str, str] = {}
    for r in spec.resources:
        try:
            out[r.properties.identity()] = r.name
        except NotImplementedError:
            continue
    return out
