"""Signed checkpoints: when they are due, their published shape, and what they catch."""

from __future__ import annotations

import json
import os
from pathlib import Path

from transom.api.host import AuditCheckpoint, HostStatus
from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditTrail,
    Checkpoint,
    Checkpointer,
    FindingKind,
    InMemoryEventLog,
    load_checkpoints,
    verify,
)
from transom.engine.audit.canonical import canonical_json, sha256_hex

from .helpers import SOURCE, Clock, Lines, tamper, write_records


def checkpointer(directory: Path, clock: Clock, key: AuditKey | None = None) -> Checkpointer:
    return Checkpointer(AuditLog(directory), key or AuditKey.generate(), clock=clock)


def change(trail: AuditTrail, n: int) -> None:
    trail.record(SOURCE, f"svc-{n}", "Service", AuditAction.SET, before={"n": n}, after={"n": -n})


def test_due_at_once_after_quiet_then_at_most_every_interval(tmp_path: Path) -> None:
    clock = Clock()
    cp = checkpointer(tmp_path, clock)
    trail = AuditTrail(cp.log, checkpointer=cp, clock=clock)
    assert cp.seconds_until_due() is None  # nothing to sign
    change(trail, 1)
    first = trail.maybe_checkpoint()
    assert first is not None and first.sequence == 1

    clock.now += 10
    change(trail, 2)
    assert trail.maybe_checkpoint() is None
    assert cp.seconds_until_due() == 50
    clock.now += 50
    second = trail.maybe_checkpoint()
    assert second is not None and second.sequence == 2
    assert cp.seconds_until_due() is None

    clock.now += 3600  # quiet hour: the next change is signed immediately
    change(trail, 3)
    assert cp.seconds_until_due() == 0


def test_checkpoints_persist_and_reload(tmp_path: Path) -> None:
    clock = Clock()
    key = AuditKey.load_or_create(tmp_path / "key" / "audit.pem")
    cp = checkpointer(tmp_path, clock, key)
    change(AuditTrail(cp.log), 1)
    signed = cp.checkpoint()

    reloaded_key = AuditKey.load_or_create(tmp_path / "key" / "audit.pem")
    assert reloaded_key.public_pem == key.public_pem
    assert (tmp_path / "key" / "audit.pem.pub").read_text() == key.public_pem
    if os.name == "posix":
        assert (tmp_path / "key" / "audit.pem").stat().st_mode & 0o077 == 0
    again = checkpointer(tmp_path, clock, reloaded_key)
    assert again.latest == signed
    assert load_checkpoints(tmp_path / "checkpoints.jsonl") == [signed]


def test_published_shape_is_the_host_status_field(tmp_path: Path) -> None:
    cp = checkpointer(tmp_path, Clock())
    change(AuditTrail(cp.log), 1)
    published = cp.checkpoint().to_api()
    assert isinstance(published, AuditCheckpoint)
    status = HostStatus(audit_checkpoint=published).model_dump(mode="json", by_alias=True)
    assert set(status["auditCheckpoint"]) == {
        "sequence",
        "headHash",
        "time",
        "signature",
        "publicKey",
    }
    host_file = tmp_path / "host.json"
    host_file.write_text(json.dumps({"metadata": {"name": "web-1"}, "status": status}))
    assert load_checkpoints(host_file) == [Checkpoint.from_api(published)]
    assert verify(tmp_path, load_checkpoints(host_file), cp.key.public_pem).ok


def test_checkpoint_event_is_written(tmp_path: Path) -> None:
    events = InMemoryEventLog()
    cp = checkpointer(tmp_path, Clock())
    trail = AuditTrail(cp.log, checkpointer=cp, event_log=events)
    change(trail, 1)
    trail.maybe_checkpoint()
    assert [e.event_id for e in events.events] == [1000, 1005]


