"""API paths for the kinds Transom touches."""

from __future__ import annotations

from dataclasses import dataclass
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
