"""`transom controller run` as a process: it installs what it needs and approves enrollments."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.integration.controller.conftest import eventually
from transom.api import rbac
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import controller_command
from transom.kube.client import Kube
from transom.kube.kinds import CLUSTER_ROLE_BINDINGS

pytestmark = pytest.mark.controlplane


async def test_controller_command_starts_installs_and_stops_cleanly(
    controlplane: ControlPlane, kube: Kube, tmp_path: Path
) -> None:
    await kube.delete(CLUSTER_ROLE_BINDINGS.path(name=rbac.BOOTSTRAPPER_ROLE_NAME))
    log = tmp_path / "controller.log"
    proc = subprocess.Popen(
        controller_command(controlplane.kubeconfig, "--events-addr", "http://127.0.0.1:9/"),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        async def running() -> bool:
            if proc.poll() is not None:
                raise AssertionError(log.read_text()[-2000:])
            path = CLUSTER_ROLE_BINDINGS.path(name=rbac.BOOTSTRAPPER_ROLE_NAME)
            return await kube.get_or_none(path) is not None and "caches synced" in log.read_text()

        await eventually(running, timeout=30)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert log.read_text().rstrip().endswith("stopped")
