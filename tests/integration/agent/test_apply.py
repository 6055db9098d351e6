"""The agent applies Assignments with the posix engine and writes truthful status."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from transom.api import kstatus, names
from transom.api.host import HOST_LEASE_DURATION_SECONDS, AuditCheckpoint
from transom.engine.audit import Checkpoint, read_records, verify
from transom.kube.kinds import HOSTS, LEASES, SECRETS

from .conftest import Agents, RunningAgent, StandIn, condition, eventually, file_resource, host_name

pytestmark = pytest.mark.controlplane


async def _started(agents: Agents, prefix: str) -> RunningAgent:
    identity = await agents.enroll(host_name(prefix))
    return await agents.start(identity)


async def _current(standin: StandIn, host: str, generation: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        obj = await standin.assignment(host)
        status = obj.get("status") or {}
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        if obj["metadata"]["generation"] != generation:
            return None
        return obj if kstatus.compute(obj).status is not kstatus.Status.IN_PROGRESS else None

    return await eventually(check, timeout=30)


async def test_apply_writes_truthful_status(agents: Agents, standin: StandIn) -> None:
    a = await _started(agents, "app")
    target = a.root / "site" / "index.html"
    revision = "main@sha1:" + "1" * 40
    await standin.assign(
        a.host,
        [
            {"name": "site", "directory": {"path": str(a.root / "site")}},
            {**file_resource("index", target, "hello\n"), "dependsOn": ["site"]},
        ],
        revision=revision,
    )
    obj = await _current(standin, a.host, 1)
    assert kstatus.compute(obj).status is kstatus.Status.CURRENT
    assert target.read_text() == "hello\n"
    status = obj["status"]
    assert status["appliedRevision"] == revision
    assert status["lastApplyTime"]
    assert [(r["name"], r["inDesiredState"], r["changed"]) for r in status["results"]] == [
        ("site", True, True),
        ("index", True, True),
    ]
    ready = condition(obj, "Ready")
    assert ready is not None and ready["reason"] == "Succeeded"
    assert condition(obj, "Reconciling") is None and condition(obj, "Stalled") is None

    # The Lease and the Host status; a success is told by the status alone (the controller
    # records one Event for the whole rollout), a failure below gets an Event.
    lease = await standin.kube.get(LEASES.path(names.host_namespace(a.host), names.LEASE_NAME))
    assert lease["spec"]["holderIdentity"] == a.host
    assert lease["spec"]["leaseDurationSeconds"] == HOST_LEASE_DURATION_SECONDS
    host = await standin.kube.get(HOSTS.path(name=a.host))
    assert host["status"]["identity"] == names.host_user(a.host)
    assert host["status"]["namespace"] == names.host_namespace(a.host)
    assert host["status"]["agentVersion"] and host["status"]["osName"]
    assert await standin.event(a.host, "Succeeded") is None

    # A new generation: only what differs changes.
    await standin.assign(
        a.host,
        [
            {"name": "site", "directory": {"path": str(a.root / "site")}},
            {**file_resource("index", target, "hello v2\n"), "dependsOn": ["site"]},
        ],
        generation=2,
    )
    obj = await _current(standin, a.host, 2)
    assert target.read_text() == "hello v2\n"
    assert [(r["name"], r["changed"]) for r in obj["status"]["results"]] == [
        ("site", False),
        ("index", True),
    ]


async def test_failing_resource_stalls_with_resource_and_message(
    agents: Agents, standin: StandIn
) -> None:
    a = await _started(agents, "fail")
    blocker = a.root / "blocker"
    blocker.write_text("a file where a directory must be")
    await standin.assign(
        a.host,
        [
            file_resource("ok", a.root / "ok.txt", "fine"),
            file_resource("broken", blocker / "child.txt", "x"),
            {**file_resource("after", a.root / "after.txt", "y"), "dependsOn": ["broken"]},
        ],
    )
    obj = await _current(standin, a.host, 1)
    assert kstatus.compute(obj).status is kstatus.Status.FAILED
    stalled, ready = condition(obj, "Stalled"), condition(obj, "Ready")
    assert stalled is not None and stalled["reason"] == "ApplyFailed"
    assert ready is not None and ready["status"] == "False"
    assert "broken" in stalled["message"] and "File" in stalled["message"]
    results = {r["name"]: r for r in obj["status"]["results"]}
    assert results["ok"]["inDesiredState"] and not results["broken"]["inDesiredState"]
    assert results["broken"]["message"]
    assert results["after"]["skipped"]
    assert not (a.root / "after.txt").exists()
    event = await eventually(lambda: standin.event(a.host, "ApplyFailed"))
    assert event["type"] == "Warning" and "broken" in event["note"]

    # Fixing the spec recovers.
    await standin.assign(
        a.host,
        [
            file_resource("ok", a.root / "ok.txt", "fine"),
            file_resource("broken", a.root / "child.txt", "x"),
            {**file_resource("after", a.root / "after.txt", "y"), "dependsOn": ["broken"]},
        ],
        generation=2,
    )
    obj = await _current(standin, a.host, 2)
    assert kstatus.compute(obj).status is kstatus.Status.CURRENT
    assert condition(obj, "Stalled") is None


async def test_invalid_spec_touches_nothing(agents: Agents, standin: StandIn) -> None:
    a = await _started(agents, "inv")
    await standin.assign(
        a.host,
        [
            file_resource("first", a.root / "first.txt", "x"),
            # Valid for the CRD, but not something a posix host can do.
            {
                "name": "reg",
                "registryValue": {"key": r"HKLM\SOFTWARE\Contoso", "valueName": "v", "data": "1"},
            },
        ],
    )
    obj = await _current(standin, a.host, 1)
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "InvalidSpec"
    assert "RegistryValue" in stalled["message"]
    assert kstatus.compute(obj).status is kstatus.Status.FAILED
    assert not (a.root / "first.txt").exists()


async def test_a_resource_list_only_the_agent_checks_is_refused_naming_the_field(
    agents: Agents, standin: StandIn
) -> None:
    # An Assignment's resources are stored as written (the apiserver checks the Configuration
    # people write, not the lists the controller derives), so the agent's own parse is what
    # stands between a hand-edited Assignment and the OS.
    a = await _started(agents, "raw")
    await standin.assign(
        a.host,
        [
            file_resource("first", a.root / "first.txt", "x"),
            {"name": "second", "file": {"path": str(a.root / "second.txt"), "mode": "rwx"}},
            {**file_resource("third", a.root / "third.txt", "z"), "dependsOn": ["nowhere"]},
        ],
    )
    obj = await _current(standin, a.host, 1)
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "InvalidSpec", stalled
    assert "resources[1]" in stalled["message"] and "mode" in stalled["message"], stalled
    assert kstatus.compute(obj).status is kstatus.Status.FAILED
    assert sorted(a.root.glob("*")) == []


async def test_secret_content_reaches_the_file_and_nothing_else(
    agents: Agents, standin: StandIn
) -> None:
    a = await _started(agents, "sec")
    ns = names.host_namespace(a.host)
    value = "s3cr3t-password-value"
    secret_name = names.copied_secret_name("default", "db")
    await standin.kube.create(
        SECRETS.path(ns),
        {
            "metadata": {"name": secret_name},
            "data": {"password": base64.b64encode(value.encode()).decode()},
        },
    )
    target = a.root / "db.conf"
    await standin.assign(
        a.host,
        [
            {
                "name": "db",
                "file": {
                    "path": str(target),
                    "contentFrom": {"secretKeyRef": {"name": secret_name, "key": "password"}},
                },
            },
            {
                "name": "missing",
                "file": {
                    "path": str(a.root / "other.conf"),
                    "contentFrom": {"secretKeyRef": {"name": "default.nope", "key": "k"}},
                },
            },
        ],
    )
    obj = await _current(standin, a.host, 1)
    assert target.read_text() == value
    results = {r["name"]: r for r in obj["status"]["results"]}
    assert results["db"]["inDesiredState"]
    assert results["missing"]["reason"] == "SecretNotFound"
    events = await standin.events(a.host)
    assert value not in repr(obj) and value not in repr(events)

    # A changed Secret is applied without a new generation.
    rotated = "rotated-password-value"
    await standin.kube.patch(
        SECRETS.path(ns, secret_name),
        {"data": {"password": base64.b64encode(rotated.encode()).decode()}},
    )

    async def updated() -> bool:
        return target.read_text() == rotated

    await eventually(updated, timeout=15)


async def test_drift_is_corrected_and_reported(agents: Agents, standin: StandIn) -> None:
    a = await _started(agents, "drift")
    target = a.root / "app.conf"
    await standin.assign(a.host, [file_resource("conf", target, "port=80\n")])
    await _current(standin, a.host, 1)

    target.write_text("port=8080\n")  # out-of-band change

    async def corrected() -> bool:
        return target.read_text() == "port=80\n"

    await eventually(corrected, timeout=10)

    async def reported() -> dict[str, Any] | None:
        obj = await standin.assignment(a.host)
        results = obj["status"]["results"]
        events = await standin.events(a.host)
        if results[0]["drifted"] and any(e["reason"] == "DriftCorrected" for e in events):
            return obj
        return None

    obj = await eventually(reported, timeout=10)
    assert obj["status"]["drifted"] == 0  # corrected: nothing drifted now
    assert kstatus.compute(obj).status is kstatus.Status.CURRENT


async def test_drift_is_reported_in_monitor_mode(agents: Agents, standin: StandIn) -> None:
    a = await _started(agents, "mon")
    target = a.root / "app.conf"
    await standin.assign(a.host, [file_resource("conf", target, "a\n")], mode="ApplyAndMonitor")
    await _current(standin, a.host, 1)
    target.write_text("b\n")

    async def reported() -> dict[str, Any] | None:
        obj = await standin.assignment(a.host)
        return obj if obj["status"]["drifted"] == 1 else None

    obj = await eventually(reported, timeout=10)
    ready = condition(obj, "Ready")
    assert ready is not None and ready["reason"] == "DriftDetected"
    assert target.read_text() == "b\n"  # reported, not corrected
    await eventually(lambda: standin.event(a.host, "DriftDetected"))

    # Put right by hand: the status says so without a new generation.
    target.write_text("a\n")

    async def clean() -> dict[str, Any] | None:
        obj = await standin.assignment(a.host)
        return obj if obj["status"]["drifted"] == 0 else None

    obj = await eventually(clean, timeout=10)
    assert kstatus.compute(obj).status is kstatus.Status.CURRENT


@pytest.mark.parametrize(("policy", "kept"), [("Orphan", True), ("Delete", False)])
async def test_removal_policy(agents: Agents, standin: StandIn, policy: str, kept: bool) -> None:
    a = await _started(agents, "rm")
    target = a.root / "managed.txt"
    await standin.assign(a.host, [file_resource("managed", target, "x")], removal_policy=policy)
    obj = await _current(standin, a.host, 1)
    assert target.exists()
    await standin.kube.delete(
        f"/apis/transom.dev/v1alpha1/namespaces/{obj['metadata']['namespace']}"
        f"/assignments/{obj['metadata']['name']}"
    )

    async def handled() -> bool:
        journal = a.state_dir / "assignments" / obj["metadata"]["name"]
        return not journal.exists()

    await eventually(handled, timeout=10)
    await asyncio.sleep(0.2)
    assert target.exists() is kept


async def test_changes_are_audited_and_checkpoint_published(
    agents: Agents, standin: StandIn
) -> None:
    a = await _started(agents, "aud")
    revision = "main@sha1:" + "a" * 40
    await standin.assign(a.host, [file_resource("f", a.root / "f.txt", "1")], revision=revision)
    await _current(standin, a.host, 1)

    records = [r for r in read_records(a.state_dir / "audit") if r.resource == "f"]
    assert records, "no audit record for the change"
    assert all(
        r.revision == revision
        and r.configuration == "default/web"
        and r.identity == names.host_user(a.host)
        for r in records
    )
    assert "1" not in {r.before for r in records} | {r.after for r in records}  # digests only

    async def published() -> dict[str, Any] | None:
        host = await standin.kube.get(HOSTS.path(name=a.host))
        checkpoint = host["status"].get("auditCheckpoint")
        return checkpoint if checkpoint and checkpoint["sequence"] >= len(records) else None

    checkpoint = await eventually(published, timeout=15)
    report = verify(
        a.state_dir / "audit",
        [Checkpoint.from_api(AuditCheckpoint.model_validate(checkpoint))],
        (a.state_dir / "audit.key.pub").read_text(),
    )
    assert report.ok, report
