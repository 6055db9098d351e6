"""Who is looking and what RBAC lets them `get`, for the view served in the cluster.

Behind the controller's ``--ui-addr`` every request carries a bearer token (``Authorization:
Bearer T``, or Basic with the token as the password, which is what a browser sends after its
login prompt). The token is reviewed with a TokenReview; each kind (and namespace) the page
would show is checked with a SubjectAccessReview for that user. Results are kept a few seconds
in a bounded cache, and concurrent identical reviews share one request, so the event stream and
a page of 1,000 rows cost a handful of reviews, not one per row. Locally (`transom ui`) there is
no reviewer: the kubeconfig's own identity is what the API allows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from transom.api import names
from transom.api.wire import GROUP
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.kinds import EVENTS, SUBJECT_ACCESS_REVIEWS, TOKEN_REVIEWS

#: How long a review's answer is reused: a revoked binding or token stops working this soon.
TTL_SECONDS = 5.0
#: Bound on remembered answers (tokens and access checks together); the oldest go first.
MAX_ENTRIES = 4096


class NotAuthenticatedError(Exception):
    """No token, or one the apiserver's TokenReview does not accept."""


class ReviewUnavailableError(Exception):
    """The reviews themselves failed (the apiserver is down, or refuses the view's own
    identity the right to create them): nobody can be let in."""


