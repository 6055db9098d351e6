"""Both metrics endpoints, scraped over plain HTTP during a real rollout: `transom controller
run --metrics-addr` as a process, and two enrolled agents serving theirs (each its own
registry, in one process) against the real control plane. The values move as they should:
hosts Ready go up, each apply is timed per resource type, API requests are counted, the
rollout is measured once every host is Ready, a drift correction is counted, and a stopped
agent shows as offline."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import FAST, Fleet
from tests.e2e.test_fleet import web_farm
from tests.integration.controller.conftest import eventually
from transom.agent.service import RunSettings, run_agent
from transom.api import kstatus
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import controller_command, free_port
from transom.engine.policy import HostPolicy
from transom.kube.client import Kube
from transom.kube.kinds import CONFIGURATIONS

pytestmark = pytest.mark.controlplane

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    """One scrape: sample name -> {labels: value}."""

    samples: dict[str, dict[Labels, float]]

    def get(self, name: str, **labels: str) -> float | None:
        """The sum of the samples of ``name`` whose labels include ``labels``; None if none."""
        found = [
            v for have, v in self.samples.get(name, {}).items() if set(labels.items()) <= set(have)
        ]
        return sum(found) if found else None

    def value(self, name: str, **labels: str) -> float:
        """As `get`, 0 when there is no such sample."""
        return self.get(name, **labels) or 0.0

    def has(self, name: str, **labels: str) -> bool:
        return any(set(labels.items()) <= set(h) for h in self.samples.get(name, {}))


async def scrape(url: str) -> Scrape:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return Scrape(samples)


@dataclass
class Controller:
    proc: subprocess.Popen[bytes]
    log: Path
    url: str


@pytest.fixture
async def controller_process(
    controlplane: ControlPlane, tmp_path: Path
) -> AsyncIterator[Controller]:
    port = free_port()
    log = tmp_path / "controller.log"
    proc = subprocess.Popen(
        controller_command(controlplane.kubeconfig, "--metrics-addr", f"127.0.0.1:{port}"),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    ctl = Controller(proc, log, f"http://127.0.0.1:{port}/metrics")

    async def synced() -> bool:
        if proc.poll() is not None:
            raise AssertionError(log.read_text()[-2000:])
        return "caches synced" in log.read_text()

    try:
        await eventually(synced, timeout=60)
        yield ctl
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    assert proc.returncode == 0, log.read_text()[-2000:]


async def test_metrics_move_with_a_rollout_drift_and_an_offline_host(
    controlplane: ControlPlane,
    kube: Kube,
    namespace: str,
    controller_process: Controller,
    tmp_path: Path,
) -> None:
    fleet = Fleet(controlplane, kube, tmp_path, f"met{int(time.time() * 1000) % 100000}")
    (tmp_path / "hosts").mkdir()
    agent_urls: dict[str, str] = {}
    try:
        await fleet.enroll(2)
        for host in fleet.hosts:
            port = free_port()
            agent_urls[host] = f"http://127.0.0.1:{port}/metrics"
            stop = asyncio.Event()
            fleet.stops[host] = stop
            fleet.tasks[host] = asyncio.create_task(
                run_agent(
                    RunSettings(
                        state_dir=fleet.root / "state" / host,
                        policy=HostPolicy(
                            path_roots=(str(fleet.root / "hosts"),), allow_scripts=True
                        ),
                        options=FAST,
                        metrics_address=("127.0.0.1", port),
                    ),
                    stop=stop,
                )
            )
        await _check_rollout(kube, namespace, fleet, controller_process, agent_urls)
    finally:
        await fleet.close()


async def _check_rollout(
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    ctl: Controller,
    agent_urls: dict[str, str],
) -> None:
    first, second = fleet.hosts
    conf = {"namespace": namespace, "configuration": "web-farm"}

    async def both_online() -> bool:
        s = await scrape(ctl.url)
        return all(s.value("transom_host_online", host=h) == 1 for h in fleet.hosts)

    await eventually(both_online, timeout=30)

    async def watching() -> bool:
        scrapes = [await scrape(u) for u in agent_urls.values()]
        return all(
            s.value("transom_api_requests_total", verb="watch", resource=r) >= 1
            for s in scrapes
            for r in ("assignments", "secrets")
        )

    await eventually(watching, timeout=30)
    before = await scrape(ctl.url)
    assert before.value("transom_hosts", state="online") >= 2
    assert before.value("transom_rollout_duration_seconds_count") == 0
    writes_before = before.value("transom_api_requests_total", verb="patch")
    agents_before = {h: await scrape(u) for h, u in agent_urls.items()}
    for s in agents_before.values():
        assert s.value("transom_apply_duration_seconds_count", type="File") == 0
        assert s.value("transom_agent_info") == 1
        # The enrolled client certificate: a day's lifetime by default, minus a little.
        expiry = s.value("transom_certificate_expiry_timestamp_seconds")
        assert time.time() + 600 < expiry < time.time() + 86_400 + 600

    await kube.create(CONFIGURATIONS.path(namespace), web_farm(fleet, namespace))
    ready_seen: list[float] = []
    while True:
        s = await scrape(ctl.url)
        ready = s.value("transom_configuration_hosts", state="ready", **conf)
        # A heartbeat late under load makes a host offline for a moment, not Ready: left out.
        if s.value("transom_configuration_hosts", state="offline", **conf) == 0:
            ready_seen.append(ready)
        obj = await kube.get(CONFIGURATIONS.path(namespace, "web-farm"))
        if kstatus.compute(obj).status is kstatus.Status.CURRENT and ready == 2:
            break
        await asyncio.sleep(0.1)
    # maxUnavailable 1: hosts become Ready one by one, and the count never goes back.
    assert ready_seen == sorted(ready_seen) and ready_seen[-1] == 2, ready_seen

    async def measured() -> bool:
        return (await scrape(ctl.url)).value("transom_rollout_duration_seconds_count") == 1

    await eventually(measured, timeout=10)
    after = await scrape(ctl.url)
    assert 0 < after.value("transom_rollout_duration_seconds_sum") < 300
    assert not after.has("transom_rollout_start_timestamp_seconds", **conf)
    assert after.get("transom_configuration_stalled", **conf) == 0
    for state in ("failed", "updating", "pending", "offline", "drifted"):
        assert after.get("transom_configuration_hosts", state=state, **conf) == 0
    # Assignments are written with server-side apply: PATCH requests, answered 200.
    assert after.value("transom_api_requests_total", verb="patch") > writes_before
    assert after.value("transom_api_requests_total", verb="patch", resource="assignments") >= 2

    for host, url in agent_urls.items():
        s = await scrape(url)
        assert s.value("transom_apply_duration_seconds_count", type="File") >= 1, host
        assert s.value("transom_apply_duration_seconds_count", type="Directory") >= 1, host
        assert s.value("transom_apply_duration_seconds_sum", type="File") > 0, host
        old = agents_before[host]
        status_writes = s.value("transom_api_requests_total", resource="assignments/status")
        assert status_writes > old.value(
            "transom_api_requests_total", resource="assignments/status"
        )
        assert s.value("transom_drift_events_total", type="File") == 0

    # The apply run was audited: the hub holds a checkpoint from this run, and the records
    # after it wait at most the checkpoint interval (a minute) for the next.
    audit = await scrape(agent_urls[first])
    assert audit.value("transom_audit_last_checkpoint_timestamp_seconds") > time.time() - 300
    age = audit.get("transom_audit_checkpoint_age_seconds")
    assert age is not None and 0 <= age < 120

    # Drift on one host: corrected (ApplyAndAutoCorrect), and counted by type on that host only.
    fleet.path(first, "site", "index.html").write_text("defaced\n")

    async def corrected() -> bool:
        s = await scrape(agent_urls[first])
        return s.value("transom_drift_events_total", type="File") == 1

    await eventually(corrected, timeout=30)
    assert fleet.path(first, "site", "index.html").read_text() == f"<h1>{first}</h1>\n"
    other = await scrape(agent_urls[second])
    assert other.value("transom_drift_events_total", type="File") == 0

    # One agent stops: the controller's gauges show it offline once its lease lapses.
    await fleet.stop(second)

    async def offline() -> bool:
        s = await scrape(ctl.url)
        return (
            s.get("transom_host_online", host=second) == 0
            and s.value("transom_configuration_hosts", state="offline", **conf) == 1
        )

    await eventually(offline, timeout=30)
    last = await scrape(ctl.url)
    assert last.value("transom_host_online", host=first) == 1
    assert last.value("transom_hosts", state="offline") >= 1
    # Measured once per generation, not again as hosts come and go.
    assert last.value("transom_rollout_duration_seconds_count") == 1
