"""API paths for the kinds Transom touches (its own come from `transom.api.kinds`)."""

from __future__ import annotations

from typing import Any

from transom.api.kinds import (
    APPROVALS,
    ASSIGNMENTS,
    CONFIGURATIONS,
    HOST_PREVIEWS,
    HOSTS,
    PREVIEWS,
    Kind,
)

__all__ = [
    "ADMISSION_POLICIES",
    "ADMISSION_POLICY_BINDINGS",
    "APPROVALS",
    "ASSIGNMENTS",
    "CLUSTER_ROLES",
    "CLUSTER_ROLE_BINDINGS",
    "CONFIGURATIONS",
    "CRDS",
    "CSRS",
    "DEPLOYMENTS",
    "EVENTS",
    "GIT_REPOSITORIES",
    "HOSTS",
    "HOST_PREVIEWS",
    "KUSTOMIZATIONS",
    "LEASES",
    "NAMESPACES",
    "PREVIEWS",
    "ROLES",
    "ROLE_BINDINGS",
    "SECRETS",
    "SERVICES",
    "SERVICE_ACCOUNTS",
    "SUBJECT_ACCESS_REVIEWS",
    "TOKEN_REVIEWS",
    "Kind",
    "kind_of",
    "path_of",
]

_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

NAMESPACES = Kind("", "v1", "namespaces", namespaced=False, kind="Namespace")
SECRETS = Kind("", "v1", "secrets", kind="Secret")
SERVICE_ACCOUNTS = Kind("", "v1", "serviceaccounts", kind="ServiceAccount")
SERVICES = Kind("", "v1", "services", kind="Service")
EVENTS = Kind("events.k8s.io", "v1", "events", kind="Event")
LEASES = Kind("coordination.k8s.io", "v1", "leases", kind="Lease")
CSRS = Kind(
    "certificates.k8s.io",
    "v1",
    "certificatesigningrequests",
    namespaced=False,
    kind="CertificateSigningRequest",
)
CRDS = Kind(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    namespaced=False,
    kind="CustomResourceDefinition",
)
ROLES = Kind(_RBAC, "v1", "roles", kind="Role")
ROLE_BINDINGS = Kind(_RBAC, "v1", "rolebindings", kind="RoleBinding")
CLUSTER_ROLES = Kind(_RBAC, "v1", "clusterroles", namespaced=False, kind="ClusterRole")
CLUSTER_ROLE_BINDINGS = Kind(
    _RBAC, "v1", "clusterrolebindings", namespaced=False, kind="ClusterRoleBinding"
)
SUBJECT_ACCESS_REVIEWS = Kind(
    "authorization.k8s.io",
    "v1",
    "subjectaccessreviews",
    namespaced=False,
    kind="SubjectAccessReview",
)
TOKEN_REVIEWS = Kind(
    "authentication.k8s.io", "v1", "tokenreviews", namespaced=False, kind="TokenReview"
)
KUSTOMIZATIONS = Kind("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", kind="Kustomization")
GIT_REPOSITORIES = Kind("source.toolkit.fluxcd.io", "v1", "gitrepositories", kind="GitRepository")
DEPLOYMENTS = Kind("apps", "v1", "deployments", kind="Deployment")
ADMISSION_POLICIES = Kind(
    _ADMISSION,
    "v1",
    "validatingadmissionpolicies",
    namespaced=False,
    kind="ValidatingAdmissionPolicy",
)
ADMISSION_POLICY_BINDINGS = Kind(
    _ADMISSION,
    "v1",
    "validatingadmissionpolicybindings",
    namespaced=False,
    kind="ValidatingAdmissionPolicyBinding",
)
POD_DISRUPTION_BUDGETS = Kind("policy", "v1", "poddisruptionbudgets", kind="PodDisruptionBudget")
_FLOWCONTROL = "flowcontrol.apiserver.k8s.io"
FLOW_SCHEMAS = Kind(_FLOWCONTROL, "v1", "flowschemas", namespaced=False, kind="FlowSchema")
PRIORITY_LEVELS = Kind(
    _FLOWCONTROL,
    "v1",
    "prioritylevelconfigurations",
    namespaced=False,
    kind="PriorityLevelConfiguration",
)

_BY_TYPE: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        CONFIGURATIONS,
        ASSIGNMENTS,
        HOSTS,
        PREVIEWS,
        HOST_PREVIEWS,
        APPROVALS,
        NAMESPACES,
        SECRETS,
        SERVICE_ACCOUNTS,
        SERVICES,
        EVENTS,
        LEASES,
        CSRS,
        CRDS,
        ROLES,
        ROLE_BINDINGS,
        CLUSTER_ROLES,
        CLUSTER_ROLE_BINDINGS,
        KUSTOMIZATIONS,
        GIT_REPOSITORIES,
        DEPLOYMENTS,
        ADMISSION_POLICIES,
        ADMISSION_POLICY_BINDINGS,
        POD_DISRUPTION_BUDGETS,
        FLOW_SCHEMAS,
        PRIORITY_LEVELS,
    )
}


def kind_of(obj: dict[str, Any]) -> Kind:
    """The Kind of an object, from its apiVersion and kind."""
    try:
        return _BY_TYPE[(obj["apiVersion"], obj["kind"])]
    except KeyError:
        raise KeyError(f"no path known for {obj.get('apiVersion')} {obj.get('kind')}") from None


def path_of(obj: dict[str, Any]) -> str:
    """An object's own API path, from its apiVersion, kind, namespace and name."""
    kind = kind_of(obj)
    meta = obj["metadata"]
    return kind.path(meta.get("namespace") if kind.namespaced else None, meta["name"])