@dataclass(frozen=True)
class Viewer:
    """The user a TokenReview names, in the shape a SubjectAccessReview asks about."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Access:
    """What the page may show one viewer; frozen, so pushes are rendered once per distinct
    Access rather than once per open page."""

    hosts: bool
    assignments: bool
    #: Namespaces whose Configurations may be shown; None means every namespace.
    configuration_namespaces: frozenset[str] | None = None

    def configuration(self, key: str) -> bool:
        namespaces = self.configuration_namespaces
        return namespaces is None or key.partition("/")[0] in namespaces

    @property
    def nothing(self) -> bool:
        return not (self.hosts or self.assignments or self.configuration_namespaces != frozenset())


#: The local view: the kubeconfig's identity already limits what the informers could list.
EVERYTHING = Access(hosts=True, assignments=True, configuration_namespaces=None)


def token_of(authorization: str) -> str:
    """The bearer token in an Authorization header: ``Bearer T``, or ``Basic`` with T as the
    password (any user name). "" when there is none."""
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2].strip()
    return ""


@dataclass(frozen=True)
class ResourceAttributes:
    group: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def attributes_of(path: str) -> ResourceAttributes:
    """The resource an API path names: /api/v1/namespaces/N/events,
    /apis/G/V/[namespaces/N/]PLURAL[/NAME[/SUB]]."""
    parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        raise ValueError(f"not a Kubernetes resource path: {path!r}")
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        raise ValueError(f"not a Kubernetes resource path: {path!r}")
    return ResourceAttributes(
        group=group,
        resource=rest[0],
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else "",
        subresource=rest[2] if len(rest) > 2 else "",
    )


@dataclass
class TtlCache:
    """Answers by key for ``ttl`` seconds, at most ``max_entries`` of them; callers asking for
    a key while it is being computed wait for that one computation."""

    ttl: float = TTL_SECONDS
    max_entries: int = MAX_ENTRIES
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[Hashable, tuple[float, asyncio.Future[Any]]] = field(
        default_factory=OrderedDict
    )
    #: Computations started, for tests and benchmarks (a hit costs none).
    misses: int = 0

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        now = self.clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(key)
            return await asyncio.shield(hit[1])
        self.misses += 1
        future = asyncio.ensure_future(compute())
        # Its callers may all have gone (a closed page): the outcome is still collected.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._entries[key] = (now + self.ttl, future)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        try:
            return await asyncio.shield(future)
        except Exception:
            # A failure is not an answer: the next caller asks again.
            if self._entries.get(key, (0.0, None))[1] is future:
                del self._entries[key]
            raise

    def __len__(self) -> int:
        return len(self._entries)


class Reviewer:
    """TokenReview and SubjectAccessReview with the view's own client (in the cluster: the
    controller's ServiceAccount, which may create both and nothing more for this)."""

    def __init__(self, kube: Kube, *, cache: TtlCache | None = None) -> None:
        self.kube = kube
        self.cache = cache or TtlCache()

    async def viewer(self, token: str) -> Viewer:
        if not token:
            raise NotAuthenticatedError("no bearer token")
        # The key is a digest: the cache never holds a usable token.
        key = ("token", hashlib.sha256(token.encode()).hexdigest())
        viewer: Viewer | None = await self.cache.get(key, lambda: self._review_token(token))
        if viewer is None:
            raise NotAuthenticatedError("the token was not accepted by the cluster")
        return viewer

    async def _review_token(self, token: str) -> Viewer | None:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        status = (await self._create(TOKEN_REVIEWS.path(), body)).get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return None
        extra = user.get("extra") or {}
        return Viewer(
            username=str(user["username"]),
            uid=str(user.get("uid") or ""),
            groups=tuple(str(g) for g in user.get("groups") or ()),
            extra=tuple(sorted((str(k), tuple(str(x) for x in v)) for k, v in extra.items())),
        )

    async def allowed(self, viewer: Viewer, verb: str, attrs: ResourceAttributes) -> bool:
        key = ("sar", viewer, verb, attrs)
        return bool(await self.cache.get(key, lambda: self._review_access(viewer, verb, attrs)))

    async def _review_access(self, viewer: Viewer, verb: str, attrs: ResourceAttributes) -> bool:
        resource: dict[str, str] = {"verb": verb, "group": attrs.group, "resource": attrs.resource}
        for k in ("namespace", "name", "subresource"):
            if getattr(attrs, k):
                resource[k] = getattr(attrs, k)
        spec: Obj = {"user": viewer.username, "groups": list(viewer.groups)}
        if viewer.uid:
            spec["uid"] = viewer.uid
        if viewer.extra:
            spec["extra"] = {k: list(v) for k, v in viewer.extra}
        spec["resourceAttributes"] = resource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        status = (await self._create(SUBJECT_ACCESS_REVIEWS.path(), body)).get("status") or {}
        return bool(status.get("allowed"))

    async def _create(self, path: str, body: Obj) -> Obj:
        try:
            return await self.kube.create(path, body)
        except ApiError as exc:
            raise ReviewUnavailableError(f"{body['kind']}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise ReviewUnavailableError(f"{body['kind']}: {exc}") from None

    # -- what the fleet view asks ------------------------------------------------------------

    async def access(self, viewer: Viewer, namespaces: Iterable[str]) -> Access:
        """The grid's Access: Hosts and Assignments cluster-wide (Assignments live one
        namespace per host, so a per-namespace grant would cost a review per row), and
        Configurations cluster-wide or per namespace among ``namespaces``."""
        hosts, assignments, all_configurations = await asyncio.gather(
            self.allowed(viewer, "get", ResourceAttributes(GROUP, "hosts")),
            self.allowed(viewer, "get", ResourceAttributes(GROUP, "assignments")),
            self.allowed(viewer, "get", ResourceAttributes(GROUP, "configurations")),
        )
        if all_configurations:
            return Access(hosts, assignments, None)
        wanted = sorted(set(namespaces))
        answers = await asyncio.gather(
            *(
                self.allowed(viewer, "get", ResourceAttributes(GROUP, "configurations", ns))
                for ns in wanted
            )
        )
        return Access(
            hosts, assignments, frozenset(n for n, ok in zip(wanted, answers, strict=True) if ok)
        )

    async def host_access(self, viewer: Viewer, access: Access, host: str) -> Access | None:
        """A host's page: the Host by name, and its Assignments in its own namespace (granted
        there or cluster-wide). None when the Host itself is not to be shown."""
        if not await self.allowed(viewer, "get", ResourceAttributes(GROUP, "hosts", name=host)):
            return None
        if access.assignments:
            return replace(access, hosts=True)
        namespace = names.host_namespace(host)
        mine = await self.allowed(
            viewer, "get", ResourceAttributes(GROUP, "assignments", namespace)
        )
        return replace(access, hosts=True, assignments=mine)

    async def may_read(self, viewer: Viewer, path: str, verb: str = "get") -> bool:
        return await self.allowed(viewer, verb, attributes_of(path))

    async def may_list_events(self, viewer: Viewer, namespace: str) -> bool:
        attrs = ResourceAttributes(EVENTS.group, EVENTS.plural, namespace)
        return await self.allowed(viewer, "list", attrs)


@dataclass(frozen=True)
class ViewerReader:
    """Reads for one viewer: with a reviewer, each GET is first checked for that viewer (a
    refusal is a 403 as the API would give it); without one, reads go straight through."""

    kube: Kube
    reviewer: Reviewer | None = None
    viewer: Viewer | None = None

    async def get_or_none(self, path: str) -> Obj | None:
        if self.reviewer is not None and (
            self.viewer is None or not await self.reviewer.may_read(self.viewer, path)
        ):
            attrs = attributes_of(path)
            where = f" in namespace {attrs.namespace}" if attrs.namespace else ""
            raise ApiError(
                403,
                {
                    "reason": "Forbidden",
                    "message": f"you may not get {attrs.resource}{where}",
                },
            )
        return await self.kube.get_or_none(path)
