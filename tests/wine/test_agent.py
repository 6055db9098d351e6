"""The agent process itself on Windows CPython (under Wine): it enrolls against the real
control plane on loopback, converges an Assignment through the real facade (registry values
in both views, a directory, a file, a machine environment variable), reports
status and its audit checkpoint, then corrects drift that the real notifiers
(RegNotifyChangeKeyValue, ReadDirectoryChangesW) report. Left out, because Wine
lacks them, so only a real Windows runner covers them (docs/windows-testing.md): service
configuration (QueryServiceConfig2(SERVICE_CONFIG_DELAYED_AUTO_START_INFO) fails with error
124) and file ACLs (Wine keeps no DACL: it derives one from the Unix mode)."""

from __future__ import annotations

import json
import secrets
import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import report
from tests.integration.agent.conftest import StandIn, eventually, host_name
from transom.api import kstatus, names
from transom.api.host import AuditCheckpoint
from transom.dev.controlplane import ControlPlane
from transom.engine.audit import Checkpoint, read_records, verify
from transom.kube.kinds import HOSTS

from .conftest import WindowsHost, windows_path

pytestmark = [pytest.mark.controlplane, pytest.mark.wine]

STATE = "C:\\ProgramData\\TransomLane"
ROOT = "C:\\TransomLane"
SIDE = windows_path(Path(__file__).with_name("windows_side.py"))


async def _current(standin: StandIn, host: str, generation: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        obj = await standin.assignment(host)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != generation:
            return None
        return obj if kstatus.compute(obj).status is not kstatus.Status.IN_PROGRESS else None

    return await eventually(check, timeout=120)


@pytest.mark.timeout(900)
async def test_agent_on_windows_converges_reports_and_corrects_drift(
    windows: WindowsHost,
    standin: StandIn,
    controlplane: ControlPlane,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    host = host_name("win")
    token = await standin.token(host)
    await standin.provision(host, {"os": "windows"})
    enrolled = await windows.python(
        "-m",
        "transom.cli.main",
        "agent",
        "enroll",
        f"--server={controlplane.url}",
        f"--name={host}",
        f"--ca-file={windows_path(controlplane.ca.cert)}",
        f"--state-dir={STATE}",
        "--timeout=120",
        TRANSOM_ENROLL_TOKEN=token,
    )
    assert f"enrolled {host}" in enrolled, enrolled
    assert token.split(".")[1] not in enrolled

    key = f"SOFTWARE\\TransomLane\\{host}"
    env = f"TRANSOM_LANE_{secrets.token_hex(3).upper()}"
    site = f"{ROOT}\\site"
    config = f"{site}\\web.config"
    content = "<configuration />\r\n"
    policy = windows.linux_path(f"{ROOT}\\policy.yaml")
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(f"pathRoots: ['{ROOT}']\nregistryRoots: ['HKLM\\SOFTWARE\\TransomLane']\n")
    log = tmp_path / "agent.log"
    agent = await windows.start(
        "-m",
        "transom.cli.main",
        "agent",
        "run",
        f"--state-dir={STATE}",
        f"--policy={ROOT}\\policy.yaml",
        "--renew-interval=2",
        log=log,
    )
    try:
        revision = "main@sha1:" + "b" * 40
        await standin.assign(
            host,
            [
                {
                    "name": "enabled",
                    "registryValue": {
                        "key": key,
                        "valueName": "Enabled",
                        "type": "REG_DWORD",
                        "number": 1,
                    },
                },
                {
                    "name": "mode32",
                    "registryValue": {
                        "key": key,
                        "valueName": "Mode",
                        "view": "32",
                        "data": "lane",
                    },
                },
                {"name": "site", "directory": {"path": site}},
                {
                    "name": "config",
                    "dependsOn": ["site"],
                    "file": {
                        "path": config,
                        "content": content,
                    },
                },
                {"name": "env", "environmentVariable": {"name": env, "value": "on"}},
            ],
            revision=revision,
        )
        obj = await _current(standin, host, 1)
        results = {r["name"]: r for r in obj["status"]["results"]}
        assert set(results) == {"enabled", "mode32", "site", "config", "env"}
        assert all(r["inDesiredState"] for r in results.values()), results
        assert kstatus.compute(obj).status is kstatus.Status.CURRENT, obj["status"]

        # What Windows itself now says, read through the APIs, not through Transom.
        seen = json.loads(await windows.python(SIDE, "state", key, config, env))
        assert seen["enabled64"] == 1
        assert seen["mode32"] == "lane" and seen["mode64"] is None  # the 32-bit view only
        assert seen["content"] == content
        assert seen["env"] == "on"

        # Every change is in the audit chain the Windows agent wrote, and its checkpoint
        # reached the Host status: verified here, on Linux, from the Windows machine's disk.
        audit = windows.linux_path(f"{STATE}\\audit")
        records = [r for r in read_records(audit) if r.configuration == "default/web"]
        assert {r.resource for r in records} >= set(results)
        assert all(r.revision == revision and r.identity == names.host_user(host) for r in records)

        async def published() -> dict[str, Any] | None:
            got = await standin.kube.get(HOSTS.path(name=host))
            checkpoint = (got.get("status") or {}).get("auditCheckpoint")
            return checkpoint if checkpoint and checkpoint["sequence"] >= len(records) else None

        checkpoint = await eventually(published, timeout=60)
        verified = verify(
            audit,
            [Checkpoint.from_api(AuditCheckpoint.model_validate(checkpoint))],
            windows.linux_path(f"{STATE}\\audit.key.pub").read_text(),
        )
        assert verified.ok, verified

        # Drift: out-of-band changes, undone by the agent on the notifiers' word.
        rounds = 5
        timed = json.loads(
            await windows.python(SIDE, "drift", key, config, content, str(rounds), timeout=600)
        )
        for kind, seconds in timed.items():
            assert len(seconds) == rounds and all(s >= 0 for s in seconds), timed
            report(
                request,
                f"[wine] drift corrected, {kind}: median {statistics.median(seconds) * 1000:.0f}"
                f" ms, max {max(seconds) * 1000:.0f} ms over {rounds} rounds",
            )

        async def corrected_event() -> bool:
            return any(e["reason"] == "DriftCorrected" for e in await standin.events(host))

        await eventually(corrected_event, timeout=30)
    finally:
        await WindowsHost.stop(agent)
        report(request, f"[wine] agent log: {log.read_text(errors='replace')[-3000:]}")
