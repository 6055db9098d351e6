"""The log on disk: chaining, rotation into segments, torn tails, reopening."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from transom.engine.audit import (
    AuditAction,
    AuditLog,
    AuditLogError,
    AuditTrail,
    FindingKind,
    read_records,
    verify,
)
from transom.engine.audit.canonical import GENESIS_HASH
from transom.engine.audit.log import list_segments

from .helpers import SOURCE, Lines, edit_record, write_records


def test_untouched_log_verifies(tmp_path: Path) -> None:
    trail = write_records(tmp_path, 50)
    report = verify(tmp_path)
    assert report.ok, report.findings
    assert report.records == 50
    assert report.head == trail.log.head
    records = list(read_records(tmp_path))
    assert [r.seq for r in records] == list(range(1, 51))
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_record_carries_who_what_and_which_commit(tmp_path: Path) -> None:
    write_records(tmp_path, 1)
    line = json.loads((tmp_path / "audit-00000001.jsonl").read_bytes())
    assert line["host"] == "web-1"
    assert line["identity"] == "transom:host:web-1"
    assert line["configuration"] == "apps/web-farm"
    assert line["generation"] == 7
    assert line["revision"] == "main@sha1:0a1b2c3d"
    assert line["kustomization"] == "flux-system/apps"
    assert (line["resource"], line["type"], line["action"]) == ("svc-0", "Service", "set")
    assert line["before"].startswith("sha256:")
    assert line["after"].startswith("sha256:")
    assert line["before"] != line["after"]


def test_rotation_chains_segments_and_keeps_verification(tmp_path: Path) -> None:
    trail = write_records(tmp_path, 60, max_segment_bytes=4096)
    segments = list_segments(tmp_path)
    assert len(segments) > 3
    assert all(path.stat().st_size <= 4096 for _, path in segments)
    lines = Lines(tmp_path)
    # The first record of each segment links to the last of the one before.
    for (_, earlier), (_, later) in itertools.pairwise(segments):
        last = json.loads(earlier.read_bytes().splitlines()[-1])
        first = json.loads(later.read_bytes().splitlines()[0])
        assert first["prevHash"] == last["hash"]
        assert first["seq"] == last["seq"] + 1
    assert len(lines.items) == 60
    report = verify(tmp_path)
    assert report.ok and report.head == trail.log.head


def test_reopened_log_continues_the_chain(tmp_path: Path) -> None:
    write_records(tmp_path, 10, max_segment_bytes=2048)
    head = AuditLog(tmp_path).head
    assert head[0] == 10
    trail = write_records(tmp_path, 10, max_segment_bytes=2048)
    assert trail.log.head[0] == 20
    assert verify(tmp_path).ok


def test_empty_segment_left_by_a_crash_after_rotation(tmp_path: Path) -> None:
    write_records(tmp_path, 5)
    (tmp_path / "audit-00000002.jsonl").write_bytes(b"")
    log = AuditLog(tmp_path)
    assert log.head[0] == 5
    write_records(tmp_path, 2)
    assert verify(tmp_path).ok


def test_torn_last_line_is_reported_then_quarantined_and_recorded(tmp_path: Path) -> None:
    write_records(tmp_path, 5)
    segment = tmp_path / "audit-00000001.jsonl"
    with segment.open("ab") as f:
        f.write(b'{"action":"set","after":"sha256:')  # a crash mid-append

    report = verify(tmp_path)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad.kind is FindingKind.TORN
    assert (report.first_bad.sequence, report.first_bad.line) == (6, 6)

    trail = AuditTrail(AuditLog(tmp_path))
    assert trail.log.torn_tail is not None
    assert trail.log.head[0] == 5
    repaired = trail.record_log_repair(SOURCE)
    assert repaired is not None and repaired.action is AuditAction.LOG_REPAIRED
    assert "moved to audit-00000001.jsonl.torn" in repaired.error
    assert (tmp_path / "audit-00000001.jsonl.torn").read_bytes().startswith(b'{"action"')

    report = verify(tmp_path)
    assert report.ok
    assert report.notes and "torn" in report.notes[0]


def test_no_rotation_while_an_intent_is_open(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path, max_segment_bytes=1500))
    intent = trail.begin(SOURCE, "svc", "Service", before={"a": 1}, desired={"a": 2})
    for i in range(5):
        trail.record(SOURCE, f"f{i}", "File", AuditAction.DRIFT_DETECTED, after={"i": i})
    assert len(list_segments(tmp_path)) == 1
    trail.complete(intent, after={"a": 2})
    trail.record(SOURCE, "f", "File", AuditAction.DRIFT_DETECTED, after={"i": 9})
    assert len(list_segments(tmp_path)) == 2
    assert verify(tmp_path).ok


def test_unreadable_lines_do_not_stop_the_writer_unless_at_the_head(tmp_path: Path) -> None:
    write_records(tmp_path, 5)
    edit_record(tmp_path, 2, seq="three")
    log = AuditLog(tmp_path)
    assert log.head[0] == 5
    bad = verify(tmp_path).first_bad
    assert bad is not None and (bad.kind, bad.sequence) == (FindingKind.ALTERED, 3)

    segment = tmp_path / "audit-00000001.jsonl"
    segment.write_bytes(segment.read_bytes() + b"not json\n")
    with pytest.raises(AuditLogError, match="last record unreadable"):
        AuditLog(tmp_path)
