"""`make demo`: a local control plane, Transom's CRDs, and an example Configuration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import yaml

from transom.dev import background
from transom.dev.controlplane import REPO_ROOT, binaries
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.install import install_crds
from transom.kube.kinds import CONFIGURATIONS

EXAMPLE = REPO_ROOT / "examples" / "cluster" / "web-farm.yaml"


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


async def _apply(kubeconfig: Path) -> None:
    async with Kube(KubeConfig.from_file(kubeconfig), field_manager="transom-demo") as kube:
        step("installing CRDs")
        for name in await install_crds(kube):
            print(f"    {name}", file=sys.stderr)
        doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        meta = doc["metadata"]
        step(f"applying {EXAMPLE.relative_to(REPO_ROOT)}")
        await kube.apply(CONFIGURATIONS.path(meta["namespace"], meta["name"]), doc)


def main() -> int:
    step("starting the local control plane (the first run builds it: about 10 minutes)")
    kubeconfig = background.up(background.default_dir())
    asyncio.run(_apply(kubeconfig))
    kubectl = str(binaries() / "kubectl")
    step("kubectl get configurations -A")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    subprocess.run([kubectl, "get", "configurations", "-A"], check=True, env=env)
    print(
        f"\nThe control plane keeps running. Use it with:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  {kubectl} explain configuration.spec.resources.file\n"
        f"Stop it with: .venv/bin/transom dev controlplane down",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
