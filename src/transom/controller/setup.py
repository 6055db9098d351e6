"""Cluster-wide objects the controller needs once: bootstrapper and host RBAC, the people roles
and the admission policy; and the per-host ClusterRoles and ClusterRoleBindings of earlier
releases removed (api/rbac.py says why there are none now)."""

from __future__ import annotations

import logging

from transom.api import admission, rbac
from transom.kube.client import Kube
from transom.kube.install import install_crds
from transom.kube.kinds import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, path_of

log = logging.getLogger(__name__)


async def ensure(kube: Kube, *, crds: bool = True) -> None:
    if crds:
        await install_crds(kube)
    for obj in (
        *rbac.bootstrap_rbac(),
        *rbac.people_roles(),
        *admission.policies(),
    ):
        await kube.apply(path_of(obj), obj)
    await _remove_per_host_cluster_rbac(kube)


async def _remove_per_host_cluster_rbac(kube: Kube) -> None:
    for kind in (CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES):
        listed = await kube.list(kind.path(), labelSelector=rbac.PER_HOST_CLUSTER_RBAC)
        items = listed.get("items") or []
        if items:
            log.info("removing %d per-host %s of an earlier release", len(items), kind.plural)
        for item in items:
            await kube.delete(kind.path(name=item["metadata"]["name"]))
