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
    log = (work / "controller.log").open("wb")
    proc = subprocess.Popen(
        controller_command(cp.kubeconfig),
        env=python_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    except BaseException:
        print((work / "controller.log").read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


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
