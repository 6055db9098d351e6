"""The real agent with the real controller: enrollment approved by the controller, one
Configuration converged by three agents, and Current only once all three applied it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from transom.agent.simulator import Simulator
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, HOSTS, NAMESPACES

from .conftest import Agents, eventually

pytestmark = pytest.mark.controlplane


async def test_three_agents_converge_one_configuration(
    controller: Controller, kube: Kube, controlplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    app = f"app{secrets.token_hex(3)}"
    hosts = [f"{app}-{i}" for i in range(3)]
    token = await create_token(kube, hosts, labels={"app": app})
    identities = []
    agents = Agents(None, controlplane, tmp_path)  # the controller approves, no stand-in
    try:
        for host in hosts:
            identities.append(await agents.enroll(host, token=token.value))
        shared = tmp_path / "shared"
        shared.mkdir()
        for identity in identities:
            await agents.start(identity, root=shared)

        await kube.create(
            CONFIGURATIONS.path(namespace),
            {
                "apiVersion": API_VERSION,
                "kind": "Configuration",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {
                    "hostSelector": {"matchLabels": {"app": app}},
                    "resources": [
                        {"name": "motd", "file": {"path": str(shared / "motd"), "content": "hi\n"}}
                    ],
                    "rollout": {"maxUnavailable": "100%"},
                },
            },
        )
        seen: list[kstatus.Status] = []

        async def current() -> bool:
            obj = await kube.get(CONFIGURATIONS.path(namespace, "web"))
            result = kstatus.compute(obj)
            seen.append(result.status)
            return result.status is kstatus.Status.CURRENT and obj["status"].get("ready") == 3

        await eventually(current, timeout=60, interval=0.2)
        assert kstatus.Status.IN_PROGRESS in seen
        assert (shared / "motd").read_text() == "hi\n"
        for host in hosts:
            h = await kube.get(HOSTS.path(name=host))
            assert h["status"]["identity"] == names.host_user(host)
    finally:
        await agents.stop_all()
        for host in hosts:
            await kube.delete(HOSTS.path(name=host))
            await kube.delete(NAMESPACES.path(name=names.host_namespace(host)))


async def test_simulator_with_the_controller(
    controller: Controller, kube: Kube, controlplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """How controller and e2e tests start N agents: the controller approves and provisions."""
    app = f"sim{secrets.token_hex(3)}"
    sim = Simulator(
        KubeConfig.from_file(controlplane.kubeconfig),
        count=5,
        workdir=tmp_path,
        prefix=app,
        labels={"app": app},
        provision=False,
        approve=False,
    )
    async with sim:
        await kube.create(
            CONFIGURATIONS.path(namespace),
            {
                "apiVersion": API_VERSION,
                "kind": "Configuration",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {
                    "hostSelector": {"matchLabels": {"app": app}},
                    "resources": [
                        {
                            "name": "motd",
                            "file": {"path": str(tmp_path / "motd"), "content": "hi\n"},
                        }
                    ],
                    "rollout": {"maxUnavailable": 2},
                },
            },
        )

        async def current() -> bool:
            obj = await kube.get(CONFIGURATIONS.path(namespace, "web"))
            return bool(
                kstatus.compute(obj).status is kstatus.Status.CURRENT
                and obj["status"].get("ready") == 5
            )

        try:
            await eventually(current, timeout=60, interval=0.2)
        except AssertionError:
            obj = await kube.get(CONFIGURATIONS.path(namespace, "web"))
            raise AssertionError(repr(obj.get("status"))) from None
    for host in sim.names:
        await kube.delete(HOSTS.path(name=host))
