"""The fleet view with 1,000 hosts x 3 Configurations in Debian's Chromium: time to first
render (navigation start to the grid's last row in the DOM, and to the load event) and time
to filter (an input event to the rows hidden and the count updated), median of several runs.

The page is served by the real server (`transom.ui.server.app`) from a Fleet filled in memory
with valid Host and Assignment objects in every state: what is measured is the server's
rendering and the browser's work, not the apiserver's list.

    .venv/bin/python -m bench.ui_bench [--hosts 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

from aiohttp import web

from transom.api.wire import API_VERSION
from transom.ui.server import Hub, app

CONFIGURATIONS = ("prod/iis", "prod/features", "prod/certs")
RUNS = 5


def _conditions(state: str, generation: int) -> list[dict[str, Any]]:
    now = "2026-12-01T00:00:00Z"
    ready = {
        "type": "Ready",
        "status": "True" if state == "ready" else "False",
        "reason": "Succeeded" if state == "ready" else "ApplyFailed",
        "message": "",
        "lastTransitionTime": now,
        "observedGeneration": generation,
    }
    return [ready]


def fleet_objects(hosts: int) -> Hub:
    hub = Hub()
    for i in range(hosts):
        name = f"web{i:04d}"
        online = i % 97 != 0
        hub.on_host(
            "ADDED",
            {
                "apiVersion": API_VERSION,
                "kind": "Host",
                "metadata": {
                    "name": name,
                    "labels": {"role": ("web", "sql", "file")[i % 3], "site": f"s{i % 7}"},
                },
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True" if online else "Unknown",
                            "reason": "Succeeded",
                            "message": "",
                            "lastTransitionTime": "2026-12-01T00:00:00Z",
                        }
                    ]
                },
            },
        )
        for j, key in enumerate(CONFIGURATIONS):
            namespace, cname = key.split("/")
            failed = (i + j) % 50 == 0
            results = [
                {"name": "site", "type": "Directory", "inDesiredState": True},
                {
                    "name": "pool",
                    "type": "File",
                    "inDesiredState": not failed,
                    "reason": "ProviderFailed" if failed else "",
                    "message": "access denied" if failed else "",
                },
            ]
            hub.on_assignment(
                "ADDED",
                {
                    "apiVersion": API_VERSION,
                    "kind": "Assignment",
                    "metadata": {
                        "name": f"{namespace}.{cname}",
                        "namespace": f"transom-host-{name}",
                        "generation": 1,
                    },
                    "spec": {
                        "host": name,
                        "source": {
                            "configuration": {"namespace": namespace, "name": cname},
                            "generation": 3,
                            "revision": f"main@sha1:{i:040x}",
                        },
                        "resources": [],
                    },
                    "status": {
                        "observedGeneration": 1 if (i + j) % 13 else -1,
                        "conditions": _conditions("failed" if failed else "ready", 1),
                        "results": results,
                    },
                },
            )
    return hub


FILTER_JS = """async (value) => {
  const t0 = performance.now();
  const input = document.getElementById('labels');
  input.value = value;
  input.dispatchEvent(new Event('input'));
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}"""
RENDER_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return {dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          rows: document.querySelectorAll('#grid tbody tr').length};
}"""


async def measure(hosts: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright
    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

    hub = fleet_objects(hosts)
    runner = web.AppRunner(app(hub), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/"
    render_ms, load_ms, filter_ms, clear_ms, bytes_ = [], [], [], [], 0
    try:
        t0 = time.perf_counter()
        from transom.ui import render

        html = render.grid_page(hub.fleet.view())
        server_ms = (time.perf_counter() - t0) * 1000
        bytes_ = len(html.encode())
        with tempfile.TemporaryDirectory() as profile:
            async with async_playwright() as pw:
                ctx = await pw.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                page = await ctx.new_page()
                for _ in range(RUNS):
                    await page.goto(url, wait_until="load")
                    got = await page.evaluate(RENDER_JS)
                    assert got["rows"] == hosts, got
                    render_ms.append(got["dom"])
                    load_ms.append(got["load"])
                    filter_ms.append(await page.evaluate(FILTER_JS, "role=web,site=s3"))
                    shown = await page.locator("#grid tbody tr:not([hidden])").count()
                    assert 0 < shown < hosts, shown
                    clear_ms.append(await page.evaluate(FILTER_JS, ""))
                await ctx.close()
    finally:
        await runner.cleanup()
    return {
        "hosts": hosts,
        "cells": hosts * len(CONFIGURATIONS),
        "html_kib": bytes_ / 1024,
        "server_first_render_ms": server_ms,  # cold: every Assignment parsed
        "dom_content_loaded_ms": statistics.median(render_ms),
        "load_ms": statistics.median(load_ms),
        "filter_ms": statistics.median(filter_ms),
        "clear_filter_ms": statistics.median(clear_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(measure(args.hosts))
    for k, v in result.items():
        print(f"{k:24} {v:.1f}" if isinstance(v, float) else f"{k:24} {v}")


if __name__ == "__main__":
    main()
