"""A real `transom controller run` beside a bench's control plane, and the namespace its
simulated hosts enroll from, ready once the controller has installed the bootstrapper RBAC."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.workload import python_env
from transom.api import rbac
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import controller_command
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CLUSTER_ROLE_BINDINGS, NAMESPACES


@contextmanager
def controller(cp: ControlPlane, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The controller as its own process (so /proc measures it apart), logging to
    WORK/controller.log, whose tail is printed when the bench fails."""
    with controllers(cp, work, shards=1) as procs:
        yield procs[0]


#: Where sharded controllers keep their leader Leases (one per shard).
LEASE_NAMESPACE = "default"


@contextmanager
def controllers(
    cp: ControlPlane, work: Path, shards: int = 1
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """SHARDS controller processes: one plain controller, or one leader-elected controller per
    shard (`--shards N --shard-key K`), shard K talking to kube-apiserver K mod their number
    as replicas behind a load balancer would. Logs in WORK/controller[-K].log; the tails are
    printed when the bench fails."""
    logs = [
        work / ("controller.log" if shards == 1 else f"controller-{k}.log") for k in range(shards)
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for k, path in enumerate(logs):
            options = (
                []
                if shards == 1
                else [
                    "--leader-elect",
                    "--leader-elect-namespace",
                    LEASE_NAMESPACE,
                    "--shards",
                    str(shards),
                    "--shard-key",
                    str(k),
                ]
            )
            with path.open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        controller_command(cp.kubeconfigs[k % len(cp.kubeconfigs)], *options),
                        env=python_env(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        yield procs
    except BaseException:
        for path in logs:
            print(f"{path.name}: {path.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def prepare(cp: ControlPlane, namespace: str) -> None:
    """Create NAMESPACE and wait until the controller has installed the bootstrapper RBAC
    (it does so as it starts), so hosts can enroll."""

    async def main() -> None:
        async with Kube(KubeConfig.from_file(cp.kubeconfig)) as kube:
            await kube.apply(
                NAMESPACES.path(name=namespace),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            )
            binding = CLUSTER_ROLE_BINDINGS.path(name=rbac.BOOTSTRAPPER_ROLE_NAME)
            while await kube.get_or_none(binding) is None:
                await asyncio.sleep(0.2)

    asyncio.run(main())
