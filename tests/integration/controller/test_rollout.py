"""Rollouts against the real apiserver: wave size, halting, selection changes, liveness."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from tests.integration.controller.conftest import (
    Fleet,
    configuration,
    eventually,
    get_configuration,
)
from transom.api import kstatus
from transom.kube.client import Kube
from transom.kube.kinds import CONFIGURATIONS

pytestmark = pytest.mark.controlplane


def conditions(obj: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


async def test_max_unavailable_one_updates_one_host_at_a_time(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    hosts = [await fleet.add(i, {"role": role}) for i in range(5)]
    key = (namespace, "web")
    await kube.create(
        CONFIGURATIONS.path(namespace), configuration("web", namespace, {"role": role})
    )

    # Play five agents: each notes when its Assignment appeared and reports after a pause.
    assigned: dict[str, float] = {}
    finished: dict[str, float] = {}
    while len(finished) < 5:
        for h in hosts:
            if h not in assigned and await fleet.assignment(h, key):
                assigned[h] = time.monotonic()
        for h in list(assigned):
            if h not in finished and time.monotonic() - assigned[h] > 0.3:
                await fleet.report(h, key, ok=True)
                finished[h] = time.monotonic()
        assert len(assigned) - len(finished) <= 1, (assigned, finished)
        conf = await get_configuration(kube, namespace, "web")
        if len(finished) < 5:
            assert kstatus.compute(conf).status is kstatus.Status.IN_PROGRESS
        await asyncio.sleep(0.05)

    # Never two hosts updating at once: every wave started after the previous one finished.
    order = sorted(assigned, key=assigned.__getitem__)
    for before, after in itertools.pairwise(order):
        assert assigned[after] >= finished[before]

    async def current() -> dict | None:  # type: ignore[type-arg]
        conf = await get_configuration(kube, namespace, "web")
        return conf if kstatus.compute(conf).status is kstatus.Status.CURRENT else None

    conf = await eventually(current)
    assert conf["status"]["summary"] == "5/5"
    assert conf["status"]["observedGeneration"] == conf["metadata"]["generation"]


async def test_failure_beyond_max_failures_halts_and_names_host_and_resource(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    hosts = [await fleet.add(i, {"role": role}) for i in range(4)]
    key = (namespace, "web")
    await kube.create(
        CONFIGURATIONS.path(namespace), configuration("web", namespace, {"role": role})
    )
    first = await eventually(lambda: _assigned(fleet, hosts, key))
    await fleet.report(
        first[0], key, ok=False, resource="motd", message="permission denied: /tmp/web-motd"
    )

    async def failed() -> dict | None:  # type: ignore[type-arg]
        conf = await get_configuration(kube, namespace, "web")
        return conf if kstatus.compute(conf).status is kstatus.Status.FAILED else None

    conf = await eventually(failed)
    stalled = conditions(conf)["Stalled"]["message"]
    assert first[0] in stalled and "motd" in stalled and "permission denied" in stalled
    assert conf["status"]["failingHosts"][0]["host"] == first[0]
    # Halted: nobody else got the generation.
    await asyncio.sleep(0.5)
    assert await _assigned(fleet, hosts, key) == first


async def test_selection_changes_add_and_remove_assignments(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    a = await fleet.add(0, {"role": role})
    key = (namespace, "web")
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("web", namespace, {"role": role}, rollout={"maxUnavailable": "100%"}),
    )
    await eventually(lambda: fleet.assignment(a, key))
    await fleet.report(a, key, ok=True)
    b = await fleet.add(1, {"role": role})
    await eventually(lambda: fleet.assignment(b, key))
    # Relabel a out of the selection: its Assignment goes.
    await kube.patch(
        f"/apis/transom.dev/v1alpha1/hosts/{a}", {"metadata": {"labels": {"role": "x"}}}
    )

    async def removed() -> bool:
        return await fleet.assignment(a, key) is None

    await eventually(removed)

    # The status follows the removal (written after it, in the same reconcile).
    async def one_desired() -> bool:
        conf = await get_configuration(kube, namespace, "web")
        return bool(conf["status"]["desired"] == 1)

    await eventually(one_desired)


async def test_offline_host_holds_readiness_and_is_named(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    up = await fleet.add(0, {"role": role})
    down = await fleet.add(1, {"role": role}, online=False)
    key = (namespace, "web")
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("web", namespace, {"role": role}, rollout={"maxUnavailable": 2}),
    )
    await eventually(lambda: fleet.assignment(up, key))
    await fleet.report(up, key, ok=True)

    async def waiting_for_down() -> dict | None:  # type: ignore[type-arg]
        conf = await get_configuration(kube, namespace, "web")
        msg = conditions(conf).get("Reconciling", {}).get("message", "")
        return conf if f"unreachable: {down}" in msg else None

    conf = await eventually(waiting_for_down)
    assert kstatus.compute(conf).status is kstatus.Status.IN_PROGRESS
    # The host comes back and applies: only then is the Configuration Current.
    await fleet.heartbeat(down)
    await eventually(lambda: fleet.assignment(down, key))
    await fleet.report(down, key, ok=True)

    async def current() -> bool:
        conf = await get_configuration(kube, namespace, "web")
        return kstatus.compute(conf).status is kstatus.Status.CURRENT

    await eventually(current)


async def test_two_configurations_managing_one_file_both_stall_naming_each_other(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    await fleet.add(0, {"role": role})
    shared = [{"name": "conf", "file": {"path": "/etc/shared.conf", "content": "a"}}]
    for name in ("alpha", "beta"):
        await kube.create(
            CONFIGURATIONS.path(namespace),
            configuration(name, namespace, {"role": role}, resources=shared),
        )

    async def both_stalled() -> bool:
        for me, other in (("alpha", "beta"), ("beta", "alpha")):
            conf = await get_configuration(kube, namespace, me)
            stalled = conditions(conf).get("Stalled", {})
            if stalled.get("reason") != "ResourceConflict" or other not in stalled.get(
                "message", ""
            ):
                return False
        return True

    await eventually(both_stalled)


async def _assigned(fleet: Fleet, hosts: list[str], key: tuple[str, str]) -> list[str]:
    return [h for h in hosts if await fleet.assignment(h, key)]


async def test_reconcile_request_annotation_is_acknowledged(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    await fleet.add(0, {"role": role})
    await kube.create(
        CONFIGURATIONS.path(namespace), configuration("web", namespace, {"role": role})
    )
    stamp = "2026-11-26T12:00:00Z"
    await kube.patch(
        CONFIGURATIONS.path(namespace, "web"),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )

    async def handled() -> bool:
        conf = await get_configuration(kube, namespace, "web")
        return bool(conf["status"].get("lastHandledReconcileAt") == stamp)

    await eventually(handled)
