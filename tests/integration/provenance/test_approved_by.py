"""`transom audit report --cluster`'s approved_by against the real apiserver: the Approval
objects as admission let them in (the approver is the requesting user), joined to the rows of
their Configuration generation that came after them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.audit.helpers import SOURCE, Clock
from transom.api.approval import approval_name
from transom.api.wire import API_VERSION
from transom.cli.audit import cluster_approvals
from transom.controller.approvals import whoami
from transom.dev.controlplane import ControlPlane
from transom.engine.audit import AuditAction, AuditLog, AuditTrail, read_records
from transom.engine.audit.report import build_rows, join_approvals
from transom.kube.client import Kube
from transom.kube.kinds import APPROVALS

pytestmark = pytest.mark.controlplane


async def test_approved_by_comes_from_the_clusters_approvals(
    kube: Kube,
    namespace: str,
    controlplane: ControlPlane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = await whoami(kube)
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Approval",
        "metadata": {"name": approval_name("web", 4, "rest"), "namespace": namespace},
        "spec": {
            "configuration": "web",
            "generation": 4,
            "partition": "rest",
            "approver": me,
            "reason": "CHG-1",
        },
    }
    created = await kube.create(APPROVALS.path(namespace), body)
    approved_at = created["metadata"]["creationTimestamp"]
    other = {**body, "metadata": {**body["metadata"], "name": approval_name("db", 4, "rest")}}
    other["spec"] = {**body["spec"], "configuration": "db"}
    await kube.create(APPROVALS.path(namespace), other)

    monkeypatch.setenv("KUBECONFIG", str(controlplane.kubeconfig))
    conf = f"{namespace}/web"
    found = await asyncio.to_thread(cluster_approvals, {conf})
    assert [(a.configuration, a.generation, a.partition, a.approver) for a in found] == [
        (conf, 4, "rest", me)
    ]
    assert found[0].approved_at == approved_at

    # A change of generation 4 an hour later names the approval; generation 3's does not.
    clock = Clock(1_893_456_000.0)  # 2030: after any creationTimestamp this test sees
    trail = AuditTrail(AuditLog(tmp_path), clock=clock)
    source = replace(SOURCE, configuration=conf, generation=4)
    trail.record(source, "tls", "RegistryValue", AuditAction.SET)
    trail.record(replace(source, generation=3), "tls", "RegistryValue", AuditAction.SET)
    rows = join_approvals(build_rows(read_records(tmp_path), []), found)
    assert [r.approved_by for r in rows] == [f"rest: {me} at {approved_at}", ""]
