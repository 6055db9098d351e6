"""What metrics cost when they are on: counting one API request, and a scrape of the controller
at fleet size and of an agent. Off (the default, and every simulated agent) the client does one
None check per request and nothing else.

The controller's cache is filled in memory (Hosts and their Leases, as its informers hold
them) and every Configuration reconciled once through `ControllerMetrics.rollout`, so the
scrape serialises what a real controller of that size would.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

from prometheus_client import generate_latest

from bench.workload import Row
from transom.agent.metrics import AgentMetrics
from transom.api import names
from transom.api.configuration import ConfigurationStatus
from transom.controller.cache import Cache
from transom.controller.hostview import HostView
from transom.controller.metrics import ControllerMetrics
from transom.engine.result import Action, ResourceOutcome, RunReport, Status
from transom.kube.client import Kube
from transom.kube.config import KubeConfig

BENCH = "metrics"
#: Never connected: the scrape reads the cache, not the API.
_OFFLINE = KubeConfig(server="https://127.0.0.1:1")


def _row(metric: str, value: float, unit: str, note: str = "") -> Row:
    return {"benchmark": BENCH, "metric": metric, "value": float(value), "unit": unit, "note": note}


def _median_seconds(work: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _controller(hosts: int, configurations: int) -> ControllerMetrics:
    kube = Kube(_OFFLINE)
    cache = Cache(kube)
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    for i in range(hosts):
        name = f"web{i:04d}"
        cache.hosts.items[("", name)] = {"metadata": {"name": name, "labels": {"role": "web"}}}
        if i % 10:  # one host in ten offline
            cache.leases.items[(names.host_namespace(name), names.LEASE_NAME)] = {
                "spec": {"holderIdentity": name, "renewTime": now, "leaseDurationSeconds": 40}
            }
    metrics = ControllerMetrics()
    metrics.observe_hosts(cache)
    views = [
        HostView(f"web{i:04d}", bool(i % 10), assigned=1, applied=1, ready=True)
        for i in range(hosts)
    ]
    for c in range(configurations):
        metrics.rollout(("apps", f"config-{c}"), 1, views, ConfigurationStatus())
    return metrics


def run(
    hosts: int = 1000, configurations: int = 50, requests: int = 100_000, rounds: int = 20
) -> list[Row]:
    rows = []
    counter = ControllerMetrics().api  # as the controller's client counts
    paths = [
        f"/apis/transom.dev/v1alpha1/namespaces/{names.host_namespace(f'h{i}')}/assignments/a/status"
        for i in range(1000)
    ]

    def count() -> None:
        for i in range(requests):
            counter.request_done("PATCH", paths[i % len(paths)], 200)

    per_request = _median_seconds(count, 5) / requests
    rows.append(
        _row("API request counted, median", per_request * 1e6, "us", f"{requests} requests x 5")
    )

    controller = _controller(hosts, configurations)
    body = generate_latest(controller.registry)
    scrape = _median_seconds(lambda: generate_latest(controller.registry), rounds)
    shape = f"{hosts} hosts, {configurations} Configurations"
    rows.append(_row("controller scrape, median", scrape * 1000, "ms", shape))
    rows.append(_row("controller scrape size", len(body) / 1024, "KiB", shape))

    agent = AgentMetrics()
    kinds = ["File", "Directory", "Service", "RegistryValue", "Package", "WindowsFeature"]
    report = RunReport(
        Action.APPLY,
        tuple(
            ResourceOutcome(f"r{i}", kinds[i % len(kinds)], Status.OK, True, duration_ms=i % 50)
            for i in range(200)
        ),
        100,
    )
    agent.applied(report)
    agent.observe_agent("web01", Kube(_OFFLINE), None)
    scrape = _median_seconds(lambda: generate_latest(agent.registry), rounds)
    rows.append(_row("agent scrape, median", scrape * 1000, "ms", f"{len(kinds)} resource types"))
    return rows
