"""Prometheus metrics both processes share: the API client's requests, the per-process
registry, and the HTTP endpoint that serves it (`--metrics-addr`).

Imported only when metrics are on: prometheus_client and aiohttp's server cost start-up time
the agent and `transom apply` should not pay otherwise. Each process (and each in-process test
agent) has its own `CollectorRegistry`, never the library's global one.
"""

from __future__ import annotations

import functools
import logging
from typing import Final

from aiohttp import web
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
)
from prometheus_client.exposition import choose_encoder

from transom.kube.address import AddressError
from transom.kube.client import NO_ANSWER

log = logging.getLogger(__name__)

API_REQUESTS: Final = "transom_api_requests"
#: The `code` of a request that got no answer (a network error or a timeout), as client-go's
#: rest_client_requests_total says it.
NO_ANSWER_CODE: Final = "<error>"
METRICS_PATH: Final = "/metrics"

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "WATCH": "watch"}
#: Namespace subresources: `/api/v1/namespaces/NAME/status` is no namespaced collection.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@functools.lru_cache(maxsize=4096)
def request_labels(method: str, path: str) -> tuple[str, str]:
    """(verb, resource) of a request, in the apiserver's and RBAC's terms: `list` of
    `assignments`, `patch` of `hosts/status`; a non-resource path (`/version`) is its verb in
    lower case and the path."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return method.lower(), "/" + "/".join(parts)
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        rest = rest[2:]
    if not rest:
        return method.lower(), "/" + "/".join(parts)
    named = len(rest) >= 2
    resource = "/".join([rest[0], *rest[2:3]])
    if method == "GET":
        verb = "get" if named else "list"
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return verb, resource


class ApiRequestMetrics:
    """`transom_api_requests_total{verb,resource,code}`: a `kube.client.RequestObserver`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            API_REQUESTS,
            "Requests this process sent to the Kubernetes API server, by verb, resource and "
            f"HTTP status code ({NO_ANSWER_CODE} when no answer came).",
            ["verb", "resource", "code"],
            registry=registry,
        )

    def request_done(self, method: str, path: str, status: int) -> None:
        verb, resource = request_labels(method, path)
        code = NO_ANSWER_CODE if status == NO_ANSWER else str(status)
        self.requests.labels(verb, resource, code).inc()


def process_registry() -> CollectorRegistry:
    """A fresh registry with the standard process, platform and garbage-collector metrics
    (process_* are empty where /proc is missing, e.g. on Windows)."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class MetricsServer:
    """Serves one registry at `GET /metrics` (Prometheus text, or OpenMetrics when the
    scraper asks for it) on ``host:port``; ``async with`` starts and stops it."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(METRICS_PATH, self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise AddressError(
                f"cannot serve metrics on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # what port 0 became
        log.info("serving metrics at %s", self.url)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self.registry), headers={"Content-Type": content_type})
