"""The fleet view's server without a cluster: read-only, loopback-only, escaped, and the same
fragments the page swaps in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from html import escape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from bench.ui_bench import fleet_objects
from hypothesis import given
from hypothesis import strategies as st

from transom.cli.errors import CliError
from transom.cli.ui import parse_addr
from transom.ui import render
from transom.ui.fleet import Fleet
from transom.ui.server import LOOPBACK_NAMES, Hub, app
from transom.ui.states import CellState


@pytest.fixture
def hub() -> Hub:
    return fleet_objects(20)


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app(hub, allowed_hosts=LOOPBACK_NAMES))) as c:
        yield c


async def test_a_change_is_pushed_as_the_rows_it_redraws(
    hub: Hub, client: TestClient[Any, Any]
) -> None:
    hub.mark_synced()
    pump = asyncio.create_task(hub.pump())
    try:
        stream = await client.get("/events")
        assert stream.content_type == "text/event-stream"
        assert await stream.content.readline() == b"retry: 1000\n"
        await stream.content.readline()
        host = hub.fleet.hosts["web0005"]
        host["status"]["conditions"][0]["status"] = "Unknown"
        hub.on_host("MODIFIED", host)
        event = (await stream.content.readline()).decode().strip()
        data = json.loads((await stream.content.readline()).decode().removeprefix("data: "))
        assert event == "event: rows"
        assert list(data["rows"]) == ["web0005"]
        assert 'class="offline"' in data["rows"]["web0005"]
        assert data["rows"]["web0005"].count("s-offline") == 3
        assert '<b id="offline-count">' in data["counts"]
        stream.close()
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)


async def test_pages_fragments_and_assets(client: TestClient[Any, Any]) -> None:
    page = await client.get("/")
    assert page.status == 200
    text = await page.text()
    assert text.count('<tr id="host-') == 20
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    fragment = await (await client.get("/?fragment=1")).text()
    assert fragment.startswith('<div id="grid-wrap">')
    host = await (await client.get("/hosts/web0001")).text()
    assert "prod/iis" in host
    assert (await client.get("/configurations/prod/iis")).status == 200
    js = await client.get("/static/app.js")
    assert js.status == 200
    assert js.content_type == "text/javascript"
    assert (await client.get("/static/..%2Fserver.py")).status == 404
    assert (await client.get("/static/server.py")).status == 404


async def test_read_only(client: TestClient[Any, Any]) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/")).status == 405


async def test_foreign_host_header_refused(client: TestClient[Any, Any]) -> None:
    """A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) reads nothing."""
    got = await client.get("/", headers={"Host": "attacker.example:8600"})
    assert got.status == 421
    assert (await client.get("/", headers={"Host": "localhost:8600"})).status == 200


def test_addr_must_be_loopback() -> None:
    assert parse_addr("127.0.0.1:8600") == ("127.0.0.1", 8600)
    assert parse_addr("[::1]:0") == ("::1", 0)
    assert parse_addr("8600") == ("127.0.0.1", 8600)  # a bare port is loopback, as elsewhere
    for bad in ("0.0.0.0:8600", "10.0.0.5:80", "example.com:80", ":8600", "127.0.0.1:x"):
        with pytest.raises(CliError):
            parse_addr(bad)


@given(st.text(max_size=20), st.text(max_size=40))
def test_cluster_text_is_escaped(label_tail: str, message_tail: str) -> None:
    """Whatever a label or a resource message holds, it is shown as text, never markup."""
    label, message = f'<x-evil a="{label_tail}">', f"<x-evil>{message_tail}"
    fleet = Fleet()
    fleet.set_host({"metadata": {"name": "h1", "labels": {"k": label}}})
    fleet.set_assignment(
        {
            "metadata": {"name": "a", "namespace": "transom-host-h1", "generation": 1},
            "spec": {
                "host": "h1",
                "source": {"configuration": {"namespace": "n", "name": "c"}, "generation": 1},
                "resources": [],
            },
            "status": {
                "observedGeneration": 1,
                "results": [
                    {"name": "r", "type": "File", "inDesiredState": False, "message": message}
                ],
            },
        }
    )
    html = render.grid(fleet.view()) + render.host_detail(fleet.view(), "h1")
    assert "<x-evil" not in html
    assert escape(label, quote=True) in html
    assert escape(message, quote=True) in html


def test_offline_host_shows_every_cell_offline() -> None:
    hub: Hub = fleet_objects(100)
    for name in hub.fleet.host_names():
        info = hub.fleet.host(name)
        assert info is not None
        states = {c.state for c in hub.fleet.cells(name)}
        if not info.online:
            assert states == {CellState.OFFLINE}
        else:
            assert CellState.OFFLINE not in states
