"""RBAC for hosts and bootstrappers, as plain objects: the controller creates them, the agent's
tests create the same ones, so both sides agree on exactly what a host may do.

A host sees its own namespace and nothing else of the cluster: its Assignments and HostPreviews
(spec read-only, status writable), the Secrets copied there, its Lease and Events (a Role and
RoleBinding in its namespace). Cluster-wide, every host (group ``transom:hosts``) may patch the
status of a Host and create CSRs for certificate rotation, through one ClusterRole and one
ClusterRoleBinding; the host-restriction admission policy (``api/admission.py``, installed with
them) holds it to its own Host's status, and the controller checks every CSR's requester against
the requested name before approving it. Per-host ClusterRoleBindings would say the same with
``resourceNames``, but the apiserver's RBAC authorizer scans every ClusterRoleBinding on every
request: at 3,000 hosts that scan was 13 % of kube-apiserver's CPU (docs/scale.md).
"""

from __future__ import annotations

from typing import Any

from transom.api.admission import REBOOT_LEASE_NAME
from transom.api.names import (
    BOOTSTRAPPERS_GROUP,
    HOSTS_GROUP,
    LABEL_HOST,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    host_namespace,
    host_user,
)
from transom.api.wire import GROUP

RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
#: The Role (in the host namespace) and RoleBinding granting the host its namespace.
HOST_ROLE_NAME = "transom-host"
#: The ClusterRole and its binding to every host: Host status and CSRs.
HOSTS_ROLE_NAME = "transom:host"
BOOTSTRAPPER_ROLE_NAME = "transom:bootstrapper"

Obj = dict[str, Any]


def _meta(name: str, host: str | None = None, namespace: str | None = None) -> Obj:
    labels = {LABEL_MANAGED_BY: MANAGED_BY}
    if host is not None:
        labels[LABEL_HOST] = host
    meta: Obj = {"name": name, "labels": labels}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _rule(
    groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None
) -> Obj:
    rule: Obj = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names is not None:
        rule["resourceNames"] = names
    return rule


def host_role(host: str) -> Obj:
    """What the host may do in its own namespace."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": _meta(HOST_ROLE_NAME, host, host_namespace(host)),
        "rules": [
            _rule([GROUP], ["assignments"], ["get", "list", "watch"]),
            _rule([GROUP], ["assignments/status"], ["get", "patch", "update"]),
            # Previews meant for this host: read them, write the answer into their status.
            _rule([GROUP], ["hostpreviews"], ["get", "list", "watch"]),
            _rule([GROUP], ["hostpreviews/status"], ["get", "patch", "update"]),
            _rule([""], ["secrets"], ["get", "list", "watch"]),
            # Its heartbeat; and its reboot lease, watched and released (admission keeps the
            # host from creating that one: the controller grants it).
            _rule(
                ["coordination.k8s.io"], ["leases"], ["get", "list", "watch", "create", "update"]
            ),
            _rule(["coordination.k8s.io"], ["leases"], ["delete"], [REBOOT_LEASE_NAME]),
            _rule(["events.k8s.io"], ["events"], ["create", "patch"]),
            _rule([""], ["events"], ["create", "patch"]),
        ],
    }


def host_role_binding(host: str) -> Obj:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": _meta(HOST_ROLE_NAME, host, host_namespace(host)),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": HOST_ROLE_NAME,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": host_user(host)}
        ],
    }


def host_rbac(host: str) -> list[Obj]:
    """Every RBAC object one host needs, in creation order (the namespace must exist)."""
    return [host_role(host), host_role_binding(host)]


def hosts_cluster_role() -> Obj:
    """Cluster-scoped rights of every host: a Host's status (the admission policy allows only
    its own) and CSRs for rotation (``resourceNames`` cannot restrict ``create``)."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(HOSTS_ROLE_NAME),
        "rules": [
            _rule([GROUP], ["hosts/status"], ["patch"]),
            _rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", "get"]),
        ],
    }


def hosts_cluster_role_binding() -> Obj:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(HOSTS_ROLE_NAME),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": HOSTS_ROLE_NAME,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": HOSTS_GROUP}
        ],
    }


