"""The multi-agent simulator: N real agents (own certificates, own watches) in one process."""

from __future__ import annotations

import asyncio
import functools
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from transom.agent.runner import REQUEST_CONNECTIONS, AgentOptions
from transom.agent.simulator import Simulator
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import ASSIGNMENTS, CSRS

from .conftest import eventually

pytestmark = pytest.mark.controlplane

COUNT = 20


async def test_simulated_fleet_converges_and_idles_on_leases(
    controlplane: ControlPlane, kube: Kube, tmp_path: Path
) -> None:
    sim = Simulator(
        KubeConfig.from_file(controlplane.kubeconfig),
        count=COUNT,
        workdir=tmp_path,
        prefix=f"sim{secrets.token_hex(2)}",
        labels={"role": "web"},
        options=AgentOptions(drift_monitor=False, renew_interval_seconds=1.0),
    )
    try:
        async with sim:
            assert len({h.kube.config.cert_pem for h in sim.hosts}) == COUNT
            started = time.monotonic()
            for h in sim.hosts:
                ns = names.host_namespace(h.name)
                await kube.create(
                    ASSIGNMENTS.path(ns),
                    {
                        "apiVersion": API_VERSION,
                        "kind": "Assignment",
                        "metadata": {"name": "default.web", "namespace": ns},
                        "spec": {
                            "host": h.name,
                            "source": {
                                "configuration": {"namespace": "default", "name": "web"},
                                "generation": 1,
                            },
                            "resources": [
                                {"name": "f", "file": {"path": str(h.root / "f"), "content": "1"}}
                            ],
                        },
                    },
                )

            async def all_current() -> bool:
                for h in sim.hosts:
                    obj = await kube.get(
                        ASSIGNMENTS.path(names.host_namespace(h.name), "default.web")
                    )
                    if kstatus.compute(obj).status is not kstatus.Status.CURRENT:
                        return False
                return True

            await eventually(all_current, timeout=60, interval=0.2)
            elapsed = time.monotonic() - started
            assert all((h.root / "f").read_text() == "1" for h in sim.hosts)
            print(f"\n[simulator] {COUNT} hosts Ready {elapsed:.2f} s after assignment")

            await asyncio.sleep(1.0)
            sim.reset_requests()
            await asyncio.sleep(3.0)
            kinds = {key.split(" ")[0] + " " + key.rsplit("/", 2)[-2] for key in sim.requests()}
            assert kinds == {"PUT leases"}, sim.requests()
    finally:
        await sim.cleanup()


async def _approve_slowly(kube: Kube, host_names: list[str], every: float) -> None:
    """Approve the hosts' CSRs one at a time, EVERY seconds apart, as a busy controller might."""
    for host in host_names:
        await asyncio.sleep(every)
        csr = await eventually(functools.partial(_pending_csr, kube, host), timeout=30)
        csr["status"] = {
            "conditions": [
                {"type": "Approved", "status": "True", "reason": "Test", "message": "slowly"}
            ]
        }
        await kube.replace(CSRS.path(name=csr["metadata"]["name"], subresource="approval"), csr)


async def _pending_csr(kube: Kube, host: str) -> dict[str, Any] | None:
    items = (await kube.list(CSRS.path(), labelSelector=f"transom.dev/host={host}"))["items"]
    return items[0] if items else None


async def test_enrollment_waits_while_certificates_keep_coming_and_names_a_stall(
    controlplane: ControlPlane, kube: Kube, tmp_path: Path
) -> None:
    # A 10,000-host fleet's CSRs are approved over minutes, in no order of a simulator's: each
    # agent process waits as long as any host's certificates keep being signed, and gives up
    # only when none is signed for a while.
    def sim(name: str, count: int, stall: float) -> Simulator:
        return Simulator(
            KubeConfig.from_file(controlplane.kubeconfig),
            count=count,
            workdir=tmp_path / name,
            prefix=f"{name}{secrets.token_hex(2)}",
            approve=False,
            enroll_stall_seconds=stall,
        )

    first, second = sim("first", 2, 4.0), sim("second", 2, 4.0)
    # 2.5 s apart, the first's two first: the second's own first is signed after 7.5 s.
    approver = asyncio.create_task(_approve_slowly(kube, first.names + second.names, every=2.5))
    try:
        await asyncio.gather(first.start(), second.start())
        assert len(first.hosts) == len(second.hosts) == 2
    finally:
        approver.cancel()
        await first.stop()
        await second.stop()

    stalled = sim("stalled", 2, 2.0)
    with pytest.raises(
        TimeoutError, match=r"no certificate signed for 2 s \(any host's\): 0 of these 2 signed"
    ):
        async with stalled:
            pass


def _connections(source: str, port: int) -> int:
    """Established TCP connections from SOURCE to 127.0.0.1:PORT (/proc/net/tcp)."""
    local = socket.inet_aton(source)[::-1].hex().upper()
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        l_addr = fields[1].split(":")[0]
        r_port = int(fields[2].split(":")[1], 16)
        if l_addr == local and r_port == port and fields[3] == "01":
            count += 1
    return count


async def test_an_agent_keeps_one_connection_per_watch_and_few_for_requests(
    controlplane: ControlPlane, tmp_path: Path
) -> None:
    source = f"127.0.{secrets.randbelow(200) + 20}.{secrets.randbelow(200) + 20}"
    sim = Simulator(
        KubeConfig.from_file(controlplane.kubeconfig),
        count=1,
        workdir=tmp_path,
        prefix=f"conn{secrets.token_hex(2)}",
        options=AgentOptions(drift_monitor=False, renew_interval_seconds=0.5),
        source_address=source,
    )
    async with sim:
        seen = []
        for _ in range(20):  # start-up (lists, Lease, Host status) and renewals after it
            seen.append(_connections(source, controlplane.apiserver_port))
            await asyncio.sleep(0.1)
    watches = 3  # Assignments, Secrets, HostPreviews (no reboot Lease: it never reboots)
    # Synced means its Assignments are listed; the other watches may open a moment later.
    assert watches <= max(seen) <= watches + REQUEST_CONNECTIONS, seen