def signed_log(directory: Path, count: int = 30) -> tuple[AuditKey, list[Checkpoint]]:
    key = AuditKey.generate()
    write_records(directory, count // 2)
    cp = checkpointer(directory, Clock(), key)
    first = cp.checkpoint()
    write_records(directory, count - count // 2)
    cp.log = AuditLog(directory)
    return key, [first, cp.checkpoint()]


def test_untouched_signed_log_verifies(tmp_path: Path) -> None:
    key, checkpoints = signed_log(tmp_path)
    report = verify(tmp_path, checkpoints, key.public_pem)
    assert report.ok, report.findings
    assert report.checkpoints == 2


def test_forged_checkpoint_signature_is_detected(tmp_path: Path) -> None:
    key, checkpoints = signed_log(tmp_path)
    forger = AuditKey.generate()
    forged = forger.sign(99, "ab" * 32, checkpoints[1].time)
    report = verify(tmp_path, [*checkpoints, forged], key.public_pem)
    assert [f.kind for f in report.findings] == [FindingKind.BAD_SIGNATURE]
    assert report.findings[0].sequence == 99

    # A real signature over an edited head hash no longer verifies either.
    edited = Checkpoint(
        checkpoints[1].sequence, "00" * 32, checkpoints[1].time, checkpoints[1].signature
    )
    report = verify(tmp_path, [edited], key.public_pem)
    assert [f.kind for f in report.findings] == [FindingKind.BAD_SIGNATURE]


def test_log_truncated_after_a_checkpoint(tmp_path: Path) -> None:
    key, checkpoints = signed_log(tmp_path)

    def drop_last_three(lines: Lines) -> None:
        del lines.items[-3:]

    tamper(tmp_path, drop_last_three)
    report = verify(tmp_path, checkpoints, key.public_pem)
    assert report.first_bad is None  # the chain itself is intact...
    assert [f.kind for f in report.findings] == [FindingKind.TRUNCATED]  # ...but shorter
    assert report.findings[0].sequence == 30
    assert "ends at record 27" in report.findings[0].message


def test_log_rewritten_consistently_after_a_checkpoint(tmp_path: Path) -> None:
    key, checkpoints = signed_log(tmp_path)

    def rewrite_from_20(lines: Lines) -> None:
        prev = lines.record(18)["hash"]
        for index in range(19, len(lines.items)):
            record = lines.record(index)
            record["prevHash"] = prev
            if index == 19:
                record["identity"] = "attacker"
            del record["hash"]
            record["hash"] = prev = sha256_hex(canonical_json(record))
            lines.set_record(index, record)

    lines = tamper(tmp_path, rewrite_from_20)
    report = verify(tmp_path, checkpoints, key.public_pem)
    assert report.first_bad is None
    assert [f.kind for f in report.findings] == [FindingKind.REWRITTEN]
    finding = report.findings[0]
    assert finding.sequence == 30
    assert (finding.segment, finding.line) == lines.location(29)
    assert "between records 16 and 30" in finding.message


def test_without_a_pinned_key_the_embedded_key_is_used(tmp_path: Path) -> None:
    _, checkpoints = signed_log(tmp_path)
    assert verify(tmp_path, checkpoints).ok
    bare = [Checkpoint(c.sequence, c.head_hash, c.time, c.signature) for c in checkpoints]
    report = verify(tmp_path, bare)
    assert {f.kind for f in report.findings} == {FindingKind.UNVERIFIABLE}


def test_torn_store_line_falls_back_to_the_previous_checkpoint(tmp_path: Path) -> None:
    clock = Clock()
    cp = checkpointer(tmp_path, clock)
    change(AuditTrail(cp.log), 1)
    signed = cp.checkpoint()
    with (tmp_path / "checkpoints.jsonl").open("ab") as f:
        f.write(b'{"sequence": 2, "headH')
    assert checkpointer(tmp_path, clock).latest == signed
    assert load_checkpoints(tmp_path / "checkpoints.jsonl") == [signed]


def test_a_failed_checkpoint_is_retried_not_raised(tmp_path: Path) -> None:
    clock = Clock()
    cp = checkpointer(tmp_path, clock)
    trail = AuditTrail(cp.log, checkpointer=cp, clock=clock)
    change(trail, 1)
    (tmp_path / "checkpoints.jsonl").mkdir()  # storing fails
    assert trail.maybe_checkpoint() is None
    assert cp.seconds_until_due() == 0
    (tmp_path / "checkpoints.jsonl").rmdir()
    retried = trail.maybe_checkpoint()
    assert retried is not None and retried.sequence == 1
