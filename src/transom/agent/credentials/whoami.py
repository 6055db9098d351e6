"""Who the apiserver thinks this host is (SelfSubjectReview, authentication.k8s.io/v1), and
whether that is the host user the agent must run as."""

from __future__ import annotations

from dataclasses import dataclass, field

from transom.api.names import HOSTS_GROUP, host_user
from transom.kube.client import Kube
from transom.kube.kinds import Kind

SELF_SUBJECT_REVIEWS = Kind("authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False)


class IdentityMismatchError(Exception):
    """The cluster maps this host's credential to a user other than `transom:host:<name>`."""


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


async def who_am_i(kube: Kube) -> UserInfo:
    review = await kube.create(
        SELF_SUBJECT_REVIEWS.path(),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    user = (review.get("status") or {}).get("userInfo") or {}
    return UserInfo(
        username=str(user.get("username", "")),
        groups=tuple(str(g) for g in user.get("groups") or ()),
        uid=str(user.get("uid", "")),
        extra={str(k): tuple(str(x) for x in v) for k, v in (user.get("extra") or {}).items()},
    )


def mismatch(user: UserInfo, host: str) -> str | None:
    """Why ``user`` is not host ``host`` (None when it is). The per-host RBAC and the admission
    policy key on the user name, so any other name would act with someone else's rights."""
    expected = host_user(host)
    if user.username != expected:
        return (
            f"the cluster maps this credential to user {user.username!r}, not {expected!r}: "
            "fix the identity provider's mapping for this host (see docs/identity.md)"
        )
    if HOSTS_GROUP not in user.groups:
        return (
            f"user {expected!r} is not in group {HOSTS_GROUP!r} (groups: "
            f"{', '.join(user.groups) or 'none'}): fix the mapping's groups"
        )
    return None


async def require_host_identity(kube: Kube, host: str) -> UserInfo:
    user = await who_am_i(kube)
    problem = mismatch(user, host)
    if problem is not None:
        raise IdentityMismatchError(f"refusing to run as host {host!r}: {problem}")
    return user
