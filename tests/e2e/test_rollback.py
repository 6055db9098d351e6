"""Readiness probes and automatic rollback with real agents, a real controller and a real
HTTP server: a commit that breaks the site is rolled back on the first host of the first
partition and never reaches the second; the status names the host and the probe's error;
the fix rolls out everywhere."""

from __future__ import annotations

import asyncio
import functools
import http.server
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import report
from tests.e2e.conftest import Fleet
from tests.e2e.test_flux_scenario import manifest, sync
from tests.integration.controller.conftest import eventually
from transom.api import conditions as c
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.controller.report import rows as report_rows
from transom.dev.flux import FluxControllers, not_ready, ready_at
from transom.dev.gitserver import GitServer
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, HOSTS, KUSTOMIZATIONS

pytestmark = pytest.mark.controlplane


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site_server(fleet: Fleet) -> Iterator[str]:
    """A static web server on loopback serving every host's files, as IIS would serve each
    host's site root: what the agents write is what it answers."""
    handler = functools.partial(_Quiet, directory=str(fleet.root / "hosts"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def configuration(fleet: Fleet, namespace: str, url: str, health: dict[str, Any]) -> dict[str, Any]:
    base = str(fleet.root / "hosts" / "$(host.name)")
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web-farm", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"role": fleet.role}},
            "rollout": {
                "maxUnavailable": 1,
                "partitions": [
                    {"name": "canary", "hostSelector": {"matchLabels": {"wave": "canary"}}}
                ],
                "rollback": {"onFailure": True},
            },
            "readiness": {
                "probes": [
                    {
                        "name": "site",
                        "http": {"url": f"{url}/$(host.name)/site/health", "bodyRegex": "^ok"},
                    }
                ],
                "periodSeconds": 1,
                "failureThreshold": 1,
                "minReadySeconds": 1,
                "progressDeadlineSeconds": 5,
            },
            "resources": [
                {"name": "site", "directory": {"path": f"{base}/site"}},
                {
                    "name": "health",
                    "dependsOn": ["site"],
                    "file": {"path": f"{base}/site/health", **health},
                },
            ],
        },
    }


async def assignment(kube: Kube, host: str, namespace: str) -> dict[str, Any]:
    return await kube.get(
        ASSIGNMENTS.path(names.host_namespace(host), names.assignment_name(namespace, "web-farm"))
    )


async def test_a_commit_failing_its_probe_rolls_back_on_the_canary_only_then_the_fix_rolls_out(
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    site_server: str,
    *,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.INFO, logger="transom.agent.worker")
    await fleet.enroll(2)
    canary, second = fleet.hosts
    await kube.patch(HOSTS.path(name=canary), {"metadata": {"labels": {"wave": "canary"}}})
    for h in fleet.hosts:
        fleet.start(h)
    key = (namespace, "web-farm")

    async def configuration_at(generation: int, judged: kstatus.Status) -> dict[str, Any] | None:
        conf = await kube.get(CONFIGURATIONS.path(*key))
        ok = (
            conf["status"]["observedGeneration"] == generation
            and kstatus.compute(conf).status is judged
        )
        return conf if ok else None

    async def replace(health: dict[str, Any]) -> None:
        conf = await kube.get(CONFIGURATIONS.path(*key))
        conf["spec"] = configuration(fleet, namespace, site_server, health)["spec"]
        await kube.replace(CONFIGURATIONS.path(*key), conf)

    # v1: the health page says ok; every host passes its probe and soaks before Ready.
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration(fleet, namespace, site_server, {"content": "ok v1\n"}),
    )
    await eventually(lambda: configuration_at(1, kstatus.Status.CURRENT), timeout=90)
    for h in fleet.hosts:
        readiness = (await assignment(kube, h, namespace))["status"]["readiness"]
        assert readiness["state"] == "Ready" and readiness["probes"][0]["passing"]

    # v2 breaks the site (the page goes); the canary's probe fails past its deadline.
    await replace({"ensure": "absent"})

    async def halted() -> dict[str, Any] | None:
        conf = await kube.get(CONFIGURATIONS.path(*key))
        verdict = kstatus.compute(conf).status
        at_v2 = conf["status"]["observedGeneration"] == 2
        # Flux's view (kstatus) never says Current while the probes run or after the rollback.
        assert not (at_v2 and verdict is kstatus.Status.CURRENT), conf["status"]
        rolled_back = at_v2 and verdict is kstatus.Status.FAILED and _reason(conf) == c.ROLLED_BACK
        return conf if rolled_back else None

    stalled = await eventually(halted, timeout=90, interval=0.05)
    message = kstatus.compute(stalled).message
    assert canary in message and "404" in message, message
    failing = stalled["status"]["failingHosts"]
    assert [f["host"] for f in failing] == [canary]
    assert failing[0]["reason"] == c.ROLLED_BACK and "404" in failing[0]["message"]

    status = (await assignment(kube, canary, namespace))["status"]
    assert status["rollback"]["state"] == "RolledBack"
    assert (status["rollback"]["fromGeneration"], status["rollback"]["toGeneration"]) == (2, 1)
    assert status["readiness"]["state"] == "Failed"
    assert "returned 404, expected 200-399" in status["readiness"]["probes"][0]["message"]
    # The canary runs v1 again, from its own journal; the second host never got v2.
    assert fleet.path(canary, "site", "health").read_text() == "ok v1\n"
    assert (await assignment(kube, second, namespace))["spec"]["source"]["generation"] == 1
    assert fleet.path(second, "site", "health").read_text() == "ok v1\n"
    # `transom status` shows which commit is on each box: the canary's is v1 again.
    rows = {r.host: r for r in await report_rows(kube) if r.host in fleet.hosts}
    assert (rows[canary].state, rows[canary].generation) == ("RolledBack", "1")
    assert (rows[second].state, rows[second].generation) == ("Ready", "1")

    figures = [
        float(m)
        for r in caplog.records
        for m in re.findall(r"rolled back to .* in ([0-9.]+) s", r.getMessage())
    ]
    assert figures, "the worker logs how long the rollback took"
    report(request, f"[rollback] probe deadline to rollback complete: {figures[0]:.2f} s")

    # v3 fixes it: the page is back, every host converges and passes.
    await replace({"content": "ok v3\n"})
    done = await eventually(lambda: configuration_at(3, kstatus.Status.CURRENT), timeout=90)
    assert done["status"]["summary"] == "2/2" and done["status"]["failingHosts"] == []
    for h in fleet.hosts:
        assert fleet.path(h, "site", "health").read_text() == "ok v3\n"
        status = (await assignment(kube, h, namespace))["status"]
        assert status.get("rollback") is None and status["readiness"]["state"] == "Ready"


