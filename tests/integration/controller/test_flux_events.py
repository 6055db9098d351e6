"""Rollout outcomes reach Flux's notification-controller in its event format."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.integration.controller.conftest import Fleet, configuration, eventually
from transom.api import names
from transom.controller import setup
from transom.controller.flux_events import Notifier
from transom.controller.manager import Controller
from transom.kube.client import Kube
from transom.kube.kinds import CONFIGURATIONS

pytestmark = pytest.mark.controlplane

REQUIRED = {
    "involvedObject",
    "severity",
    "timestamp",
    "message",
    "reason",
    "metadata",
    "reportingController",
    "reportingInstance",
}
ALLOWED_PREFIXES = ("kustomize.toolkit.fluxcd.io/", "event.toolkit.fluxcd.io/")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP endpoint on loopback standing where notification-controller listens."""
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/", received
    await runner.cleanup()


async def test_success_and_halt_are_posted_about_the_kustomization(
    kube: Kube, namespace: str, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    address, received = receiver
    await setup.ensure(kube, crds=False)
    ctl = Controller(kube, liveness_interval=0.2, notifier=Notifier(address))
    task = asyncio.create_task(ctl.run())
    fleet = Fleet(kube, "fx")
    try:
        host = await fleet.add(0, {"role": namespace})
        conf = configuration("web", namespace, {"role": namespace})
        conf["metadata"]["labels"] = {
            names.FLUX_KUSTOMIZATION_NAME: "windows",
            names.FLUX_KUSTOMIZATION_NAMESPACE: "flux-system",
        }
        await kube.create(CONFIGURATIONS.path(namespace), conf)
        key = (namespace, "web")
        await eventually(lambda: fleet.assignment(host, key))
        await fleet.report(host, key, ok=True)

        async def posted(n: int) -> bool:
            return len(received) >= n

        await eventually(lambda: posted(1))
        ok = received[0]
        assert ok["severity"] == "info" and ok["reason"] == "Succeeded"
        assert ok["involvedObject"] == {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "name": "windows",
            "namespace": "flux-system",
        }

        conf = await kube.get(CONFIGURATIONS.path(namespace, "web"))
        conf["spec"]["resources"][0]["file"]["content"] = "v2\n"
        await kube.replace(CONFIGURATIONS.path(namespace, "web"), conf)

        async def reassigned() -> bool:
            a = await fleet.assignment(host, key)
            return a is not None and a["spec"]["source"]["generation"] == 2

        await eventually(reassigned)
        await fleet.report(host, key, ok=False, resource="motd", message="disk full")
        await eventually(lambda: posted(2))
        failed = received[-1]
        assert failed["severity"] == "error" and failed["reason"] == "ApplyFailed"
        assert host in failed["message"] and "motd" in failed["message"]
        for body in received:
            assert body.keys() >= REQUIRED
            assert all(k.startswith(ALLOWED_PREFIXES) for k in body["metadata"]), body["metadata"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fleet.cleanup()
