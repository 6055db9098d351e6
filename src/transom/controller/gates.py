"""The rollout planner's inputs that are not in the Assignments: partitions with their
approvals, each host's maintenance-window verdict, reboot leases; and carrying out the reboot
grants the plan decides."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from transom.api import conditions as c
from transom.api import names
from transom.api.admission import REBOOT_LEASE_NAME
from transom.api.approval import Approval
from transom.api.assignment import HostMaintenance
from transom.api.configuration import ConfigurationSpec, ConfigurationStatus, RebootMode
from transom.api.gates import Approval as ApprovalMode
from transom.api.gates import ApprovalRecord, duration_seconds
from transom.api.windows import Verdict, evaluate, follows, host_windows
from transom.controller import events
from transom.controller.cache import Cache, Writer
from transom.controller.hostview import epoch
from transom.controller.rollout import RebootLimits, Stage
from transom.controller.status import GATE_REASONS
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.informer import Key
from transom.kube.kinds import LEASES

log = logging.getLogger(__name__)


def approvals(cache: Cache, key: Key, generation: int) -> list[ApprovalRecord]:
    """Approvals of this generation of the Configuration, one per partition (the first)."""
    namespace, name = key
    found: dict[str, ApprovalRecord] = {}
    for (ns, _), obj in sorted(cache.approvals.items.items()):
        if ns != namespace:
            continue
        try:
            spec = Approval.model_validate(obj).spec
        except ValidationError:
            continue  # admission checks the schema; an unreadable one approves nothing
        if spec.configuration != name or spec.generation != generation:
            continue
        found.setdefault(
            spec.partition,
            ApprovalRecord(
                partition=spec.partition,
                generation=spec.generation,
                approver=spec.approver,
                approved_at=str(obj["metadata"].get("creationTimestamp") or ""),
            ),
        )
    return [found[p] for p in sorted(found)]


def stages(
    cache: Cache, spec: ConfigurationSpec, selected: Sequence[str], approved: set[str]
) -> list[Stage]:
    chosen = frozenset(selected)
    return [
        Stage(
            p.name,
            frozenset(cache.select_hosts(p.host_selector, among=chosen)),
            needs_approval=p.approval is ApprovalMode.MANUAL and p.name not in approved,
            pause_seconds=float(p.pause_seconds),
        )
        for p in spec.rollout.partitions
    ]


def reboot_limits(spec: ConfigurationSpec) -> RebootLimits | None:
    if spec.reboot is None:
        return None
    return RebootLimits(
        spec.reboot.max_rebooting,
        float(duration_seconds(spec.reboot.deadline)),
        float(duration_seconds(spec.reboot.expected_duration)),
    )


def may_reboot(spec: ConfigurationSpec) -> bool:
    """A change of this Configuration may reboot its hosts, under a budget."""
    return spec.reboot is not None and spec.reboot_policy.mode is RebootMode.IF_NEEDED


def verdicts(
    cache: Cache, spec: ConfigurationSpec, hosts: Sequence[str], now: float, room: float
) -> dict[str, Verdict]:
    """Each host's maintenance-window verdict for a change needing ``room`` seconds; hosts
    that follow the same windows share one evaluation."""
    windows = spec.maintenance_windows
    if not windows:
        return {}
    at = datetime.fromtimestamp(now, UTC)
    shared: dict[tuple[int, ...], Verdict] = {}
    out: dict[str, Verdict] = {}
    for h in hosts:
        labels = cache.host_labels(h)
        which = tuple(i for i, w in enumerate(windows) if follows(w, labels))
        if which not in shared:
            shared[which] = evaluate(
                [windows[i] for i in which], labels, at, room=timedelta(seconds=room)
            )
        out[h] = shared[which]
    return out


def host_maintenance(spec: ConfigurationSpec, labels: dict[str, str]) -> HostMaintenance | None:
    """The maintenance windows a host follows, for its Assignment: its agent evaluates them
    too, so a generation it receives late (it was offline through its window) still waits
    for one, and drift correction can follow them. None when it follows none."""
    own = host_windows(spec.maintenance_windows, labels)
    if not own:
        return None
    room = 0
    if may_reboot(spec) and spec.reboot is not None:
        room = duration_seconds(spec.reboot.expected_duration)
    return HostMaintenance(
        windows=own,
        drift_correction=spec.drift_correction.outside_windows,
        start_room_seconds=room,
    )


def reboot_since(cache: Cache, host: str) -> float | None:
    """When the host was granted the reboot lease it holds; None when it holds none."""
    lease = cache.reboot_lease(host)
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return epoch(str(spec.get("acquireTime") or "")) or 0.0


async def grant_reboot(writer: Writer, cache: Cache, host: str, key: Key, deadline: float) -> bool:
    """Create the host's reboot lease; False when it already has one."""
    namespace = names.host_namespace(host)
    body: Obj = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": REBOOT_LEASE_NAME,
            "namespace": namespace,
            "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_HOST: host},
            "annotations": {names.ANNOTATION_GRANTED_BY: f"{key[0]}/{key[1]}"},
        },
        "spec": {
            "holderIdentity": host,
            "acquireTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "leaseDurationSeconds": int(deadline),
        },
    }
    try:
        written = await writer.kube.create(LEASES.path(namespace), body)
    except ApiError as e:
        if e.status == 409:
            return False
        raise
    cache.reboot_leases.observe(written)
    log.info("reboot lease granted to %s for %s/%s", host, *key)
    return True


async def announce(
    kube: Kube, obj: Obj, previous: ConfigurationStatus, status: ConfigurationStatus, instance: str
) -> None:
    """Events for what the gates changed: each approval once (naming the approver), and a
    rollout starting to wait for an approval, a pause or a window."""
    seen = {(r.partition, r.generation) for r in previous.approvals}
    for record in status.approvals:
        if (record.partition, record.generation) in seen:
            continue
        await events.emit(
            kube,
            obj,
            type_=events.NORMAL,
            reason=c.APPROVED,
            action="Approve",
            note=f"partition {record.partition} of generation {record.generation} approved by "
            f"{record.approver}",
            instance=instance,
        )
    before = c.find_condition(previous.conditions, c.READY)
    after = c.find_condition(status.conditions, c.READY)
    if after is None or after.reason not in GATE_REASONS:
        return
    if before is not None and before.reason == after.reason and before.message == after.message:
        return
    await events.emit(
        kube,
        obj,
        type_=events.NORMAL,
        reason=after.reason,
        action="Rollout",
        note=after.message,
        instance=instance,
    )
