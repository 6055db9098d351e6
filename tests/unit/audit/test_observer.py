"""The engine-facing side: the change observer and drift outcomes."""

from __future__ import annotations

from pathlib import Path

from transom.api.resources import parse_resources
from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditObserver,
    AuditResult,
    AuditTrail,
    Checkpointer,
    digest_state,
    read_records,
    verify,
)
from transom.engine.result import DiffEntry, ResourceOutcome, Status

from .helpers import SOURCE, Clock

[MOTD] = parse_resources([{"name": "motd", "file": {"path": "/etc/motd", "content": "hi"}}])


def test_observer_writes_intent_then_outcome_and_checkpoints(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    trail = AuditTrail(log, checkpointer=Checkpointer(log, AuditKey.generate(), clock=Clock()))
    observer = AuditObserver(trail, SOURCE)

    token = observer.before_set(MOTD, {"ensure": "absent"}, {"content": "hi"}, drift=False)
    assert trail.pending() == [token]
    observer.after_set(token, MOTD, {"content": "hi"}, reboot_required=True)
    token = observer.before_set(MOTD, {"content": "x"}, {"content": "hi"}, drift=True)
    observer.after_set(token, MOTD, None, error="permission denied")

    done = [r for r in read_records(tmp_path) if r.action is not AuditAction.INTENT]
    assert [(r.action, r.result, r.reboot) for r in done] == [
        (AuditAction.SET, AuditResult.SUCCEEDED, True),
        (AuditAction.DRIFT_CORRECTED, AuditResult.FAILED, False),
    ]
    assert done[0].before == digest_state({"ensure": "absent"})
    assert done[0].after == digest_state({"content": "hi"})
    assert (done[1].after, done[1].error) == ("", "permission denied")
    assert trail.checkpointer is not None and trail.checkpointer.latest is not None
    assert trail.checkpointer.latest.sequence == 2  # the first change after quiet is signed
    assert verify(tmp_path, [trail.checkpointer.latest]).ok


def test_record_drift_only_for_drift_left_in_place(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path))
    diff = (DiffEntry("content", "<redacted>", "<redacted>"), DiffEntry("mode", "0777", "0644"))
    drifted = ResourceOutcome("motd", "File", Status.DRIFTED, False, drifted=True, diff=diff)
    record = trail.record_drift(SOURCE, drifted)
    assert record is not None
    assert record.action is AuditAction.DRIFT_DETECTED
    assert record.before == digest_state({"content": "<redacted>", "mode": "0644"})
    assert record.after == digest_state({"content": "<redacted>", "mode": "0777"})

    flapping = ResourceOutcome(
        "motd", "File", Status.FLAPPING, False, drifted=True, message="held back", diff=diff
    )
    flapped = trail.record_drift(SOURCE, flapping)
    assert flapped is not None and flapped.error == "held back"
    corrected = ResourceOutcome("motd", "File", Status.CHANGED, True, changed=True, drifted=True)
    assert trail.record_drift(SOURCE, corrected) is None
