"""Building real audit logs and tampering with their files the way an attacker would."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transom.engine.audit import AuditAction, AuditLog, AuditTrail, ChangeSource
from transom.engine.audit.canonical import canonical_json, sha256_hex
from transom.engine.audit.log import list_segments

SOURCE = ChangeSource(
    host="web-1",
    identity="transom:host:web-1",
    configuration="apps/web-farm",
    generation=7,
    revision="main@sha1:0a1b2c3d",
    kustomization="flux-system/apps",
)


class Clock:
    """A settable clock, so checkpoint timing is exact."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write_records(
    directory: Path, count: int, *, max_segment_bytes: int = 8 * 1024 * 1024
) -> AuditTrail:
    """``count`` records: alternating completed changes and drift reports."""
    trail = AuditTrail(AuditLog(directory, max_segment_bytes=max_segment_bytes), clock=Clock())
    for i in range(count):
        if i % 3 == 2:
            trail.record(
                SOURCE,
                f"file-{i}",
                "File",
                AuditAction.DRIFT_DETECTED,
                before={"content": f"v{i}"},
                after={"content": "edited by hand"},
            )
        else:
            trail.record(
                SOURCE,
                f"svc-{i}",
                "Service",
                AuditAction.SET,
                before={"state": "stopped", "n": i},
                after={"state": "running", "n": i},
            )
    return trail


@dataclass
class Line:
    segment: Path
    data: bytes


class Lines:
    """Every line of every segment, editable as one list and saved back segment by segment."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.segments = [path for _, path in list_segments(directory)]
        self.items = [
            Line(path, line) for path in self.segments for line in path.read_bytes().splitlines()
        ]

    def record(self, index: int) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.items[index].data)
        return loaded

    def set_record(self, index: int, record: dict[str, Any], *, rehash: bool = False) -> None:
        if rehash:
            record = {k: v for k, v in record.items() if k != "hash"}
            record["hash"] = sha256_hex(canonical_json(record))
        self.items[index].data = canonical_json(record)

    def save(self) -> None:
        for path in self.segments:
            data = b"".join(i.data + b"\n" for i in self.items if i.segment == path)
            path.write_bytes(data)

    def location(self, index: int) -> tuple[str, int]:
        """(segment name, 1-based line) of the item at ``index``, as saved."""
        item = self.items[index]
        same = [i for i in self.items if i.segment == item.segment]
        return item.segment.name, next(n for n, i in enumerate(same, 1) if i is item)


def tamper(directory: Path, change: Callable[[Lines], None]) -> Lines:
    lines = Lines(directory)
    change(lines)
    lines.save()
    return lines


def edit_record(directory: Path, index: int, **fields: Any) -> None:
    """Change fields of the record at ``index`` in place, leaving its stored hash."""

    def change(lines: Lines) -> None:
        lines.set_record(index, {**lines.record(index), **fields})

    tamper(directory, change)