def _reason(conf: dict[str, Any]) -> str:
    for cond in conf["status"].get("conditions") or []:
        if cond["type"] == "Ready":
            return str(cond["reason"])
    return ""


@pytest.mark.flux
async def test_flux_is_never_ready_while_probing_nor_after_a_rollback(
    flux: FluxControllers,
    git_server: GitServer,
    *,
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    site_server: str,
) -> None:
    await fleet.enroll(2)
    canary, second = fleet.hosts
    await kube.patch(HOSTS.path(name=canary), {"metadata": {"labels": {"wave": "canary"}}})
    for h in fleet.hosts:
        fleet.start(h)
    repo = git_server.create_repository(namespace)

    def commit(version: str, health: dict[str, Any]) -> str:
        doc = manifest(configuration(fleet, namespace, site_server, health))
        return repo.revision(repo.commit({"windows/web-farm.yaml": doc}, version))

    async def probes_settled(host: str) -> bool:
        status = (await assignment(kube, host, namespace)).get("status") or {}
        return (status.get("readiness") or {}).get("state") in ("Ready", "Failed")

    async def watch(
        done: Any, revision: str, timeout: float = 120, *, expected: bool = True
    ) -> dict[str, Any]:
        """Sample the Kustomization until ``done`` (or, not ``expected``, until the timeout);
        it must never be Ready at ``revision`` while a host's probes are still running or
        once a host rolled back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ks = await kube.get(KUSTOMIZATIONS.path(namespace, "windows"))
            if ready_at(revision)(ks):
                settled = [await probes_settled(h) for h in fleet.hosts]
                rolled = (
                    (await assignment(kube, canary, namespace)).get("status", {}).get("rollback")
                )
                assert all(settled) and rolled is None, "Ready while probing or after a rollback"
            if done(ks):
                return ks
            await asyncio.sleep(0.05)
        assert not expected, f"Kustomization not done in {timeout} s: {ks.get('status')}"
        return ks

    v1 = commit("v1", {"content": "ok v1\n"})
    await sync(kube, namespace, repo, wait=True)
    await watch(ready_at(v1), v1)

    v2 = commit("v2", {"ensure": "absent"})
    ks = await watch(not_ready("HealthCheckFailed"), v2)
    assert ks["status"]["lastAppliedRevision"] == v1
    conf = await kube.get(CONFIGURATIONS.path(namespace, "web-farm"))
    assert _reason(conf) in (c.ROLLING_BACK, c.ROLLED_BACK)
    # Flux retries; the halted rollout keeps it failed, never Ready at v2.
    ks = await watch(lambda _ks: False, v2, timeout=6, expected=False)
    assert not ready_at(v2)(ks) and ks["status"]["lastAppliedRevision"] == v1
    assert (await assignment(kube, second, namespace))["spec"]["source"]["generation"] == 1

    v3 = commit("v3", {"content": "ok v3\n"})
    await watch(ready_at(v3), v3)