def bootstrapper_cluster_role() -> Obj:
    """Holders of an enrollment token may submit CSRs and watch for theirs to be signed."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(BOOTSTRAPPER_ROLE_NAME),
        "rules": [
            _rule(
                ["certificates.k8s.io"],
                ["certificatesigningrequests"],
                ["create", "get", "list", "watch"],
            )
        ],
    }


def bootstrapper_cluster_role_binding() -> Obj:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(BOOTSTRAPPER_ROLE_NAME),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": BOOTSTRAPPER_ROLE_NAME,
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": BOOTSTRAPPERS_GROUP,
            }
        ],
    }


def bootstrap_rbac() -> list[Obj]:
    """The cluster-wide RBAC of enrollment and of hosts, installed once."""
    return [
        bootstrapper_cluster_role(),
        bootstrapper_cluster_role_binding(),
        hosts_cluster_role(),
        hosts_cluster_role_binding(),
    ]


#: Selects the per-host ClusterRoles and ClusterRoleBindings of earlier releases (each carried
#: its host's label); the controller deletes them as it starts.
PER_HOST_CLUSTER_RBAC = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_HOST}"


# -- people ------------------------------------------------------------------------------------

#: Read status, trace and audit checkpoints; bind to a group (docs/identity.md).
VIEWER_ROLE_NAME = "transom-viewer"
#: The viewer's rights plus suspend/resume, reconcile requests and approvals.
OPERATOR_ROLE_NAME = "transom-operator"
#: Ask for previews (`transom preview`, a CI job on pull requests) and read their answers.
PREVIEWER_ROLE_NAME = "transom-previewer"
_READ = ["get", "list", "watch"]


def viewer_cluster_role() -> Obj:
    """What `transom status`, `transom trace` and `transom audit verify` read: Configurations,
    Hosts (their status carries the audit checkpoint), Assignments, Events, and the Flux objects
    a trace follows. Never Secrets: a host's copied Secrets stay readable by that host only."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(VIEWER_ROLE_NAME),
        "rules": _viewer_rules(),
    }


def _viewer_rules() -> list[Obj]:
    return [
        _rule(
            [GROUP],
            [
                "configurations",
                "configurations/status",
                "hosts",
                "hosts/status",
                "assignments",
                "assignments/status",
                "previews",
                "previews/status",
                "hostpreviews",
                "hostpreviews/status",
                "approvals",
            ],
            _READ,
        ),
        _rule(["", "events.k8s.io"], ["events"], _READ),
        _rule(["kustomize.toolkit.fluxcd.io"], ["kustomizations"], _READ),
        _rule(["source.toolkit.fluxcd.io"], ["gitrepositories"], _READ),
    ]


def operator_cluster_role() -> Obj:
    """Suspend and resume a Configuration (`spec.suspend`) or a host (`spec.paused`), request a
    reconcile (the `reconcile.fluxcd.io/requestedAt` annotation) and approve a host's
    re-enrollment (`spec.allowReenrollment`): all patches of the object itself, never of its
    status (which only the controller and the host write) and never creation or deletion;
    and approve a rollout partition (create an Approval, never change or delete one)."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(OPERATOR_ROLE_NAME),
        "rules": [
            *_viewer_rules(),
            _rule([GROUP], ["configurations", "hosts"], ["patch"]),
            # `transom approve`: admission makes the creator the recorded approver.
            _rule([GROUP], ["approvals"], ["create"]),
        ],
    }


def previewer_cluster_role() -> Obj:
    """`transom preview`: create a Preview (admission records who asked), read it and the
    hosts' answers, delete it when read. Bind it cluster-wide or with a RoleBinding in the
    namespaces whose Configurations may be previewed; reading the answers (HostPreviews, in
    the host namespaces) needs the cluster-wide read that viewers have."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(PREVIEWER_ROLE_NAME),
        "rules": [
            _rule([GROUP], ["previews"], ["create", "get", "list", "watch", "delete"]),
            _rule([GROUP], ["previews/status", "hostpreviews", "hostpreviews/status"], _READ),
        ],
    }


def people_roles() -> list[Obj]:
    """The ClusterRoles for people; bound to your groups by you (docs/identity.md)."""
    return [viewer_cluster_role(), operator_cluster_role(), previewer_cluster_role()]


def group_binding(role: str, group: str, name: str | None = None) -> Obj:
    """A ClusterRoleBinding of ``role`` to ``group`` as the apiserver names it (with the
    claim mapping's prefix, e.g. `oidc:contoso\\win-ops`)."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name or role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }
