"""The fleet view's HTTP server: GET-only pages and fragments, static assets shipped in the
package, and a server-sent event stream fed by informers on Hosts, Assignments and
Configurations. Locally it acts as the caller's kubeconfig identity; in the cluster (behind the
controller's ``--ui-addr``) each request is reviewed for its own viewer (`transom.ui.access`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from aiohttp import web

from transom.api import names
from transom.api.wire import GROUP
from transom.kube.client import ApiError, Kube
from transom.kube.informer import DELETED, Informer
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, EVENTS, HOSTS
from transom.ui import render
from transom.ui.access import (
    EVERYTHING,
    Access,
    NotAuthenticatedError,
    ResourceAttributes,
    Reviewer,
    ReviewUnavailableError,
    TtlCache,
    Viewer,
    ViewerReader,
    token_of,
)
from transom.ui.drift import DriftEvent, drift_events
from transom.ui.fleet import Cell, ConfigurationInfo, Fleet, FleetView, Obj, configuration_key

log = logging.getLogger(__name__)

#: How long changes are gathered before one push: bursts (a rollout step) become one event.
FLUSH_SECONDS = 0.2
#: A comment line this often keeps proxies and the browser from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}
SECURITY_HEADERS = {
    # Only the page's own script and style: nothing inline, nothing from elsewhere.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


#: What the cluster gives the Flux end of a Configuration's trace (injected by the CLI, which
#: may import the controller's `trace.flux_trace`): label/text lines, commit last.
FluxTrace = Callable[[ViewerReader, Obj], Awaitable[list[tuple[str, str]]]]
#: Drift Events shown per host, newest first.
DRIFT_EVENTS = 10
#: 401s ask for credentials: a browser prompts, and the token goes in as the password.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="transom fleet view", charset="UTF-8"'}


@dataclass(frozen=True)
class Seen:
    """Who a request is for (None locally) and what they may see."""

    viewer: Viewer | None
    access: Access


SEEN = web.RequestKey("seen", Seen)


@dataclass(eq=False)
class Stream:
    """One open event stream: who it is for, and the grid they were last sent."""

    queue: asyncio.Queue[str | None]
    viewer: Viewer | None
    structure: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


@dataclass
class Hub:
    """The fleet cache, what changed since the last push, and the connected streams.

    With a ``reviewer`` (in the cluster) every request and every push is for one viewer and
    shows what they may `get`; without one (`transom ui`) the kubeconfig's identity limits it."""

    fleet: Fleet = field(default_factory=Fleet)
    reviewer: Reviewer | None = None
    #: The view's own client, for what is read on demand (drift Events, the Flux trace).
    kube: Kube | None = None
    flux: FluxTrace | None = None
    dirty_hosts: set[str] = field(default_factory=set)
    dirty_configurations: set[str] = field(default_factory=set)
    structure: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    streams: set[Stream] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: On-demand reads, kept as briefly as reviews: a page redrawn per push reads once.
    reads: TtlCache = field(default_factory=TtlCache)

    def on_host(self, kind: str, obj: Obj) -> None:
        self.dirty_hosts |= self.fleet.set_host(obj, kind == DELETED)
        self.changed.set()

    def on_assignment(self, kind: str, obj: Obj) -> None:
        self.dirty_hosts |= self.fleet.set_assignment(obj, kind == DELETED)
        self.changed.set()

    def on_configuration(self, kind: str, obj: Obj) -> None:
        self.dirty_hosts |= self.fleet.set_configuration(obj, kind == DELETED)
        meta = obj["metadata"]
        self.dirty_configurations.add(configuration_key(meta.get("namespace") or "", meta["name"]))
        self.changed.set()

    def mark_synced(self) -> None:
        """The caches are filled and pages render from them: push only what changes next."""
        self.structure = self.fleet.view().structure()
        self.dirty_hosts, self.dirty_configurations = set(), set()
        self.changed.clear()

    # -- who sees what ------------------------------------------------------------------------

    async def viewer(self, authorization: str) -> Viewer | None:
        """The viewer a request's Authorization header names; None locally."""
        if self.reviewer is None:
            return None
        return await self.reviewer.viewer(token_of(authorization))

    async def access(self, viewer: Viewer | None) -> Access:
        if self.reviewer is None or viewer is None:
            return EVERYTHING
        namespaces = {k.partition("/")[0] for k in self.fleet.configurations}
        return await self.reviewer.access(viewer, namespaces)

    def reader(self, viewer: Viewer | None) -> ViewerReader | None:
        if self.kube is None:
            return None
        return ViewerReader(self.kube, self.reviewer, viewer)

    # -- pushes -------------------------------------------------------------------------------

    def pending(self) -> list[str]:
        """The events for what changed since the last call, as the local view sends them."""
        hosts, configs = self._take()
        frames, self.structure = frames_for(self.fleet.view(), self.structure, hosts, configs)
        return frames

    def _take(self) -> tuple[list[str], list[str]]:
        hosts, configs = sorted(self.dirty_hosts), sorted(self.dirty_configurations)
        self.dirty_hosts, self.dirty_configurations = set(), set()
        return hosts, configs

    async def push(self) -> None:
        """Send each stream what changed, as its viewer may see it; rendered once per distinct
        Access. Each viewer is reviewed again (cached): a revoked token ends its stream."""
        hosts, configs = self._take()
        groups: dict[Access, list[Stream]] = {}
        for stream in list(self.streams):
            try:
                access = await self.access(stream.viewer)
            except (NotAuthenticatedError, ReviewUnavailableError):
                stream.queue.put_nowait(None)
                continue
            groups.setdefault(access, []).append(stream)
        for access, streams in groups.items():
            view = self.fleet.view(access)
            done: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list[str], Any]] = {}
            for stream in streams:
                if stream.structure not in done:
                    done[stream.structure] = frames_for(view, stream.structure, hosts, configs)
                messages, stream.structure = done[stream.structure]
                for message in messages:
                    stream.queue.put_nowait(message)

    async def pump(self) -> None:
        while True:
            await self.changed.wait()
            await asyncio.sleep(FLUSH_SECONDS)
            self.changed.clear()
            await self.push()

    # -- on-demand reads ----------------------------------------------------------------------

    async def drift_events(self, host: str, viewer: Viewer | None) -> list[DriftEvent] | str:
        """The host's recent drift Events (the agent writes one per new drift and per
        correction), newest first; or why they cannot be shown."""
        if self.kube is None:
            return "no cluster connection"
        namespace = names.host_namespace(host)
        if self.reviewer is not None and (
            viewer is None or not await self.reviewer.may_list_events(viewer, namespace)
        ):
            return f"you may not list events in namespace {namespace}"
        kube = self.kube
        try:
            items = await self.reads.get(
                ("events", namespace), lambda: kube.list(EVENTS.path(namespace))
            )
        except ApiError as exc:
            return f"events not readable: {exc}"
        return drift_events(items.get("items") or [])[:DRIFT_EVENTS]

    async def flux_lines(
        self, view: FleetView, key: str, viewer: Viewer | None
    ) -> list[tuple[str, str]] | str:
        info = view.configuration(key)
        reader = self.reader(viewer)
        if info is None or reader is None or self.flux is None:
            return "no cluster connection"
        source = flux_source(info, view.cells_of(key))
        if source is None:
            return "not applied by Flux (no Kustomization labels on the Configuration)"
        flux = self.flux
        try:
            lines: list[tuple[str, str]] = await self.reads.get(
                ("flux", viewer, key, json.dumps(source, sort_keys=True)),
                lambda: flux(reader, source),
            )
        except ApiError as exc:
            return f"the Flux objects are not readable: {exc.message or exc}"
        return lines


