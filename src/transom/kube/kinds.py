"""API paths for the kinds Transom touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if subresource:
            base += f"/{subresource}"
        return base


CONFIGURATIONS = Kind("transom.dev", "v1alpha1", "configurations")
ASSIGNMENTS = Kind("transom.dev", "v1alpha1", "assignments")
HOSTS = Kind("transom.dev", "v1alpha1", "hosts", namespaced=False)
NAMESPACES = Kind("", "v1", "namespaces", namespaced=False)
SECRETS = Kind("", "v1", "secrets")
EVENTS = Kind("events.k8s.io", "v1", "events")
LEASES = Kind("coordination.k8s.io", "v1", "leases")
CSRS = Kind("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
CRDS = Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
ROLES = Kind("rbac.authorization.k8s.io", "v1", "roles")
ROLE_BINDINGS = Kind("rbac.authorization.k8s.io", "v1", "rolebindings")
CLUSTER_ROLES = Kind("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Kind(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False
)
SUBJECT_ACCESS_REVIEWS = Kind(
    "authorization.k8s.io", "v1", "subjectaccessreviews", namespaced=False
)
KUSTOMIZATIONS = Kind("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
GIT_REPOSITORIES = Kind("source.toolkit.fluxcd.io", "v1", "gitrepositories")
SERVICE_ACCOUNTS = Kind("", "v1", "serviceaccounts")
DEPLOYMENTS = Kind("apps", "v1", "deployments")
ADMISSION_POLICIES = Kind(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", namespaced=False
)
ADMISSION_POLICY_BINDINGS = Kind(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", namespaced=False
)

_BY_TYPE: dict[tuple[str, str], Kind] = {
    ("v1", "Namespace"): NAMESPACES,
    ("v1", "Secret"): SECRETS,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNTS,
    ("apps/v1", "Deployment"): DEPLOYMENTS,
    ("rbac.authorization.k8s.io/v1", "Role"): ROLES,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ROLE_BINDINGS,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): CLUSTER_ROLES,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): CLUSTER_ROLE_BINDINGS,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): ADMISSION_POLICIES,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): (
        ADMISSION_POLICY_BINDINGS
    ),
}


def path_of(obj: dict[str, Any]) -> str:
    """An object's own API path, from its apiVersion, kind, namespace and name."""
    kind = _BY_TYPE[(obj["apiVersion"], obj["kind"])]
    meta = obj["metadata"]
    return kind.path(meta.get("namespace") if kind.namespaced else None, meta["name"])
