"""The fleet view's HTTP server: GET-only pages and fragments, static assets shipped in the
package, and a server-sent event stream fed by informers on Hosts, Assignments and
Configurations (the caller's identity: it shows what that identity may list and watch)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import web

from transom.api import names
from transom.kube.client import Kube
from transom.kube.informer import DELETED, Informer
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, HOSTS
from transom.ui import render
from transom.ui.fleet import Fleet, Obj, configuration_key

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


@dataclass
class Hub:
    """The fleet cache, what changed since the last push, and the connected streams."""

    fleet: Fleet = field(default_factory=Fleet)
    dirty_hosts: set[str] = field(default_factory=set)
    dirty_configurations: set[str] = field(default_factory=set)
    structure: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    streams: set[asyncio.Queue[str]] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_host(self, kind: str, obj: Obj) -> None:
        self.dirty_hosts |= self.fleet.set_host(obj, kind == DELETED)
        self.changed.set()

    def on_assignment(self, kind: str, obj: Obj) -> None:
        self.dirty_hosts |= self.fleet.set_assignment(obj, kind == DELETED)
        self.changed.set()

    def on_configuration(self, kind: str, obj: Obj) -> None:
        self.fleet.set_configuration(obj, kind == DELETED)
        meta = obj["metadata"]
        self.dirty_configurations.add(configuration_key(meta.get("namespace") or "", meta["name"]))
        self.changed.set()

    def mark_synced(self) -> None:
        """The caches are filled and pages render from them: push only what changes next."""
        self.structure = (tuple(self.fleet.host_names()), tuple(self.fleet.configuration_keys()))
        self.dirty_hosts, self.dirty_configurations = set(), set()
        self.changed.clear()

    def pending(self) -> list[str]:
        """The events for what changed since the last call (SSE frames)."""
        fleet = self.fleet
        structure = (tuple(fleet.host_names()), tuple(fleet.configuration_keys()))
        hosts, configs = sorted(self.dirty_hosts), sorted(self.dirty_configurations)
        self.dirty_hosts, self.dirty_configurations = set(), set()
        out: list[str] = []
        if structure != self.structure:
            self.structure = structure
            out.append(frame("grid", {}))
        elif hosts:
            columns = list(structure[1])
            rows = {h: render.row(fleet, h, columns) for h in hosts}
            out.append(frame("rows", {"rows": rows, "counts": render.counts(fleet)}))
        if configs or hosts:
            out.append(frame("changed", {"hosts": hosts, "configurations": configs}))
        return out

    async def pump(self) -> None:
        while True:
            await self.changed.wait()
            await asyncio.sleep(FLUSH_SECONDS)
            self.changed.clear()
            for message in self.pending():
                for queue in list(self.streams):
                    queue.put_nowait(message)


def frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def informers(kube: Kube, hub: Hub) -> list[Informer]:
    managed = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    return [
        Informer(kube, HOSTS.path(), hub.on_host),
        Informer(kube, ASSIGNMENTS.path(), hub.on_assignment, label_selector=managed),
        Informer(kube, CONFIGURATIONS.path(), hub.on_configuration),
    ]


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", charset="utf-8")


def _fragment(request: web.Request) -> bool:
    return request.query.get("fragment") == "1"


def app(hub: Hub, *, allowed_hosts: tuple[str, ...] | None = None) -> web.Application:
    """The read-only site. With ``allowed_hosts``, a request whose Host header names another
    server is refused (a page elsewhere re-pointing its DNS at loopback learns nothing)."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if allowed_hosts is not None and request.host.rsplit(":", 1)[0] not in allowed_hosts:
            raise web.HTTPMisdirectedRequest(text="unexpected Host header\n")
        response: web.StreamResponse = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def index(request: web.Request) -> web.Response:
        if _fragment(request):
            return _html(render.grid(hub.fleet))
        return _html(render.grid_page(hub.fleet))

    async def host(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if _fragment(request):
            return _html(render.host_detail(hub.fleet, name))
        return _html(render.host_page(hub.fleet, name))

    async def configuration(request: web.Request) -> web.Response:
        key = configuration_key(request.match_info["namespace"], request.match_info["name"])
        if _fragment(request):
            return _html(render.configuration_detail(hub.fleet, key))
        return _html(render.configuration_page(hub.fleet, key))

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        asset = resources.files("transom.ui").joinpath("static", name)
        if "/" in name or suffix not in STATIC_TYPES or not asset.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=asset.read_bytes(), content_type=STATIC_TYPES[suffix])

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        response.headers.update(SECURITY_HEADERS)
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue()
        hub.streams.add(queue)
        try:
            await response.write(b"retry: 1000\n\n")
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    message = ": keep-alive\n\n"
                await response.write(message.encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            hub.streams.discard(queue)
        return response

    application = web.Application(middlewares=[guard])
    application.router.add_get("/", index)
    application.router.add_get("/hosts/{name}", host)
    application.router.add_get("/configurations/{namespace}/{name}", configuration)
    application.router.add_get("/static/{name}", static)
    application.router.add_get("/events", events)
    return application


def loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


@contextlib.asynccontextmanager
async def serving(kube: Kube, host: str, port: int) -> AsyncIterator[tuple[Hub, int]]:
    """Watch the fleet and serve the view on host:port (0 picks a free port); yields the hub
    and the bound port once the caches are filled."""
    hub = Hub()
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
        await runner.cleanup()
