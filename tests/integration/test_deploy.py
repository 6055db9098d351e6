"""The generated deployment manifests are current, valid, and enough for the controller."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.controller.conftest import Fleet, configuration, eventually
from transom.api import deployment, kstatus, names
from transom.api.names import CONTROLLER_LEADER_LEASE
from transom.controller.manager import Controller
from transom.dev import pki
from transom.dev.controlplane import ControlPlane
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import (
    CONFIGURATIONS,
    FLOW_SCHEMAS,
    HOSTS,
    LEASES,
    SERVICE_ACCOUNTS,
    path_of,
)
from transom.kube.leader import LeaderElector

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


def _manifests(repo_root: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((repo_root / "deploy/base/controller.yaml").read_text()))


async def test_two_replicas_a_disruption_budget_and_leader_election(
    controlplane: ControlPlane, kube: Kube, repo_root: Path
) -> None:
    """The Deployment runs two replicas electing a leader, a PDB keeps one up, and the
    service account may hold the leader Lease (and only in its namespace): two controllers
    as that account elect one leader; when it stops, the other takes over."""
    docs = _manifests(repo_root)
    for obj in docs:
        await kube.apply(path_of(obj), obj)
    deployment = next(o for o in docs if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    pdb = next(o for o in docs if o["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    stored = await kube.get(path_of(pdb))
    assert stored["spec"]["minAvailable"] == 1

    sa = next(o for o in docs if o["kind"] == "ServiceAccount")["metadata"]
    token = await _token(kube, sa["namespace"], sa["name"])
    cfg = KubeConfig(server=controlplane.url, ca_pem=controlplane.ca.cert.read_bytes(), token=token)
    async with Kube(cfg) as first, Kube(cfg) as second:
        a = LeaderElector(first, sa["namespace"], CONTROLLER_LEADER_LEASE, identity="a")
        b = LeaderElector(second, sa["namespace"], CONTROLLER_LEADER_LEASE, identity="b")
        await a.acquire()
        assert a.leading()
        assert not await b._try()
        holding = asyncio.create_task(a.hold())
        await asyncio.sleep(0.1)
        holding.cancel()  # a clean stop releases the Lease
        await asyncio.gather(holding, return_exceptions=True)
        await asyncio.wait_for(b.acquire(), timeout=10)
        assert b.leading()
        lease = await kube.get(LEASES.path(sa["namespace"], CONTROLLER_LEADER_LEASE))
        assert lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] >= 1
        # Elsewhere the account may not take a Lease over (it may create some: reboot leases).
        await kube.apply(
            LEASES.path("default", "transom-controller"),
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "transom-controller", "namespace": "default"},
                "spec": {"holderIdentity": ""},
            },
        )
        other = LeaderElector(first, "default", "transom-controller", identity="c")
        with pytest.raises(ApiError) as refused:
            await other._try()
        assert refused.value.status == 403


async def test_flow_schemas_are_accepted_and_classify_the_controller_and_hosts(
    controlplane: ControlPlane, kube: Kube, repo_root: Path
) -> None:
    """The APF objects in deploy/ are accepted by flowcontrol.apiserver.k8s.io/v1, none is
    dangling, and the apiserver puts the controller's and the hosts' requests in them (it
    names the FlowSchema it chose in every response's X-Kubernetes-PF-FlowSchema-UID)."""
    docs = _manifests(repo_root)
    for obj in docs:
        await kube.apply(path_of(obj), obj)
    schemas = {
        o["metadata"]["name"]: await kube.get(path_of(o)) for o in docs if o["kind"] == "FlowSchema"
    }
    uid = {name: str(fs["metadata"]["uid"]) for name, fs in schemas.items()}
    levels = [o for o in docs if o["kind"] == "PriorityLevelConfiguration"]
    assert set(schemas) == {
        "transom-controller",
        "transom-controller-leader-election",
        "transom-hosts",
    }
    for level in levels:
        stored = await kube.get(path_of(level))
        assert stored["spec"]["type"] == "Limited"

    async def not_dangling() -> bool:
        for name in schemas:
            fs = await kube.get(FLOW_SCHEMAS.path(name=name))
            conds = {c["type"]: c["status"] for c in fs.get("status", {}).get("conditions", [])}
            if conds.get("Dangling") != "False":
                return False
        return True

    await eventually(not_dangling, timeout=30)

    sa = next(o for o in docs if o["kind"] == "ServiceAccount")["metadata"]
    token = await _token(kube, sa["namespace"], sa["name"])

    def flow_schema_of(path: str, headers: dict[str, str], ctx: ssl.SSLContext) -> str:
        request = urllib.request.Request(f"{controlplane.url}{path}", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, context=ctx, timeout=10) as r:  # noqa: S310
                return str(r.headers.get("X-Kubernetes-PF-FlowSchema-UID", ""))
        except urllib.error.HTTPError as e:  # a 403 or 404 is classified too
            return str(e.headers.get("X-Kubernetes-PF-FlowSchema-UID", ""))

    ctx = ssl.create_default_context(cafile=str(controlplane.ca.cert))
    auth = {"Authorization": f"Bearer {token}"}
    lease = LEASES.path(sa["namespace"], CONTROLLER_LEADER_LEASE)

    async def classified() -> bool:
        got_lease = await asyncio.to_thread(flow_schema_of, lease, auth, ctx)
        got_other = await asyncio.to_thread(flow_schema_of, HOSTS.path(), auth, ctx)
        return bool(
            got_lease == uid["transom-controller-leader-election"]
            and got_other == uid["transom-controller"]
        )

    await eventually(classified, timeout=30)

    # A host: a client certificate in the transom:hosts group.
    pair = pki.issue(
        controlplane.ca,
        controlplane.pki_dir,
        "fs-host",
        names.host_user("fs-host"),
        organizations=(names.HOSTS_GROUP,),
    )
    host_ctx = ssl.create_default_context(cafile=str(controlplane.ca.cert))
    host_ctx.load_cert_chain(str(pair.cert), str(pair.key))
    host_path = LEASES.path(names.host_namespace("fs-host"), names.LEASE_NAME)

    async def host_classified() -> bool:
        got = await asyncio.to_thread(flow_schema_of, host_path, {}, host_ctx)
        return bool(got == uid["transom-hosts"])

    await eventually(host_classified, timeout=30)


async def _token(kube: Kube, namespace: str, name: str) -> str:
    token = await kube.create(
        SERVICE_ACCOUNTS.path(namespace, name, "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    return str(token["status"]["token"])
