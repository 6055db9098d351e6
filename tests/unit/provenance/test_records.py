"""Audit records carry the generation's provenance; the chain format moved to version 2 (3:
sealed secrets in the digests) and logs written before it still verify."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from tests.unit.audit.helpers import SOURCE, Clock
from transom.agent.source_check import refusal, refused
from transom.api.assignment import AssignmentSource, AssignmentStatus, ObjectReference
from transom.api.provenance import UNVERIFIED_SOURCE, Provenance, Verification
from transom.engine.audit import (
    AuditAction,
    AuditLog,
    AuditResult,
    AuditTrail,
    read_records,
    verify,
)
from transom.engine.audit.canonical import canonical_json, sha256_hex
from transom.engine.audit.record import RECORD_VERSION, AuditRecord
from transom.engine.audit.sinks import describe
from transom.engine.policy import HostPolicy

PROVENANCE = Provenance(
    commit="0a1b2c3d" * 5,
    author="Ann <ann@example.test>",
    signing_key="61AF9B22D21B0702DD1BADBE595110A17E042D06",
    verification=Verification.VERIFIED,
    writer="kustomize-controller",
    writer_operation="Apply",
    flux_applied=True,
).model_dump(mode="json", by_alias=True)


def test_every_record_of_a_generation_carries_its_provenance(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path), clock=Clock())
    source = replace(SOURCE, provenance=PROVENANCE)
    intent = trail.begin(source, "tls", "RegistryValue", before={"v": 0}, desired={"v": 1})
    done = trail.complete(intent, after={"v": 1})
    for record in (intent, done):
        assert record.provenance == PROVENANCE
        assert record.version == RECORD_VERSION == 3
    line = json.loads((tmp_path / "audit-00000001.jsonl").read_text().splitlines()[1])
    assert line["v"] == 3 and line["provenance"]["author"] == "Ann <ann@example.test>"
    assert verify(tmp_path).ok


def v1_line(seq: int, prev: str) -> tuple[str, str]:
    """A record exactly as an agent before provenance wrote it."""
    raw: dict[str, object] = {
        "seq": seq,
        "time": "2026-01-01T00:00:00.000000Z",
        "host": "web-1",
        "identity": "transom:host:web-1",
        "configuration": "apps/web",
        "generation": 1,
        "revision": "main@sha1:00",
        "kustomization": "",
        "resource": "r",
        "type": "File",
        "action": "set",
        "before": "",
        "after": "",
        "result": "succeeded",
        "error": "",
        "reboot": False,
        "planned": "",
        "intent": 0,
        "prevHash": prev,
    }
    digest = sha256_hex(canonical_json(raw))
    raw["hash"] = digest
    return canonical_json(raw).decode(), digest


def test_a_version_1_chain_verifies_and_new_records_continue_it(tmp_path: Path) -> None:
    first, h1 = v1_line(1, "0" * 64)
    second, _ = v1_line(2, h1)
    (tmp_path / "audit-00000001.jsonl").write_text(f"{first}\n{second}\n")
    assert verify(tmp_path).ok
    old = AuditRecord.from_json(json.loads(first))
    assert old.version == 1 and old.line().decode().strip() == first
    trail = AuditTrail(AuditLog(tmp_path), clock=Clock())
    trail.record(replace(SOURCE, provenance=PROVENANCE), "r", "File", AuditAction.SET)
    assert verify(tmp_path).ok


def test_a_version_2_chain_verifies_and_version_3_records_continue_it(tmp_path: Path) -> None:
    """Version 3 changed only what the digests cover (sealed secrets), not the layout."""
    trail = AuditTrail(AuditLog(tmp_path), clock=Clock())
    trail.log.append(
        replace(
            trail._record(
                replace(SOURCE, provenance=PROVENANCE),
                "r",
                "File",
                AuditAction.SET,
                before="",
                after="sha256:" + "ab" * 32,
                result=AuditResult.SUCCEEDED,
            ),
            version=2,
        )
    )
    line = json.loads((tmp_path / "audit-00000001.jsonl").read_text())
    assert line["v"] == 2
    reopened = AuditTrail(AuditLog(tmp_path), clock=Clock())
    new = reopened.record(replace(SOURCE, provenance=PROVENANCE), "r", "File", AuditAction.SET)
    assert new.version == 3 and new.seq == 2
    assert [r.version for r in read_records(tmp_path)] == [2, 3]
    assert verify(tmp_path).ok


def test_rewriting_a_records_author_breaks_the_chain(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path), clock=Clock())
    source = replace(SOURCE, provenance=PROVENANCE)
    trail.record(source, "a", "File", AuditAction.SET)
    trail.record(source, "b", "File", AuditAction.SET)
    segment = tmp_path / "audit-00000001.jsonl"
    segment.write_text(segment.read_text().replace("Ann <ann", "Eve <eve", 1))
    report = verify(tmp_path)
    assert not report.ok and report.findings[0].sequence == 1


def test_a_version_1_record_claiming_provenance_is_malformed() -> None:
    line, _ = v1_line(1, "0" * 64)
    raw = json.loads(line) | {"provenance": PROVENANCE}
    try:
        AuditRecord.from_json(raw)
    except ValueError as e:
        assert "no provenance" in str(e)
    else:
        raise AssertionError("accepted")


def source(provenance: dict[str, object] | None) -> AssignmentSource:
    return AssignmentSource(
        configuration=ObjectReference(namespace="apps", name="web"),
        generation=3,
        provenance=Provenance.model_validate(provenance) if provenance else None,
    )


def test_host_policy_refuses_what_flux_did_not_verify_and_apply() -> None:
    strict = HostPolicy.model_validate({"requireVerifiedSource": True})
    assert refusal(strict, source(PROVENANCE)) == ""
    assert refusal(HostPolicy(), source(None)) == ""
    kubectl = PROVENANCE | {"writer": "kubectl-client-side-apply", "fluxApplied": False}
    why = refusal(strict, source(kubectl))
    assert "generation 3" in why and "kubectl-client-side-apply" in why
    assert "no provenance" in refusal(strict, source(None))
    status = refused(AssignmentStatus(), 3, why)
    verdict = status.verdict()
    assert verdict.failed and verdict.reason == UNVERIFIED_SOURCE
    assert status.observed_generation == 3


def test_the_event_log_text_names_commit_author_and_signer(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path), clock=Clock())
    record = trail.record(replace(SOURCE, provenance=PROVENANCE), "tls", "File", AuditAction.SET)
    text = describe(record)
    assert f"Commit {'0a1b2c3d' * 5} by Ann <ann@example.test>, signed by 61AF9B22" in text
    assert "Flux verification Verified; written by kustomize-controller" in text
