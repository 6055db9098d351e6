"""Per-host plumbing: namespace, RBAC, and the Host's Ready condition from its Lease."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from transom.api import conditions as c
from transom.api import names, rbac
from transom.api.host import HostStatus
from transom.kube.client import ApiError
from transom.kube.kinds import (
    HOSTS,
    NAMESPACES,
    path_of,
)

if TYPE_CHECKING:
    from transom.controller.manager import Controller

log = logging.getLogger(__name__)


async def reconcile(ctl: Controller, host: str) -> None:
    obj = ctl.hosts.get("", host)
    if obj is None:
        await _deprovision(ctl, host)
        return
    uid = obj["metadata"].get("uid", "")
    if ctl.provisioned.get(host) != uid:
        await provision(ctl, host)
        ctl.provisioned[host] = uid
    await _write_status(ctl, host, obj)


async def provision(ctl: Controller, host: str) -> None:
    """The host's namespace and RBAC (idempotent: server-side apply)."""
    ns = names.host_namespace(host)
    await ctl.kube.apply(
        NAMESPACES.path(name=ns),
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
        await ctl.kube.apply(path_of(item), item)


async def _deprovision(ctl: Controller, host: str) -> None:
    ctl.provisioned.pop(host, None)
    for item in reversed(rbac.host_rbac(host)):
        if item["kind"].startswith("Cluster"):
            await ctl.kube.delete(path_of(item))
    # Deleting the namespace removes Assignments, copied Secrets, the Lease and the Role.
    await ctl.kube.delete(NAMESPACES.path(name=names.host_namespace(host)))


async def _write_status(ctl: Controller, host: str, obj: dict[str, Any]) -> None:
    status = HostStatus.model_validate(obj.get("status") or {})
    online = ctl.online(host)
    heartbeat = ctl.last_heartbeat(host)
    # Messages and lastHeartbeatTime change only with Ready, not on every renewal: the Lease
    # carries the live heartbeat, and rewriting Host status every 10 s would double API load.
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
            status.conditions, c.READY, "Unknown", c.HOSTS_UNREACHABLE, "agent has not reported yet"
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
    if not patch:
        return
    try:
        written = await ctl.kube.patch(
            HOSTS.path(name=host, subresource="status"), {"status": patch}
        )
    except ApiError as e:
        if e.status == 404:
            return
        raise
    ctl.hosts.items[("", host)] = written
