"""The hub holds a witness: checkpoints published in Host status let `transom audit verify
--host` catch a log rewritten on the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import Fleet
from tests.e2e.test_fleet import web_farm
from tests.integration.controller.conftest import eventually
from transom.api import kstatus
from transom.kube.client import Kube
from transom.kube.kinds import CONFIGURATIONS, HOSTS

pytestmark = pytest.mark.controlplane


def verify(fleet: Fleet, host: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(fleet.cp.kubeconfig)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "transom.cli.main",
            "audit",
            "verify",
            "--output",
            "json",
            "--log",
            str(fleet.root / "state" / host / "audit"),
            "--host",
            host,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_published_checkpoint_catches_a_rewritten_log(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    await fleet.enroll(1)
    host = fleet.hosts[0]
    fleet.start(host)
    await kube.create(CONFIGURATIONS.path(namespace), web_farm(fleet, namespace))

    async def current() -> bool:
        c = await kube.get(CONFIGURATIONS.path(namespace, "web-farm"))
        return kstatus.compute(c).status is kstatus.Status.CURRENT

    await eventually(current, timeout=60)

    async def published() -> dict[str, Any] | None:
        h = await kube.get(HOSTS.path(name=host))
        return (h.get("status") or {}).get("auditCheckpoint")

    checkpoint = await eventually(published, timeout=90, interval=0.5)
    await fleet.stop(host)

    ok = verify(fleet, host)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # Rewrite history on the host: change the resource named in the first record.
    segment = sorted((fleet.root / "state" / host / "audit").glob("*.jsonl"))[0]
    lines = segment.read_text().splitlines()
    record = json.loads(lines[0])
    record["resource"] = "something-else"
    lines[0] = json.dumps(record, separators=(",", ":"), sort_keys=True)
    segment.write_text("\n".join(lines) + "\n")
    bad = verify(fleet, host)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    first = report["findings"][0]
    assert first["kind"] == "altered" and first["sequence"] == record["seq"], first
    assert checkpoint["sequence"] >= record["seq"]
