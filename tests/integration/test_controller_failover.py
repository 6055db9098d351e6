"""Two `transom controller run --leader-elect` processes against the real control plane: the
leader is killed (SIGKILL) in the middle of a rollout; the standby takes over within one lease
duration and finishes it. Across the hand-over no host gets generations out of order, no
Assignment is written twice with different content, maxUnavailable holds at every sample, and
kstatus sees one continuous InProgress, then Current.

Hosts are stand-ins (tests/integration/controller's Fleet): the test reports each host's run
as its agent would, half a second after the host gets its Assignment."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.controller.conftest import Fleet, configuration, eventually
from transom.api import kstatus, names
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import controller_command
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, LEASES
from transom.kube.leader import LEASE_DURATION_SECONDS, RETRY_PERIOD_SECONDS

pytestmark = pytest.mark.controlplane

HOSTS = 100
MAX_UNAVAILABLE = 10
LEASE_NS = "default"
LEASE_NAME = "transom-failover-test"


def _start(cp: ControlPlane, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        controller_command(
            cp.kubeconfig,
            "--no-install",
            "--leader-elect",
            "--leader-elect-namespace",
            LEASE_NS,
            "--leader-elect-lease-name",
            LEASE_NAME,
        ),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def test_standby_takes_over_a_rollout_when_the_leader_is_killed(
    controlplane: ControlPlane, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_start(controlplane, logs[0])]
    fleet = Fleet(kube, f"fo{os.getpid() % 1000}")
    try:
        await eventually(lambda: _async(_logged(logs[0], "leading")), timeout=60)
        procs.append(_start(controlplane, logs[1]))
        await eventually(lambda: _async(_logged(logs[1], "standing by")), timeout=60)
        role = fleet.prefix
        hosts = [await fleet.add(i, {"role": role}) for i in range(HOSTS)]
        key = (namespace, "web")
        conf = configuration(
            "web", namespace, {"role": role}, rollout={"maxUnavailable": MAX_UNAVAILABLE}
        )
        await kube.create(CONFIGURATIONS.path(namespace), conf)

        history: dict[str, list[int]] = {h: [] for h in hosts}
        content: dict[tuple[str, int], str] = {}
        reported: dict[str, int] = {}
        worst = 0
        statuses: list[str] = []
        stop = asyncio.Event()

        async def agents() -> None:
            """Read every Assignment in one list (one consistent snapshot), check the
            invariants on it, and report runs half a second after a host got its generation."""
            nonlocal worst
            due: dict[str, float] = {}
            selector = f"{names.LABEL_CONFIGURATION}={names.configuration_label(*key)}"
            while not stop.is_set():
                listed = await kube.list(ASSIGNMENTS.path(), labelSelector=selector)
                unavailable = 0
                for a in listed["items"]:
                    h = a["spec"]["host"]
                    gen = int(a["spec"]["source"]["generation"])
                    if not history[h] or history[h][-1] != gen:
                        history[h].append(gen)
                    spec = json.dumps(a["spec"], sort_keys=True)
                    assert content.setdefault((h, gen), spec) == spec, f"{h} rewritten at {gen}"
                    caught_up = (a.get("status") or {}).get("observedGeneration") == a["metadata"][
                        "generation"
                    ]
                    if not caught_up:
                        unavailable += 1
                    if reported.get(h) != gen:
                        due.setdefault(h, time.monotonic() + 0.5)
                        if time.monotonic() >= due[h]:
                            await fleet.report(h, key, ok=True)
                            reported[h] = gen
                            due.pop(h)
                worst = max(worst, unavailable)
                c = await kube.get(CONFIGURATIONS.path(*key))
                if c["metadata"]["generation"] == 2:
                    statuses.append(kstatus.compute(c).status.value)
                await asyncio.sleep(0.1)

        agent_task = asyncio.create_task(agents())

        async def all_at(gen: int) -> bool:
            return all(reported.get(h) == gen for h in hosts)

        await eventually(lambda: all_at(1), timeout=120)
        conf["spec"]["resources"][0]["file"]["content"] = "v2\n"
        await kube.apply(CONFIGURATIONS.path(*key), conf)

        async def some_at_two() -> bool:
            # Mid-rollout: two waves done, eight to go.
            return sum(1 for h in hosts if reported.get(h) == 2) >= 2 * MAX_UNAVAILABLE

        await eventually(some_at_two, timeout=120)
        killed = time.monotonic()
        procs[0].send_signal(signal.SIGKILL)

        async def holder_b() -> bool:
            lease = await kube.get(LEASES.path(LEASE_NS, LEASE_NAME))
            return bool(_logged(logs[1], "leading")) and lease["spec"]["holderIdentity"] != ""

        await eventually(holder_b, timeout=60, interval=0.2)
        took = time.monotonic() - killed
        assert took <= LEASE_DURATION_SECONDS + 2 * RETRY_PERIOD_SECONDS + 3, took

        async def current() -> bool:
            c = await kube.get(CONFIGURATIONS.path(*key))
            return await all_at(2) and kstatus.compute(c).status is kstatus.Status.CURRENT

        await eventually(current, timeout=120)
        stop.set()
        await agent_task
        statuses.append(kstatus.compute(await kube.get(CONFIGURATIONS.path(*key))).status.value)

        assert worst <= MAX_UNAVAILABLE, worst
        for h, gens in history.items():
            assert gens == [1, 2], (h, gens)
        # One continuous InProgress, then Current: never Failed, never Current and back.
        seen = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
        assert seen[-1] == kstatus.Status.CURRENT.value
        assert all(s == kstatus.Status.IN_PROGRESS.value for s in seen[:-1]), seen
        lease = await kube.get(LEASES.path(LEASE_NS, LEASE_NAME))
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            await asyncio.to_thread(p.wait, 30)
        await fleet.cleanup()


def _logged(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


async def _async(value: Any) -> Any:
    return value
