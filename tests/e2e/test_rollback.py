"""Readiness probes and automatic rollback with real agents, a real controller and a real
HTTP server: a commit that breaks the site is rolled back on the first host of the first
partition and never reaches the second; the status names the host and the probe's error;
the fix rolls out everywhere."""

from __future__ import annotations

import functools
import http.server
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import report
from tests.e2e.conftest import Fleet
from tests.integration.controller.conftest import eventually
from transom.api import conditions as c
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.controller.report import rows as report_rows
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, HOSTS

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
