"""Cluster-wide objects the controller needs once: bootstrapper RBAC and the admission policy."""

from __future__ import annotations

from transom.api import admission, rbac
from transom.kube.client import Kube
from transom.kube.install import install_crds
from transom.kube.kinds import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, Kind

VAP = Kind("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", namespaced=False)
VAP_BINDINGS = Kind(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", namespaced=False
)


async def ensure(kube: Kube, *, crds: bool = True) -> None:
    if crds:
        await install_crds(kube)
    role, binding = rbac.bootstrap_rbac()
    await kube.apply(CLUSTER_ROLES.path(name=role["metadata"]["name"]), role)
    await kube.apply(CLUSTER_ROLE_BINDINGS.path(name=binding["metadata"]["name"]), binding)
    await kube.apply(VAP.path(name=admission.POLICY_NAME), admission.policy())
    await kube.apply(VAP_BINDINGS.path(name=admission.POLICY_NAME), admission.binding())
