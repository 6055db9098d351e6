"""Names shared by the controller and the agent: the contract between the two sides."""

from __future__ import annotations

import re

from transom.api.wire import GROUP

#: Every host is this Kubernetes user, whatever proved its identity.
HOST_USER_PREFIX = "transom:host:"
HOSTS_GROUP = "transom:hosts"
#: Bootstrap tokens made by `transom enroll-token create` add this group to their user.
BOOTSTRAPPERS_GROUP = "system:bootstrappers:transom"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"

HOST_NAMESPACE_PREFIX = "transom-host-"
LEASE_NAME = "transom-agent"
CONTROLLER_NAMESPACE = "transom-system"

LABEL_HOST = f"{GROUP}/host"
LABEL_CONFIGURATION = f"{GROUP}/configuration"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "transom-controller"
#: On enrollment token Secrets: comma-separated host names (or `*`) the token may enroll.
ANNOTATION_ALLOWED_HOSTS = f"{GROUP}/allowed-hosts"
ANNOTATION_MAX_USES = f"{GROUP}/max-uses"
ANNOTATION_USES = f"{GROUP}/uses"

FLUX_KUSTOMIZATION_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_KUSTOMIZATION_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
FLUX_RECONCILE_REQUESTED = "reconcile.fluxcd.io/requestedAt"

HOST_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?$")


def host_user(host: str) -> str:
    return f"{HOST_USER_PREFIX}{host}"


def host_from_user(user: str) -> str | None:
    if not user.startswith(HOST_USER_PREFIX):
        return None
    name = user[len(HOST_USER_PREFIX) :]
    return name if HOST_NAME_RE.match(name) else None


def host_namespace(host: str) -> str:
    return f"{HOST_NAMESPACE_PREFIX}{host}"


def assignment_name(config_namespace: str, config_name: str) -> str:
    # Dots cannot occur in namespace names, so the split is unambiguous.
    return f"{config_namespace}.{config_name}"


def copied_secret_name(config_namespace: str, secret: str) -> str:
    return f"{config_namespace}.{secret}"


def check_host_name(name: str) -> str:
    """Host names become part of a namespace name: a DNS label of at most 50 characters."""
    if not HOST_NAME_RE.match(name):
        raise ValueError(
            f"host name {name!r} must be 1-50 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name
