"""Commit-to-host truth with real agents: Current only after every host applied; a failure
on one host stalls the rollout with host, resource and reason; a fix recovers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import Fleet
from tests.integration.controller.conftest import eventually
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS

pytestmark = pytest.mark.controlplane


def web_farm(fleet: Fleet, namespace: str, *extra: dict[str, Any]) -> dict[str, Any]:
    base = str(fleet.root / "hosts" / "$(host.name)")
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web-farm", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"role": fleet.role}},
            "rollout": {"maxUnavailable": 1},
            "resources": [
                {"name": "site", "directory": {"path": f"{base}/site"}},
                {
                    "name": "index",
                    "dependsOn": ["site"],
                    "file": {
                        "path": f"{base}/site/index.html",
                        "content": "<h1>$(host.name)</h1>\n",
                    },
                },
                *extra,
            ],
        },
    }


async def assignment_ready(kube: Kube, host: str, key: tuple[str, str], generation: int) -> bool:
    a = await kube.get_or_none(
        ASSIGNMENTS.path(names.host_namespace(host), names.assignment_name(*key))
    )
    if a is None or a["spec"]["source"]["generation"] != generation:
        return False
    status = a.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return (
        status.get("observedGeneration") == a["metadata"]["generation"]
        and bool(ready)
        and ready[0]["status"] == "True"
    )


async def test_three_agents_converge_and_configuration_is_current_only_after_all(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    await fleet.enroll(3)
    for h in fleet.hosts:
        fleet.start(h)
    key = (namespace, "web-farm")
    await kube.create(CONFIGURATIONS.path(namespace), web_farm(fleet, namespace))

    # Watch both sides: the Configuration may be Current only once all three report Ready.
    seen_current_early = False
    while True:
        conf = await kube.get(CONFIGURATIONS.path(*key))
        current = kstatus.compute(conf).status is kstatus.Status.CURRENT
        ready = [await assignment_ready(kube, h, key, 1) for h in fleet.hosts]
        if current and not all(ready):
            seen_current_early = True
        if current:
            break
        await asyncio.sleep(0.05)
    assert not seen_current_early
    assert all([await assignment_ready(kube, h, key, 1) for h in fleet.hosts])
    assert conf["status"]["summary"] == "3/3"
    for h in fleet.hosts:
        assert fleet.path(h, "site", "index.html").read_text() == f"<h1>{h}</h1>\n"


async def test_failure_on_one_host_stalls_with_host_resource_reason_then_fix_recovers(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    await fleet.enroll(3)
    for h in fleet.hosts:
        fleet.start(h)
    key = (namespace, "web-farm")
    await kube.create(CONFIGURATIONS.path(namespace), web_farm(fleet, namespace))

    async def current(generation: int) -> dict[str, Any] | None:
        conf = await kube.get(CONFIGURATIONS.path(*key))
        ok = (
            kstatus.compute(conf).status is kstatus.Status.CURRENT
            and conf["status"]["observedGeneration"] == generation
        )
        return conf if ok else None

    await eventually(lambda: current(1), timeout=60)

    # v2 adds a cache directory; on the second host a plain file already sits at that path.
    bad = fleet.hosts[1]
    fleet.path(bad, "cache").write_text("not a directory")
    conf = await kube.get(CONFIGURATIONS.path(*key))
    conf["spec"] = web_farm(
        fleet,
        namespace,
        {
            "name": "cache",
            "directory": {"path": str(fleet.root / "hosts/$(host.name)/cache")},
        },
    )["spec"]
    await kube.replace(CONFIGURATIONS.path(*key), conf)

    async def failed() -> dict[str, Any] | None:
        c = await kube.get(CONFIGURATIONS.path(*key))
        return c if kstatus.compute(c).status is kstatus.Status.FAILED else None

    stalled = await eventually(failed, timeout=60)
    message = kstatus.compute(stalled).message
    assert bad in message and "cache" in message
    assert stalled["status"]["failingHosts"][0]["host"] == bad
    assert stalled["status"]["failingHosts"][0]["resource"] == "cache"
    # The first host took v2; the halted rollout never reached the third.
    assert await assignment_ready(kube, fleet.hosts[0], key, 2)
    third = await kube.get(
        ASSIGNMENTS.path(names.host_namespace(fleet.hosts[2]), names.assignment_name(*key))
    )
    assert third["spec"]["source"]["generation"] == 1

    # v3 fixes it (drops the cache directory): every host converges to generation 3.
    conf = await kube.get(CONFIGURATIONS.path(*key))
    conf["spec"] = web_farm(fleet, namespace)["spec"]
    await kube.replace(CONFIGURATIONS.path(*key), conf)
    done = await eventually(lambda: current(3), timeout=60)
    assert done["status"]["summary"] == "3/3"
