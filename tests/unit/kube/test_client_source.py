"""Kube(source_address=...): requests and watches leave from that local address (the fleet
benchmark gives each process of simulated hosts its own loopback address)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from transom.kube.client import Kube
from transom.kube.config import KubeConfig


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 that answers with the peer address it saw."""

    async def get(request: web.Request) -> web.StreamResponse:
        seen = {"remote": request.remote}
        if request.query.get("watch") != "1":
            return web.json_response(seen)
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(json.dumps({"type": "ADDED", "object": seen}).encode() + b"\n")
        return resp

    app = web.Application()
    app.router.add_get("/peer", get)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("source", ["127.0.0.7", "127.0.0.42"])
async def test_requests_and_watches_leave_from_the_source_address(server: str, source: str) -> None:
    async with Kube(KubeConfig(server=server), source_address=source) as kube:
        assert (await kube.get("/peer"))["remote"] == source
        events = [e async for e in kube.watch("/peer", timeout_seconds=5)]
        assert [e["object"]["remote"] for e in events] == [source]


async def test_without_a_source_address_the_system_chooses(server: str) -> None:
    async with Kube(KubeConfig(server=server)) as kube:
        assert (await kube.get("/peer"))["remote"] == "127.0.0.1"
