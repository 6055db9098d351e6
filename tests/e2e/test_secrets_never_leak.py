"""A secret-bearing File goes through apply, drift and failure on real agents; then every
log line, Event, status and audit record produced is scanned: the secret appears nowhere."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet
from tests.integration.controller.conftest import eventually
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, EVENTS, HOSTS, SECRETS, Kind

pytestmark = pytest.mark.controlplane

SECRET = "tls-private-key-6c1f7e0a-NEVER-PRINT-ME"
CORE_EVENTS = Kind("", "v1", "events")


def leaks(text: str) -> bool:
    encoded = base64.b64encode(SECRET.encode()).decode()
    return SECRET in text or encoded in text or SECRET.encode().hex() in text


async def test_secret_appears_in_no_log_event_status_or_audit_record(
    kube: Kube, namespace: str, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await kube.create(
        SECRETS.path(namespace),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-tls"},
            "data": {
                "tls.key": base64.b64encode(SECRET.encode()).decode(),
                "unrelated": base64.b64encode(b"not for hosts").decode(),
            },
        },
    )
    await fleet.enroll(2)
    for h in fleet.hosts:
        fleet.start(h)
    base = str(fleet.root / "hosts" / "$(host.name)")
    ref = {"secretKeyRef": {"name": "web-tls", "key": "tls.key"}}
    conf = {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "tls", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"role": fleet.role}},
            "rollout": {"maxUnavailable": "100%", "maxFailures": "100%"},
            "resources": [
                {"name": "dir", "directory": {"path": base}},
                {
                    "name": "key",
                    "dependsOn": ["dir"],
                    "file": {"path": f"{base}/tls.key", "contentFrom": ref, "mode": "0600"},
                },
            ],
        },
    }
    await kube.create(CONFIGURATIONS.path(namespace), conf)

    async def current(generation: int) -> bool:
        c = await kube.get(CONFIGURATIONS.path(namespace, "tls"))
        return (
            kstatus.compute(c).status is kstatus.Status.CURRENT
            and c["status"]["observedGeneration"] == generation
        )

    await eventually(lambda: current(1), timeout=60)
    conf_now = await kube.get(CONFIGURATIONS.path(namespace, "tls"))
    assert conf_now["status"]["summary"] == "2/2", conf_now["status"]
    key_file = fleet.path(fleet.hosts[0], "tls.key")
    assert key_file.read_text() == SECRET
    # Copied into the host's namespace: only the referenced key, owned by the Assignment.
    host_ns = names.host_namespace(fleet.hosts[0])
    copy = await kube.get(SECRETS.path(host_ns, names.copied_secret_name(namespace, "web-tls")))
    assert set(copy["data"]) == {"tls.key"}
    assert copy["metadata"]["ownerReferences"][0]["kind"] == "Assignment"

    # Drift: overwrite the key by hand; the agent puts the secret back.
    key_file.write_text("tampered")

    async def restored() -> bool:
        return key_file.read_text() == SECRET

    await eventually(restored, timeout=15)

    # Failure: a second copy of the secret to a path that cannot be written on one host.
    fleet.path(fleet.hosts[1], "blocked").write_text("a file, not a directory")
    updated = await kube.get(CONFIGURATIONS.path(namespace, "tls"))
    updated["spec"]["resources"] += [
        {"name": "blocked", "dependsOn": ["dir"], "directory": {"path": f"{base}/blocked"}},
        {
            "name": "copy",
            "dependsOn": ["blocked"],
            "file": {"path": f"{base}/blocked/tls.key", "contentFrom": ref},
        },
    ]
    await kube.replace(CONFIGURATIONS.path(namespace, "tls"), updated)

    async def one_failed() -> bool:
        c = await kube.get(CONFIGURATIONS.path(namespace, "tls"))
        return bool(c["status"].get("failed") == 1 and c["status"]["observedGeneration"] == 2)

    await eventually(one_failed, timeout=60)

    # Scan everything that was produced.
    scanned: dict[str, str] = {}
    for kind in (EVENTS, CORE_EVENTS):
        scanned[f"events {kind.group or 'core'}"] = json.dumps(await kube.list(kind.path()))
    for kind in (ASSIGNMENTS, CONFIGURATIONS, HOSTS):
        scanned[kind.plural] = json.dumps(await kube.list(kind.path()))
    scanned["logs"] = caplog.text
    state: Path = fleet.root / "state"
    for path in state.rglob("*"):
        if path.is_file():
            scanned[str(path)] = path.read_bytes().decode("utf-8", "replace")
    audit_files = [p for p in scanned if "/audit/" in p]
    assert audit_files, "no audit records were written"
    assert len(scanned["logs"]) > 1000, "logs were not captured"
    leaked = [name for name, text in scanned.items() if leaks(text)]
    assert leaked == []
