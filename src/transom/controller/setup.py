"""Cluster-wide objects the controller needs once: bootstrapper RBAC, the people roles and the
admission policy."""

from __future__ import annotations

from transom.api import admission, rbac
from transom.kube.client import Kube
from transom.kube.install import install_crds
from transom.kube.kinds import path_of


async def ensure(kube: Kube, *, crds: bool = True) -> None:
    if crds:
        await install_crds(kube)
    for obj in (
        *rbac.bootstrap_rbac(),
        *rbac.people_roles(),
        *admission.policies(),
    ):
        await kube.apply(path_of(obj), obj)
