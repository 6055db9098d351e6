"""More than one kube-apiserver on the one etcd (the fleet benchmark's way past one process's
open files): each is its own process on its own port, a write through one is read and watched
through another, and stopping the control plane stops them all."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from transom.dev.controlplane import ControlPlane, ControlPlaneError
from transom.dev.processes import pid_alive
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import LEASES

pytestmark = pytest.mark.controlplane


async def _shared(cp: ControlPlane) -> None:
    first, second = (Kube(KubeConfig.from_file(p)) for p in cp.kubeconfigs)
    async with first, second:
        path = LEASES.path("default", "shared")
        created = await first.create(
            LEASES.path("default"),
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "shared"},
                "spec": {"holderIdentity": "one"},
            },
        )
        assert (await second.get(path))["spec"]["holderIdentity"] == "one"

        async def changed() -> str:
            async for event in second.watch(
                LEASES.path("default"),
                resource_version=created["metadata"]["resourceVersion"],
                field_selector="metadata.name=shared",
            ):
                if event["type"] == "MODIFIED":
                    return str(event["object"]["spec"]["holderIdentity"])
            return ""

        watching = asyncio.create_task(changed())
        await first.patch(path, {"spec": {"holderIdentity": "two"}})
        assert await asyncio.wait_for(watching, 30) == "two"


def test_two_apiservers_serve_one_store_and_stop_together() -> None:
    with ControlPlane(apiservers=2) as cp:
        assert cp.apiserver_names == ["kube-apiserver", "kube-apiserver-2"]
        assert len(set(cp.urls)) == 2 and cp.kubeconfigs[0] == cp.kubeconfig
        pids = [cp.pids()[name] for name in cp.apiserver_names]
        assert len(set(pids)) == 2 and all(cp.apiserver_ready(i) for i in range(2))
        asyncio.run(_shared(cp))
    assert not any(pid_alive(pid) for pid in pids)


def _made() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("transom-cp-*"))


def test_no_apiserver_is_refused_by_name_and_leaves_nothing_behind() -> None:
    before = _made()
    with pytest.raises(ControlPlaneError, match="apiservers must be at least 1, not 0"):
        ControlPlane(apiservers=0)
    assert _made() <= before


def test_a_negative_memory_limit_is_refused_by_name_and_leaves_nothing_behind() -> None:
    before = _made()
    with pytest.raises(ControlPlaneError, match="apiserver_memory_mib must be at least 0"):
        ControlPlane(apiserver_memory_mib=-1)
    assert _made() <= before


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_each_apiserver_gets_the_memory_limit_and_the_rest_do_not() -> None:
    with ControlPlane(apiservers=2, apiserver_memory_mib=700) as cp:
        pids = cp.pids()
        for name in cp.apiserver_names:
            assert _environ(pids[name]).get("GOMEMLIMIT") == "700MiB", name
        assert "GOMEMLIMIT" not in _environ(pids["etcd"])
        assert all(cp.apiserver_ready(i) for i in range(2))  # Go took the value
