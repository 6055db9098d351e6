"""The generated deployment manifests are current, valid, and enough for the controller."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tests.integration.controller.conftest import Fleet, configuration, eventually
from transom.api import deployment, kstatus
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, SERVICE_ACCOUNTS, path_of

pytestmark = pytest.mark.controlplane


def test_generated_manifests_are_up_to_date(repo_root: Path) -> None:
    for rel, text in deployment.rendered().items():
        path = repo_root / "deploy" / rel
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"deploy/{rel} is stale: run `make crds`"
        )


async def test_controller_works_with_only_its_generated_cluster_role(
    controlplane: ControlPlane, kube: Kube, namespace: str, repo_root: Path
) -> None:
    docs = list(yaml.safe_load_all((repo_root / "deploy/base/controller.yaml").read_text()))
    for obj in docs:
        await kube.apply(path_of(obj), obj)
    sa = next(o for o in docs if o["kind"] == "ServiceAccount")["metadata"]
    token = await kube.create(
        SERVICE_ACCOUNTS.path(sa["namespace"], sa["name"], "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    cfg = KubeConfig(
        server=controlplane.url,
        ca_pem=controlplane.ca.cert.read_bytes(),
        token=token["status"]["token"],
    )
    async with Kube(cfg, field_manager="transom-controller") as as_sa:
        ctl = Controller(as_sa, liveness_interval=0.2)
        task = asyncio.create_task(ctl.run())
        fleet = Fleet(kube, "dep")
        try:
            host = await fleet.add(0, {"role": "deploy-test"})
            key = (namespace, "web")
            await kube.create(
                CONFIGURATIONS.path(namespace),
                configuration("web", namespace, {"role": "deploy-test"}),
            )
            await eventually(lambda: fleet.assignment(host, key))
            await fleet.report(host, key, ok=True)

            async def current() -> bool:
                conf = await kube.get(CONFIGURATIONS.path(namespace, "web"))
                return kstatus.compute(conf).status is kstatus.Status.CURRENT

            await eventually(current)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await fleet.cleanup()
