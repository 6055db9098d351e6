"""Install Transom's CRDs into a cluster and wait until they are served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from transom.api.crds import KINDS, crd
from transom.kube.client import Kube, Obj
from transom.kube.config import KubeConfig
from transom.kube.kinds import CRDS


async def install_crds(kube: Kube, timeout: float = 60.0) -> list[str]:
    return await apply_crds(kube, [crd(kind) for kind in KINDS], timeout)


async def apply_crds(kube: Kube, bodies: Iterable[Obj], timeout: float = 60.0) -> list[str]:
    """Server-side apply CRD manifests (Transom's or another project's, such as Flux's) and
    wait until each is Established; returns their names."""
    names = []
    for body in bodies:
        name = body["metadata"]["name"]
        await kube.apply(CRDS.path(name=name), body)
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            obj = await kube.get(CRDS.path(name=name))
            conditions = {
                c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []
            }
            if conditions.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established: {conditions}")
            await asyncio.sleep(0.1)
    return names


def install_crds_sync(kubeconfig: Path) -> list[str]:
    async def run() -> list[str]:
        async with Kube(KubeConfig.from_file(kubeconfig)) as kube:
            return await install_crds(kube)

    return asyncio.run(run())
