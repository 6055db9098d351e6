"""The fleet-wide reboot budget with real agents (the simulator's, each its own client
certificate, so RBAC and admission apply) and the real controller: reboots are simulated as
tests/integration/agent/test_reboot.py does (the agent stops, the boot id changes, a new agent
starts on the same state directory)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.integration.controller.conftest import eventually
from transom.agent.runner import AgentOptions
from transom.agent.simulator import SimulatedHost, Simulator
from transom.api import conditions as c
from transom.api import kstatus, names
from transom.api.admission import REBOOT_LEASE_NAME
from transom.api.resources.files import FileProperties
from transom.api.wire import API_VERSION
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.engine.provider import Change, Context, Provider, SetOutcome
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, HOSTS, LEASES
from transom.providers.posix import posix_providers
from transom.providers.posix.files import FileProvider

pytestmark = pytest.mark.controlplane


class NeedsReboot(FileProvider):
    """A File whose every change asks for a reboot, like a driver."""

    kind: ClassVar[str] = "File"

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        super().set(desired, changes, ctx)
        return SetOutcome(reboot_required=True, message="takes effect after a reboot")


class Machine:
    """A host's boot: the agent asks it to reboot; the test's power loop carries it out."""

    def __init__(self) -> None:
        self.boots = 1
        self.asked = False

    def boot_id(self) -> str:
        return f"boot-{self.boots}"

    def reboot(self, reason: str) -> None:
        self.asked = True


class Lab:
    """Ten simulated hosts whose reboots take ``down_seconds``; some never come back."""

    def __init__(self, sim: Simulator, machines: dict[str, Machine], never: set[str]) -> None:
        self.sim = sim
        self.machines = machines
        self.never = never
        self.down: set[str] = set()
        self.reboots = 0
        self.cycles: list[asyncio.Task[None]] = []

    async def power_loop(self, down_seconds: float = 0.5) -> None:
        while True:
            for host in list(self.sim.hosts):
                m = self.machines[host.name]
                if m.asked and host.name not in self.down:
                    m.asked = False
                    self.down.add(host.name)
                    self.cycles.append(asyncio.create_task(self._cycle(host, m, down_seconds)))
            await asyncio.sleep(0.05)

    async def _cycle(self, host: SimulatedHost, m: Machine, down_seconds: float) -> None:
        await self.sim.power_off(host)
        self.reboots += 1
        if host.name in self.never:
            return
        await asyncio.sleep(down_seconds)
        m.boots += 1
        await self.sim.power_on(host)
        self.down.discard(host.name)


def configuration(namespace: str, app: str, root: Path, budget: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "drivers", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"app": app}},
            "resources": [
                {
                    "name": "driver",
                    "file": {"path": f"{root}/$(host.name)/driver.sys", "content": "v2\n"},
                }
            ],
            "rollout": {"maxUnavailable": "100%"},
            "rebootPolicy": {"mode": "IfNeeded"},
            "reboot": budget,
        },
    }


async def reboot_leases(kube: Kube, hosts: list[str]) -> list[str]:
    listed = await kube.list(LEASES.path(), fieldSelector=f"metadata.name={REBOOT_LEASE_NAME}")
    held = {i["metadata"]["namespace"] for i in listed["items"]}
    return [h for h in hosts if names.host_namespace(h) in held]


def fleet(
    controlplane: ControlPlane, tmp_path: Path, count: int, never: set[int]
) -> tuple[Simulator, Lab, str]:
    app = f"rb{secrets.token_hex(3)}"
    machines: dict[str, Machine] = {}

    def machine(name: str) -> Machine:
        return machines.setdefault(name, Machine())

    def providers(name: str) -> Mapping[str, Provider[Any]]:
        return {**posix_providers(str(tmp_path / name / "cache")), "File": NeedsReboot()}

    sim = Simulator(
        KubeConfig.from_file(controlplane.kubeconfig),
        count=count,
        workdir=tmp_path,
        prefix=app,
        labels={"app": app},
        provision=False,
        approve=False,
        options=AgentOptions(drift_monitor=False, audit=False, renew_interval_seconds=1.0),
        rebooter_for=machine,
        providers_for=providers,
    )
    lab = Lab(sim, machines, {f"{app}-{i}" for i in never})
    return sim, lab, app


async def test_ten_hosts_never_more_than_two_rebooting_and_all_converge(
    controller: Controller, kube: Kube, controlplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    sim, lab, app = fleet(controlplane, tmp_path, 10, never=set())
    async with sim:
        power = asyncio.create_task(lab.power_loop())
        await kube.create(
            CONFIGURATIONS.path(namespace),
            configuration(namespace, app, tmp_path, {"maxRebooting": 2, "deadline": "120s"}),
        )
        most_leases = most_down = 0
        started = time.monotonic()
        try:
            while True:
                held = await reboot_leases(kube, sim.names)
                most_leases = max(most_leases, len(held))
                most_down = max(most_down, len(lab.down))
                assert len(held) <= 2, held
                assert len(lab.down) <= 2, lab.down
                conf = await kube.get(CONFIGURATIONS.path(namespace, "drivers"))
                if (
                    kstatus.compute(conf).status is kstatus.Status.CURRENT
                    and conf["status"].get("ready") == 10
                ):
                    break
                assert time.monotonic() - started < 240, conf.get("status")
                await asyncio.sleep(0.1)
        finally:
            power.cancel()
        assert lab.reboots == 10
        assert most_leases == 2  # the budget was used, not just respected
        assert await reboot_leases(kube, sim.names) == []  # every host released its lease
        for h in sim.names:
            assert (tmp_path / h / "driver.sys").read_text() == "v2\n"

        # A host may not take a reboot lease itself, nor touch another host's (403).
        first, second = sim.hosts[0], sim.hosts[1]
        own = names.host_namespace(first.name)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": REBOOT_LEASE_NAME, "namespace": own},
            "spec": {"holderIdentity": first.name},
        }
        with pytest.raises(ApiError) as info:
            await first.kube.create(LEASES.path(own), body)
        assert info.value.status == 403
        other = names.host_namespace(second.name)
        with pytest.raises(ApiError) as info:
            await first.kube.delete(LEASES.path(other, REBOOT_LEASE_NAME))
        assert info.value.status == 403
    for host in sim.names:
        await kube.delete(HOSTS.path(name=host))


async def test_a_host_that_never_comes_back_keeps_its_lease_and_halts_the_rollout(
    controller: Controller, kube: Kube, controlplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    sim, lab, app = fleet(controlplane, tmp_path, 3, never={0, 1, 2})
    async with sim:
        power = asyncio.create_task(lab.power_loop())
        await kube.create(
            CONFIGURATIONS.path(namespace),
            configuration(namespace, app, tmp_path, {"maxRebooting": 1, "deadline": "4s"}),
        )
        try:

            async def halted() -> dict[str, Any] | None:
                conf = await kube.get(CONFIGURATIONS.path(namespace, "drivers"))
                return conf if kstatus.compute(conf).status is kstatus.Status.FAILED else None

            conf = await eventually(halted, timeout=90, interval=0.2)
        finally:
            power.cancel()
        stalled = next(x for x in conf["status"]["conditions"] if x["type"] == "Stalled")
        assert stalled["reason"] == c.REBOOT_DEADLINE_EXCEEDED
        gone = await reboot_leases(kube, sim.names)
        assert len(gone) == 1 and gone[0] in stalled["message"]  # it keeps its lease
        assert conf["status"]["failingHosts"][0]["host"] == gone[0]
        assert conf["status"]["failingHosts"][0]["reason"] == c.REBOOT_DEADLINE_EXCEEDED
        await asyncio.sleep(1.0)
        # Nobody else was allowed to reboot meanwhile.
        assert lab.reboots == 1
        assert await reboot_leases(kube, sim.names) == gone
    for host in sim.names:
        await kube.delete(HOSTS.path(name=host))