def frames_for(
    view: FleetView,
    last: tuple[tuple[str, ...], tuple[str, ...]],
    hosts: list[str],
    configs: list[str],
) -> tuple[list[str], tuple[tuple[str, ...], tuple[str, ...]]]:
    """The SSE frames for one view since its grid was ``last``, and its grid now."""
    structure = view.structure()
    shown_hosts = set(structure[0])
    hosts = [h for h in hosts if h in shown_hosts]
    configs = [k for k in configs if view.access.configuration(k)]
    out: list[str] = []
    if structure != last:
        out.append(frame("grid", {}))
    elif hosts:
        columns = list(structure[1])
        rows = {h: render.row(view, h, columns) for h in hosts}
        out.append(frame("rows", {"rows": rows, "counts": render.counts(view)}))
    if configs or hosts:
        out.append(frame("changed", {"hosts": hosts, "configurations": configs}))
    return out, structure


def flux_source(info: ConfigurationInfo, cells: list[Cell]) -> Obj | None:
    """What the Flux trace starts from: the source a host's Assignment of the current
    generation carries (with who authorized it), else the Kustomization Flux's labels name on
    the Configuration; None when Flux did not apply it."""
    for c in cells:
        if c.generation == info.generation and c.source.get("kustomization"):
            return c.source
    name = info.labels.get(names.FLUX_KUSTOMIZATION_NAME)
    if not name:
        return None
    namespace = info.labels.get(names.FLUX_KUSTOMIZATION_NAMESPACE, info.namespace)
    return {
        "kustomization": {"namespace": namespace, "name": name},
        "revision": info.status.revision,
        "generation": max(info.generation, 1),
    }


def frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def informers(kube: Kube, hub: Hub) -> list[Informer]:
    managed = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    return [
        Informer(kube, HOSTS.path(), hub.on_host),
        Informer(kube, ASSIGNMENTS.path(), hub.on_assignment, label_selector=managed),
        Informer(kube, CONFIGURATIONS.path(), hub.on_configuration),
    ]


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _fragment(request: web.Request) -> bool:
    return request.query.get("fragment") == "1"


def _refused(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = _html(render.refusal(status, message), status)
    response.headers.update(headers or {})
    return response


class _Pages:
    """The site's handlers over one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def view_of(self, request: web.Request) -> FleetView:
        return self.hub.fleet.view(request[SEEN].access)

    async def index(self, request: web.Request) -> web.Response:
        view = self.view_of(request)
        if view.access.nothing:
            return _refused(403, "you may not get Hosts, Assignments or Configurations")
        if _fragment(request):
            return _html(render.grid(view))
        return _html(render.grid_page(view))

    async def host(self, request: web.Request) -> web.Response:
        hub, name = self.hub, request.match_info["name"]
        viewer: Viewer | None = request[SEEN].viewer
        access: Access = request[SEEN].access
        if hub.reviewer is not None and viewer is not None:
            mine = await hub.reviewer.host_access(viewer, access, name)
            if mine is None:
                return _refused(403, f"you may not get Host {name}")
            access = mine
        detail = render.host_detail(
            hub.fleet.view(access),
            name,
            drift=await hub.drift_events(name, viewer),
            audit=hub.fleet.audit.verification(name),
        )
        if _fragment(request):
            return _html(detail)
        return _html(render.page(name, detail, kind="host", subject=name))

    async def configuration(self, request: web.Request) -> web.Response:
        hub = self.hub
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        key = configuration_key(namespace, name)
        viewer: Viewer | None = request[SEEN].viewer
        access: Access = request[SEEN].access
        if not access.configuration(key):
            # Granted by name only (resourceNames): asked for this one.
            attrs = ResourceAttributes(GROUP, "configurations", namespace, name)
            if (
                hub.reviewer is None
                or viewer is None
                or not await hub.reviewer.allowed(viewer, "get", attrs)
            ):
                return _refused(403, f"you may not get Configuration {key}")
            access = replace(access, configuration_namespaces=frozenset({namespace}))
        view = hub.fleet.view(access)
        detail = render.configuration_detail(
            view, key, trace=await hub.flux_lines(view, key, viewer)
        )
        if _fragment(request):
            return _html(detail)
        return _html(render.page(key, detail, kind="configuration", subject=key))

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        asset = resources.files("transom.ui").joinpath("static", name)
        if "/" in name or suffix not in STATIC_TYPES or not asset.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=asset.read_bytes(), content_type=STATIC_TYPES[suffix])

    async def events(self, request: web.Request) -> web.StreamResponse:
        view = self.view_of(request)
        if view.access.nothing:
            return _refused(403, "you may not get Hosts, Assignments or Configurations")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        response.headers.update(SECURITY_HEADERS)
        await response.prepare(request)
        stream = Stream(asyncio.Queue(), request[SEEN].viewer, view.structure())
        self.hub.streams.add(stream)
        try:
            await response.write(b"retry: 1000\n\n")
            while True:
                try:
                    message = await asyncio.wait_for(stream.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    message = ": keep-alive\n\n"
                if message is None:
                    break  # no longer authorized: the page reconnects and is asked again
                await response.write(message.encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self.hub.streams.discard(stream)
        return response


def app(hub: Hub, *, allowed_hosts: tuple[str, ...] | None = None) -> web.Application:
    """The read-only site. With ``allowed_hosts``, a request whose Host header names another
    server is refused (a page elsewhere re-pointing its DNS at loopback learns nothing). With
    the hub's reviewer, every page and stream needs a token the cluster accepts (else 401) and
    shows only what its user may get (a page of nothing they may get is 403)."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if allowed_hosts is not None and request.host.rsplit(":", 1)[0] not in allowed_hosts:
            raise web.HTTPMisdirectedRequest(text="unexpected Host header\n")
        response: web.StreamResponse
        if request.path.startswith("/static/"):
            response = await handler(request)  # the page's own code: no cluster data
        else:
            try:
                viewer = await hub.viewer(request.headers.get("Authorization", ""))
                access = await hub.access(viewer)
            except NotAuthenticatedError as exc:
                response = _refused(401, f"{exc}: sign in with a Kubernetes token", CHALLENGE)
            except ReviewUnavailableError as exc:
                # The detail (the view's own identity, the API's words) goes to the log, not
                # to someone not yet signed in.
                log.warning("fleet view: %s", exc)
                response = _refused(503, "the cluster cannot review tokens now; see the log")
            else:
                request[SEEN] = Seen(viewer, access)
                response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    pages = _Pages(hub)
    application = web.Application(middlewares=[guard])
    application.router.add_get("/", pages.index)
    application.router.add_get("/hosts/{name}", pages.host)
    application.router.add_get("/configurations/{namespace}/{name}", pages.configuration)
    application.router.add_get("/static/{name}", pages.static)
    application.router.add_get("/events", pages.events)
    return application


def loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


@contextlib.asynccontextmanager
async def serving(
    kube: Kube,
    host: str,
    port: int,
    *,
    in_cluster: bool = False,
    flux: FluxTrace | None = None,
) -> AsyncIterator[tuple[Hub, int]]:
    """Watch the fleet and serve the view on host:port (0 picks a free port); yields the hub
    and the bound port once the caches are filled. ``in_cluster``: every viewer brings a
    token, reviewed with ``kube`` (TokenReview, SubjectAccessReview)."""
    hub = Hub(reviewer=Reviewer(kube) if in_cluster else None, kube=kube, flux=flux)
    watches = informers(kube, hub)
    for watch in watches:
        # A refusal (no kubeconfig rights to list) fails here, with the API's own message,
        # rather than as a cache that never fills.
        await kube.list(watch.path, limit="1")
    tasks = [asyncio.create_task(i.run(), name=f"ui watch {i.path}") for i in watches]
    tasks.append(asyncio.create_task(hub.pump(), name="ui pump"))
    allowed = (*LOOPBACK_NAMES, host) if loopback(host) else None
    runner = web.AppRunner(app(hub, allowed_hosts=allowed), access_log=None)
    await runner.setup()
    try:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in watches)), 30)
        hub.mark_synced()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = int(sockets[0].getsockname()[1]) if sockets else port
        yield hub, bound
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in list(hub.streams):
            stream.queue.put_nowait(None)  # end open streams now, not at the shutdown timeout
        await runner.cleanup()
