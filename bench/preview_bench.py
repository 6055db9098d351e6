"""A preview across a fleet: from the request (the Preview created) to the last host's answer,
for 100 simulated hosts.

The controller runs as its own process (`transom controller run`); the hosts are real agents
from the simulator (own certificates, watches and Leases, the posix engine), each answering
its HostPreview in what-if mode on the real agent code path. Every round proposes new content
for one file per host, so every host has a change to report.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.controller_process import controller, prepare
from bench.workload import Row, load_average, percentile, progress, row
from transom.agent.credentials.whoami import who_am_i
from transom.agent.simulator import SCALE_OPTIONS, Simulator
from transom.api.preview import LABEL_PREVIEW, HostPreview, preview_label
from transom.api.wire import API_VERSION
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import HOST_PREVIEWS, PREVIEWS

BENCHMARK = "preview"
NS = "preview-bench"


def _preview(fleet: str, base: Path, user: str, content: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Preview",
        "metadata": {"generateName": "bench-", "namespace": NS},
        "spec": {
            "requestedBy": user,
            "configurations": [
                {
                    "name": fleet,
                    "spec": {
                        "hostSelector": {"matchLabels": {"fleet": fleet}},
                        "resources": [
                            {
                                "name": "motd",
                                "file": {
                                    "path": f"{base}/$(host.name)/root/motd",
                                    "content": content,
                                },
                            }
                        ],
                    },
                }
            ],
        },
    }


async def _round(
    kube: Kube, body: dict[str, Any], n: int, timeout: float
) -> tuple[float, list[float], int]:
    """Create one Preview; seconds until the controller had asked every host, until each
    answer, and how many hosts were asked."""
    t0 = time.monotonic()
    created = await kube.create(PREVIEWS.path(NS), body)
    name = created["metadata"]["name"]
    selector = f"{LABEL_PREVIEW}={preview_label(NS, name)}"
    answered: dict[str, float] = {}
    asked: list[int] = []
    dispatched = 0.0
    done = asyncio.Event()

    def take(obj: dict[str, Any]) -> None:
        if HostPreview.model_validate(obj).answered():
            answered.setdefault(obj["spec"]["host"], time.monotonic() - t0)
        if asked and len(answered) >= asked[0]:
            done.set()

    async def poll_dispatch() -> None:
        nonlocal dispatched
        while True:
            status = (await kube.get(PREVIEWS.path(NS, name))).get("status") or {}
            if status.get("observedGeneration") == 1:
                dispatched = time.monotonic() - t0
                asked.append(sum(1 for h in status.get("hosts") or [] if h["state"] == "Requested"))
                if len(answered) >= asked[0]:
                    done.set()
                return
            await asyncio.sleep(0.02)

    async def follow() -> None:
        listed = await kube.list(HOST_PREVIEWS.path(), labelSelector=selector)
        for item in listed["items"]:
            take(item)
        rv = listed["metadata"]["resourceVersion"]
        while True:
            async for event in kube.watch(
                HOST_PREVIEWS.path(), resource_version=rv, label_selector=selector
            ):
                obj = event.get("object") or {}
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    take(obj)

    tasks = [asyncio.create_task(poll_dispatch()), asyncio.create_task(follow())]
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kube.delete(PREVIEWS.path(NS, name))
    return dispatched, sorted(answered.values()), asked[0] if asked else n


async def _fleet(cp: ControlPlane, work: Path, n: int, rounds: int) -> list[Row]:
    admin = KubeConfig.from_file(cp.kubeconfig)
    fleet = f"p{n}"
    sim = Simulator(
        admin,
        count=n,
        workdir=work / fleet,
        prefix=fleet,
        labels={"fleet": fleet},
        options=SCALE_OPTIONS,
        provision=False,
        approve=False,
    )
    async with Kube(admin) as kube, sim:
        progress(f"{n} hosts up in {sim.setup_seconds:.0f} s")
        user = (await who_am_i(kube)).username
        # Warm-up, and until the controller has seen every host's Lease: not measured.
        for attempt in range(60):
            body = _preview(fleet, work / fleet, user, f"warm-up {attempt}\n")
            _, _, asked = await _round(kube, body, n, timeout=60)
            if asked == n:
                break
            await asyncio.sleep(1)
        lasts: list[float] = []
        dispatches: list[float] = []
        samples: list[float] = []
        for r in range(rounds):
            body = _preview(fleet, work / fleet, user, f"round {r}\n")
            dispatched, times, asked = await _round(kube, body, n, timeout=120)
            last = times[-1] if times and len(times) >= asked else float("inf")
            lasts.append(last)
            dispatches.append(dispatched)
            samples += times
            progress(f"{n} hosts, round {r}: {len(times)}/{asked} answered, last at {last:.2f} s")
        await sim.cleanup()
    note = f"{n} simulated hosts, {rounds} previews, {load_average()}"
    return [
        row(
            BENCHMARK,
            f"{n} hosts: request to last answer, median",
            statistics.median(lasts),
            "s",
            note,
        ),
        row(BENCHMARK, f"{n} hosts: request to last answer, max", max(lasts), "s", note),
        row(
            BENCHMARK,
            f"{n} hosts: request to host answer, p50",
            statistics.median(samples),
            "s",
            note,
        ),
        row(
            BENCHMARK,
            f"{n} hosts: request to every host asked, median",
            statistics.median(dispatches),
            "s",
            "the controller wrote every HostPreview (seen by a 0.1 s poll or less often)",
        ),
        row(
            BENCHMARK,
            f"{n} hosts: request to host answer, p99",
            percentile(samples, 99),
            "s",
            note,
        ),
    ]


def run(sizes: tuple[int, ...] = (100,), rounds: int = 5) -> list[Row]:
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="transom-bench-preview-") as tmp,
        ControlPlane() as cp,
        controller(cp, Path(tmp)),
    ):
        prepare(cp, NS)
        for n in sizes:
            rows += asyncio.run(_fleet(cp, Path(tmp), n, rounds))
    return rows


if __name__ == "__main__":
    from bench.run import table

    sizes = tuple(int(a) for a in sys.argv[1:]) or (100,)
    print(table(run(sizes)))
