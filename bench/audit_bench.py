"""Audit overhead per change and verification speed (issue 6's performance figures)."""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditTrail,
    ChangeSource,
    Checkpointer,
    verify,
)

SOURCE = ChangeSource(
    "web-1", "transom:host:web-1", "apps/web-farm", 7, "main@sha1:0a1b2c3d", "flux-system/apps"
)
STATE = {"ensure": "present", "content": "sha256:" + "ab" * 32, "acl": ["BUILTIN\\Users:R"]}
#: Near the default segment size divided by 8, so 10,000 records span several segments.
SEGMENT_BYTES = 1024 * 1024


def change_overhead(changes: int = 500) -> list[dict[str, Any]]:
    """Median and p95 of one audited change: intent and completion, each fsynced."""
    with tempfile.TemporaryDirectory() as tmp:
        trail = AuditTrail(AuditLog(Path(tmp)))
        samples = []
        for i in range(changes):
            t0 = time.perf_counter()
            intent = trail.begin(SOURCE, f"file-{i}", "File", before=None, desired=STATE)
            trail.complete(intent, after=STATE)
            samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    note = f"{changes} changes, 2 fsynced appends each (intent + completion)"
    return [
        row("audit append", "overhead per change (median)", statistics.median(samples), "ms", note),
        row(
            "audit append",
            "overhead per change (p95)",
            samples[int(len(samples) * 0.95)],
            "ms",
            note,
        ),
    ]


def checkpoint_cost(rounds: int = 200) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        log = AuditLog(Path(tmp))
        trail = AuditTrail(log)
        trail.record(SOURCE, "file", "File", AuditAction.SET, after=STATE)
        checkpointer = Checkpointer(log, AuditKey.generate())
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            checkpointer.checkpoint()
            samples.append((time.perf_counter() - t0) * 1000)
    note = f"Ed25519 sign + fsynced store, {rounds} rounds"
    return [
        row("audit checkpoint", "sign and store (median)", statistics.median(samples), "ms", note)
    ]


def verification_speed(records: int = 10_000) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        log = AuditLog(directory, max_segment_bytes=SEGMENT_BYTES)
        trail = AuditTrail(log)
        # Building the log is setup, not measured: skip its fsyncs (minutes on slow disks).
        with mock.patch("os.fsync"):
            for i in range(records):
                trail.record(SOURCE, f"file-{i}", "File", AuditAction.SET, after=STATE)
        checkpoint = Checkpointer(log, AuditKey.generate()).checkpoint()
        segments = len(list(directory.glob("audit-*.jsonl")))
        t0 = time.perf_counter()
        report = verify(directory, [checkpoint], checkpoint.public_key)
        elapsed = time.perf_counter() - t0
    if not report.ok:
        raise RuntimeError(f"benchmark log failed verification: {report.findings}")
    note = f"{records} records in {segments} segments, 1 checkpoint"
    return [row("audit verify", "verification speed", records / elapsed, "records/s", note)]


def row(benchmark: str, metric: str, value: float, unit: str, note: str) -> dict[str, Any]:
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit, "note": note}


def run(changes: int = 500, rounds: int = 200, records: int = 10_000) -> list[dict[str, Any]]:
    # Silence the per-record log lines: the benchmark measures the file, not a console.
    logger = logging.getLogger("transom.audit")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return change_overhead(changes) + checkpoint_cost(rounds) + verification_speed(records)
    finally:
        logger.setLevel(level)


if __name__ == "__main__":
    for r in run():
        print(r)
