"""The promise, proven with the real thing: a commit goes through real source-controller and
kustomize-controller, the real controller and three real agents; Flux says Ready only when
every host runs it, fails when a host cannot, and recovers when the fix is committed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Fleet
from tests.e2e.test_fleet import assignment_ready, web_farm
from tests.integration.controller.conftest import eventually
from transom.api import kstatus, names
from transom.controller import report
from transom.dev.flux import (
    FluxControllers,
    condition,
    git_repository,
    kustomization,
    not_ready,
    ready_at,
    wait_for,
)
from transom.dev.gitserver import GitServer, Repository
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, EVENTS, GIT_REPOSITORIES, KUSTOMIZATIONS

pytestmark = [pytest.mark.controlplane, pytest.mark.flux]


def manifest(conf: dict[str, Any]) -> str:
    conf = {**conf, "metadata": {"name": conf["metadata"]["name"]}}  # targetNamespace places it
    return yaml.safe_dump(conf, sort_keys=False)


async def sync(kube: Kube, namespace: str, repo: Repository, **options: Any) -> None:
    await kube.apply(
        GIT_REPOSITORIES.path(namespace, "fleet"), git_repository("fleet", namespace, repo.url)
    )
    body = kustomization(
        "windows",
        namespace,
        "fleet",
        "./windows",
        target_namespace=namespace,
        timeout=options.pop("timeout", "120s"),
        **options,
    )
    await kube.apply(KUSTOMIZATIONS.path(namespace, "windows"), body)


async def test_commit_to_hosts_ready_only_when_hosts_run_it_then_fail_then_fix(
    flux: FluxControllers, git_server: GitServer, kube: Kube, namespace: str, fleet: Fleet
) -> None:
    await fleet.enroll(3)
    for h in fleet.hosts:
        fleet.start(h)
    repo = git_server.create_repository(namespace)
    key = (namespace, "web-farm")

    # v1: Ready with lastAppliedRevision v1, and never before all three hosts applied it.
    v1 = repo.revision(
        repo.commit({"windows/web-farm.yaml": manifest(web_farm(fleet, namespace))}, "v1")
    )
    await sync(kube, namespace, repo, wait=True)
    host_ready: dict[str, float] = {}
    ks_ready_at = 0.0
    deadline = time.monotonic() + 120
    while not ks_ready_at and time.monotonic() < deadline:
        for h in fleet.hosts:
            if h not in host_ready and await assignment_ready(kube, h, key, 1):
                host_ready[h] = time.monotonic()
        ks = await kube.get(KUSTOMIZATIONS.path(namespace, "windows"))
        if ready_at(v1)(ks):
            ks_ready_at = time.monotonic()
        await asyncio.sleep(0.05)
    assert ks_ready_at, f"Kustomization never Ready: {ks.get('status')}"
    assert len(host_ready) == 3 and ks_ready_at >= max(host_ready.values())
    conf = await kube.get(CONFIGURATIONS.path(*key))
    assert conf["status"]["revision"] == v1

    # v2 fails on one host: Ready=False, fails fast, lastAppliedRevision stays v1.
    bad = fleet.hosts[1]
    fleet.path(bad, "cache").write_text("not a directory")
    v2_conf = web_farm(
        fleet,
        namespace,
        {"name": "cache", "directory": {"path": str(fleet.root / "hosts/$(host.name)/cache")}},
    )
    repo.commit({"windows/web-farm.yaml": manifest(v2_conf)}, "v2")
    ks = await wait_for(
        kube, KUSTOMIZATIONS, namespace, "windows", not_ready("HealthCheckFailed"), timeout=120
    )
    ready = condition(ks)
    assert ready is not None
    assert f"Configuration/{namespace}/web-farm status: 'Failed'" in ready["message"]
    assert ks["status"]["lastAppliedRevision"] == v1

    # Flux's own message cannot carry an object's words; the Event beside it does.
    async def kustomization_event() -> str:
        events = (await kube.list(EVENTS.path(namespace)))["items"]
        notes = [
            e.get("note", "")
            for e in events
            if e.get("regarding", {}).get("kind") == "Kustomization"
            and e.get("reportingController") == "transom.dev/controller"
        ]
        return next((n for n in notes if bad in n and "cache" in n), "")

    note = await eventually(kustomization_event)
    assert "web-farm" in note

    # v3 fixes it: Ready at v3, and `transom status` shows v3 on every host.
    v3 = repo.revision(
        repo.commit({"windows/web-farm.yaml": manifest(web_farm(fleet, namespace))}, "v3")
    )
    await wait_for(kube, KUSTOMIZATIONS, namespace, "windows", ready_at(v3), timeout=120)
    rows = [r for r in await report.rows(kube) if r.host in fleet.hosts]
    assert {r.host for r in rows} == set(fleet.hosts)
    assert all(
        r.state == "Ready"
        and v3.startswith(r.revision.split("@sha1:")[0])
        and r.revision.split("@sha1:")[1] in v3
        for r in rows
    ), rows


async def test_drift_is_corrected_and_reported_with_the_revision(
    flux: FluxControllers, git_server: GitServer, kube: Kube, namespace: str, fleet: Fleet
) -> None:
    await fleet.enroll(2)
    for h in fleet.hosts:
        fleet.start(h)
    repo = git_server.create_repository(namespace)
    conf = web_farm(fleet, namespace)
    monitor = {
        **conf,
        "metadata": {"name": "reports"},
        "spec": {
            **conf["spec"],
            "mode": "ApplyAndMonitor",
            "resources": [
                {
                    "name": "motd",
                    "file": {
                        "path": str(fleet.root / "hosts/motd-$(host.name)"),
                        "content": "welcome\n",
                    },
                }
            ],
        },
    }
    rev = repo.revision(
        repo.commit(
            {"windows/web-farm.yaml": manifest(conf), "windows/reports.yaml": manifest(monitor)},
            "v1",
        )
    )
    await sync(kube, namespace, repo, wait=True)
    await wait_for(kube, KUSTOMIZATIONS, namespace, "windows", ready_at(rev), timeout=120)

    # AutoCorrect: the file comes back within seconds, and an Event says so with the revision.
    victim = fleet.hosts[0]
    index = fleet.path(victim, "site", "index.html")
    expected = index.read_text()
    index.write_text("defaced")

    async def corrected() -> bool:
        return index.read_text() == expected

    await eventually(corrected, timeout=15)

    async def drift_event(reason: str) -> str:
        ns = names.host_namespace(victim)
        events = (await kube.list(EVENTS.path(ns)))["items"]
        return next((e.get("note", "") for e in events if e.get("reason") == reason), "")

    note = await eventually(lambda: drift_event("DriftCorrected"))
    assert rev.split("@sha1:")[1][:12] in note or rev in note

    # Monitor: the change stays, and the Configuration's status counts the drifted host.
    motd = fleet.root / "hosts" / f"motd-{victim}"
    motd.write_text("changed by hand")

    async def reported() -> dict[str, Any] | None:
        c = await kube.get(CONFIGURATIONS.path(namespace, "reports"))
        return c if c["status"].get("drifted") == 1 else None

    status = (await eventually(reported, timeout=30))["status"]
    assert motd.read_text() == "changed by hand"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert "drift on" in ready["message"] and victim in ready["message"]


async def test_offline_host_holds_flux_until_it_is_back_and_applied(
    flux: FluxControllers, git_server: GitServer, kube: Kube, namespace: str, fleet: Fleet
) -> None:
    await fleet.enroll(2)
    for h in fleet.hosts:
        fleet.start(h)
    repo = git_server.create_repository(namespace)
    conf = web_farm(fleet, namespace)
    conf["spec"]["rollout"] = {"maxUnavailable": 2}
    v1 = repo.revision(repo.commit({"windows/web-farm.yaml": manifest(conf)}, "v1"))
    await sync(kube, namespace, repo, wait=True)
    await wait_for(kube, KUSTOMIZATIONS, namespace, "windows", ready_at(v1), timeout=120)

    away = fleet.hosts[1]
    await fleet.stop(away)
    conf["spec"]["resources"][1]["file"]["content"] = "<h1>v2 $(host.name)</h1>\n"
    v2 = repo.revision(repo.commit({"windows/web-farm.yaml": manifest(conf)}, "v2"))

    async def waiting_for_away() -> dict[str, Any] | None:
        c = await kube.get(CONFIGURATIONS.path(namespace, "web-farm"))
        rec = condition(c, "Reconciling") or {}
        return c if f"unreachable: {away}" in rec.get("message", "") else None

    c = await eventually(waiting_for_away, timeout=60)
    assert kstatus.compute(c).status is kstatus.Status.IN_PROGRESS
    ks = await kube.get(KUSTOMIZATIONS.path(namespace, "windows"))
    assert ks["status"].get("lastAppliedRevision") == v1

    fleet.start(away)
    await wait_for(kube, KUSTOMIZATIONS, namespace, "windows", ready_at(v2), timeout=120)
    assert fleet.path(away, "site", "index.html").read_text() == f"<h1>v2 {away}</h1>\n"
    a = await kube.get(
        ASSIGNMENTS.path(names.host_namespace(away), names.assignment_name(namespace, "web-farm"))
    )
    assert a["status"]["appliedRevision"] == v2
