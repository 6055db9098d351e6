"""Names shared by the controller and the agent: the contract between the two sides."""

from __future__ import annotations

import hashlib
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
#: The Lease the controller replicas elect their leader on, in CONTROLLER_NAMESPACE.
CONTROLLER_LEADER_LEASE = "transom-controller"

LABEL_HOST = f"{GROUP}/host"
LABEL_CONFIGURATION = f"{GROUP}/configuration"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
#: On a Host, its Assignments and its Lease: the controller shard (0..N-1) that owns the host.
LABEL_SHARD = f"{GROUP}/shard"
MANAGED_BY = "transom-controller"
#: On enrollment token Secrets: comma-separated host names (or `*`) the token may enroll.
ANNOTATION_ALLOWED_HOSTS = f"{GROUP}/allowed-hosts"
ANNOTATION_MAX_USES = f"{GROUP}/max-uses"
ANNOTATION_USES = f"{GROUP}/uses"
#: On a reboot lease: the Configuration (namespace/name) whose reconcile granted it.
ANNOTATION_GRANTED_BY = f"{GROUP}/granted-by"

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


#: Object names (DNS subdomains) and label values, as the apiserver limits them.
MAX_NAME = 253
MAX_LABEL_VALUE = 63
_HASH_LENGTH = 10


def shorten(value: str, limit: int) -> str:
    """``value`` if it fits in ``limit`` bytes of UTF-8 (the apiserver counts bytes, not
    characters); otherwise a prefix and a hash of the whole, as Kubernetes shortens long
    derived names, still starting and ending with an alphanumeric character. Distinct values
    stay distinct (but for hash collisions)."""
    encoded = value.encode()
    if len(encoded) <= limit:
        return value
    digest = hashlib.sha256(encoded).hexdigest()[:_HASH_LENGTH]
    # Cut on a character boundary: a multi-byte character cut in half is dropped whole.
    prefix = encoded[: limit - _HASH_LENGTH - 1].decode(errors="ignore").rstrip(".-_")
    return f"{prefix}-{digest}" if prefix else digest


def assignment_name(config_namespace: str, config_name: str) -> str:
    """One Assignment per Configuration in a host namespace. Dots cannot occur in namespace
    names, so two Configurations never meet on one name (but for a hash collision)."""
    return shorten(f"{config_namespace}.{config_name}", MAX_NAME)


def configuration_label(config_namespace: str, config_name: str) -> str:
    """The label value on a Configuration's Assignments, for selecting them all."""
    return shorten(f"{config_namespace}.{config_name}", MAX_LABEL_VALUE)


def copied_secret_name(config_namespace: str, secret: str) -> str:
    return shorten(f"{config_namespace}.{secret}", MAX_NAME)


def event_name(object_name: str, suffix: str) -> str:
    """client-go's <object>.<unique suffix>, shortened to stay a valid name."""
    return f"{shorten(object_name, MAX_NAME - len(suffix.encode()) - 1)}.{suffix}"


def shard_of(host: str, shards: int) -> int:
    """The shard a host belongs to unless an admin labels it otherwise: a hash of its name,
    the same in every process and release (Python's own hash() is salted per process)."""
    digest = hashlib.sha256(host.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def check_host_name(name: str) -> str:
    """Host names become part of a namespace name: a DNS label of at most 50 characters."""
    if not HOST_NAME_RE.match(name):
        raise ValueError(
            f"host name {name!r} must be 1-50 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name
