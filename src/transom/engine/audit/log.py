"""The append-only audit log: JSON lines in size-capped segments forming one hash chain.

Segments are ``audit-00000001.jsonl``, ``audit-00000002.jsonl``, ... in one directory; the
number orders them, and the first record of a segment chains to the last of the one before,
so verification walks them as one sequence. Each append is one write of one line followed by
fsync, so a crash can leave at most a torn last line; opening the log detects it, moves the
torn bytes aside (``<segment>.torn``) and reports it rather than appending after garbage.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from transom.engine.atomicfile import fsync_directory
from transom.engine.audit.canonical import GENESIS_HASH
from transom.engine.audit.record import AuditAction, AuditRecord

SEGMENT_PATTERN = re.compile(r"^audit-(\d{8})\.jsonl$")
TORN_SUFFIX = ".torn"
#: Big enough that rotation is rare, small enough to copy off a host in one go.
DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024


def segment_name(number: int) -> str:
    return f"audit-{number:08d}.jsonl"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files in chain order."""
    found = []
    for path in directory.iterdir() if directory.is_dir() else ():
        match = SEGMENT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


@dataclass(frozen=True)
class RawLine:
    """One line as stored, before any judgement: verify reasons about these."""

    segment: str
    #: 1-based line number within the segment.
    line: int
    data: bytes
    #: False for a final line without its newline (a torn append).
    complete: bool


def read_lines(directory: Path) -> Iterator[RawLine]:
    for _, path in list_segments(directory):
        data = path.read_bytes()
        lines = data.split(b"\n")
        # split leaves "" after a final newline; anything else there is a torn line.
        tail = lines.pop()
        for number, line in enumerate(lines, start=1):
            yield RawLine(path.name, number, line, True)
        if tail:
            yield RawLine(path.name, len(lines) + 1, tail, False)


def read_records(directory: Path) -> Iterator[AuditRecord]:
    """Every complete, readable record in file order, without judging the chain (verify
    does that) and without touching the files, so it is safe on a live log."""
    for raw in read_lines(directory):
        if not raw.complete:
            continue
        try:
            yield AuditRecord.from_json(json.loads(raw.data))
        except (ValueError, KeyError, TypeError):
            continue


@dataclass(frozen=True)
class TornTail:
    """Bytes after the last complete record of the newest segment, found on open."""

    segment: str
    offset: int
    length: int
    #: Where the bytes were moved, so nothing is silently dropped.
    quarantine: str


class AuditLogError(Exception):
    """The log cannot be appended to safely (its tail is not a valid record)."""


class AuditLog:
    """Single writer (the agent); readers may run concurrently."""

    def __init__(self, directory: Path, *, max_segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_segment_bytes = max_segment_bytes
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        segments = list_segments(directory)
        self._segment_number = segments[-1][0] if segments else 1
        self.torn_tail: TornTail | None = None
        self._head_seq = 0
        self._head_hash = GENESIS_HASH
        self._open_intents: dict[int, AuditRecord] = {}
        if segments:
            self._load_tail(segments)

    @property
    def head(self) -> tuple[int, str]:
        """(sequence, hash) of the last record; (0, GENESIS_HASH) for an empty log."""
        return self._head_seq, self._head_hash

    @property
    def segment_path(self) -> Path:
        return self.directory / segment_name(self._segment_number)

    def open_intents(self) -> list[AuditRecord]:
        """Intents without a completion: changes that may have happened unrecorded."""
        return sorted(self._open_intents.values(), key=lambda r: r.seq)

    def append(self, record: AuditRecord) -> AuditRecord:
        """Give the record its seq and chain link, write it durably, return it sealed.

        The caller's ``seq``, ``prev_hash`` and ``hash`` are ignored.
        """
        with self._lock:
            sealed = replace(record, seq=self._head_seq + 1, prev_hash=self._head_hash).sealed()
            line = sealed.line()
            path = self.segment_path
            size = path.stat().st_size if path.exists() else 0
            # Never rotate with an intent open, so recovery only ever reads the newest segment.
            if size and size + len(line) > self.max_segment_bytes and not self._open_intents:
                self._segment_number += 1
                path = self.segment_path
            created = not path.exists()
            with path.open("ab", buffering=0) as f:
                f.write(line)
                os.fsync(f.fileno())
            if created:
                fsync_directory(str(self.directory))
            self._head_seq, self._head_hash = sealed.seq, sealed.hash
            self._track(sealed)
            return sealed

    def _track(self, record: AuditRecord) -> None:
        if record.action is AuditAction.INTENT:
            self._open_intents[record.seq] = record
        elif record.intent:
            self._open_intents.pop(record.intent, None)

    def _load_tail(self, segments: list[tuple[int, Path]]) -> None:
        path = segments[-1][1]
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self._quarantine(path, data, end)
            data = data[:end]
        # An empty newest segment (crash right after rotation) chains on from the one before.
        if not data and len(segments) > 1:
            prev = segments[-2][1].read_bytes()
            data = prev[: prev.rfind(b"\n") + 1]
        lines = data.splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                record = AuditRecord.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                # A whole line we did not write is tampering or disk damage, not a crash:
                # verify reports it. Only the head must be readable to chain on from it.
                if number < len(lines):
                    continue
                raise AuditLogError(
                    f"{path.name}: last record unreadable; run `transom audit verify` ({exc})"
                ) from exc
            self._head_seq, self._head_hash = record.seq, record.hash
            self._track(record)

    def _quarantine(self, path: Path, data: bytes, end: int) -> None:
        quarantine = path.with_name(path.name + TORN_SUFFIX)
        with quarantine.open("ab") as f:
            f.write(data[end:])
            os.fsync(f.fileno())
        with path.open("r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
        self.torn_tail = TornTail(path.name, end, len(data) - end, quarantine.name)
