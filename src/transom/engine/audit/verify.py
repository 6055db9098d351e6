"""Verifying a host's audit log against its hash chain and the checkpoints the hub holds.

The chain walk names the first bad record and what happened to it. Each line is judged on its
own hash, its sequence number and its link to the record before; when one breaks, the lines
after it tell an edit from a removal, an insertion or a reordering:

- altered: the line does not hash to its ``hash`` (or, rehashed, its successor no longer
  links to it);
- removed: sequence numbers jump and nothing later fills the gap;
- inserted: the line is not needed (the next line links past it) or repeats a sequence number;
- reordered: the line links to a record that only appears later.

Checkpoints then catch what a consistent rewrite of the chain hides: a signed (sequence, head
hash) that the log no longer contains means the log was truncated or rewritten after it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from transom.engine.audit.canonical import GENESIS_HASH, canonical_json, sha256_hex
from transom.engine.audit.checkpoint import Checkpoint, load_public_key
from transom.engine.audit.log import TORN_SUFFIX, RawLine, read_lines


class FindingKind(StrEnum):
    ALTERED = "altered"
    REMOVED = "removed"
    INSERTED = "inserted"
    REORDERED = "reordered"
    #: The newest segment ends in an incomplete line: a crash mid-append, or a tampered tail.
    TORN = "torn"
    TRUNCATED = "truncated"
    REWRITTEN = "rewritten"
    BAD_SIGNATURE = "bad-signature"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    #: The chain position concerned: the sequence number expected there (for a checkpoint
    #: finding, the signed sequence).
    sequence: int
    segment: str = ""
    #: 1-based line within ``segment``; 0 when the problem is a missing line at the end.
    line: int = 0
    message: str = ""

    def __str__(self) -> str:
        where = f" ({self.segment} line {self.line})" if self.segment else ""
        return f"{self.kind.value}: seq {self.sequence}{where}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    records: int
    #: (sequence, hash) of the last record of the valid chain prefix.
    head: tuple[int, str]
    checkpoints: int
    #: The first bad record of the chain, if any.
    first_bad: Finding | None
    #: Every problem: the chain's first bad record, then checkpoint findings.
    findings: tuple[Finding, ...]
    #: Not failures: e.g. a torn tail the agent quarantined and recorded.
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Line:
    raw: RawLine
    record: dict[str, Any] | None
    seq: int = -1
    prev: str = ""
    hash: str = ""
    self_ok: bool = False


def verify(
    log_dir: Path,
    checkpoints: Sequence[Checkpoint] = (),
    public_key: Ed25519PublicKey | bytes | str | None = None,
) -> VerifyReport:
    """Check the log in ``log_dir``; ``public_key`` pins the signer (PEM or key).

    Without a pinned key a checkpoint is checked against the key it carries, which proves
    integrity but not who signed: pass the key the hub recorded at enrollment.
    """
    key = load_public_key(public_key) if isinstance(public_key, (bytes, str)) else public_key
    lines = [_parse(raw) for raw in read_lines(log_dir)]
    walker = _Walker(lines)
    first_bad = walker.walk()
    # A rewritten or forged record can sit just before where the walk stopped.
    valid = walker.valid[: first_bad.sequence - 1] if first_bad else walker.valid
    findings = [first_bad] if first_bad else []
    by_seq: dict[int, _Line] = {}
    for line in lines:
        if line.record is not None:
            by_seq.setdefault(line.seq, line)
    findings += _check_checkpoints(checkpoints, key, by_seq)
    notes = tuple(
        f"{p.name}: {p.stat().st_size} torn bytes moved aside after a crash"
        for p in sorted(log_dir.glob("*" + TORN_SUFFIX))
    )
    head = (valid[-1].seq, valid[-1].hash) if valid else (0, GENESIS_HASH)
    return VerifyReport(
        records=sum(1 for line in lines if line.record is not None),
        head=head,
        checkpoints=len(checkpoints),
        first_bad=first_bad,
        findings=tuple(findings),
        notes=notes,
    )


def _parse(raw: RawLine) -> _Line:
    try:
        record = json.loads(raw.data)
        if not isinstance(record, dict):
            raise TypeError("not an object")
        stored = record.pop("hash")
        seq, prev = record["seq"], record["prevHash"]
        if not (isinstance(seq, int) and isinstance(prev, str) and isinstance(stored, str)):
            raise TypeError("bad field types")
        computed = sha256_hex(canonical_json(record))
    except (ValueError, KeyError, TypeError):  # NaN and the like have no canonical form
        return _Line(raw, None)
    return _Line(raw, record, seq, prev, stored, computed == stored and raw.complete)


class _Walker:
    """Walks the lines in order, keeping the valid chain prefix."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        parsed = [line for line in lines if line.record is not None]
        self.seq_counts = Counter(line.seq for line in parsed)
        self.hash_counts = Counter(line.hash for line in parsed)
        self.valid: list[_Line] = []

    def walk(self) -> Finding | None:
        for index, line in enumerate(self.lines):
            finding = self._judge(index, line)
            if finding is not None:
                return finding
            self.valid.append(line)
        return None

    def _judge(self, index: int, line: _Line) -> Finding | None:
        valid = self.valid
        expected = len(valid) + 1
        prev_hash = valid[-1].hash if valid else GENESIS_HASH

        def at(target: _Line, kind: FindingKind, message: str, seq: int = expected) -> Finding:
            return Finding(kind, seq, target.raw.segment, target.raw.line, message)

        if not line.raw.complete:
            return at(line, FindingKind.TORN, "the last line is incomplete (crash during append?)")
        following = self.lines[index + 1] if index + 1 < len(self.lines) else None
        # The next line continues the chain from the last good record: this one is not needed.
        skippable = (
            following is not None
            and following.record is not None
            and following.seq == expected
            and following.prev == prev_hash
        )
        if line.record is None:
            if skippable:
                return at(line, FindingKind.INSERTED, "a line that is not an audit record")
            return at(line, FindingKind.ALTERED, "the line is not a valid audit record")
        if line.seq == expected:
            if not line.self_ok:
                return at(line, FindingKind.ALTERED, "the record does not match its hash")
            if line.prev == prev_hash:
                return None
            if not valid:
                return at(line, FindingKind.ALTERED, "the first record does not start the chain")
            # Both records hash correctly but no longer link: the earlier one was rewritten
            # with a recomputed hash.
            return at(
                valid[-1],
                FindingKind.ALTERED,
                f"record {expected - 1} was rewritten: record {expected} links to another hash",
                expected - 1,
            )
        if not line.self_ok:
            if skippable:
                return at(line, FindingKind.INSERTED, "a record that nothing links to")
            return at(line, FindingKind.ALTERED, "the record does not match its hash")
        if line.seq < expected:
            before_last = valid[-2].hash if len(valid) > 1 else GENESIS_HASH
            if valid and line.seq == expected - 1 and line.prev == before_last:
                if line.hash == valid[-1].hash:
                    return at(line, FindingKind.INSERTED, f"a copy of record {line.seq}")
                # The line before linked perfectly but was not the real record: a forgery.
                return at(
                    valid[-1],
                    FindingKind.INSERTED,
                    f"a second record {line.seq}, not the one the chain continues from",
                    expected - 1,
                )
            return at(line, FindingKind.INSERTED, f"record {line.seq} again, out of place")
        if self.seq_counts[line.seq] > 1 or self.hash_counts[line.hash] > 1:
            return at(line, FindingKind.INSERTED, f"a second record {line.seq}")
        later = self.lines[index + 1 :]
        # Its real predecessor comes later in the file: this line was moved up.
        if any(o.seq == line.seq - 1 and o.hash == line.prev for o in later):
            where = next((o for o in later if o.record is not None and o.seq == expected), None)
            found = f" ({where.raw.segment} line {where.raw.line})" if where else ""
            return at(
                line,
                FindingKind.REORDERED,
                f"record {line.seq} comes before record {expected}{found}",
            )
        if skippable:
            return at(line, FindingKind.INSERTED, f"a record {line.seq} that nothing links to")
        missing = f"{expected}" if line.seq == expected + 1 else f"{expected}-{line.seq - 1}"
        return at(
            line, FindingKind.REMOVED, f"record(s) {missing} missing before record {line.seq}"
        )


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint],
    key: Ed25519PublicKey | None,
    by_seq: dict[int, _Line],
) -> list[Finding]:
    findings: list[Finding] = []
    last_seq = max(by_seq, default=0)
    verified_upto = 0
    for checkpoint in sorted(checkpoints, key=lambda c: c.sequence):
        signer = key
        if signer is None and checkpoint.public_key:
            try:
                signer = load_public_key(checkpoint.public_key)
            except ValueError:
                signer = None
        if signer is None:
            findings.append(
                Finding(
                    FindingKind.UNVERIFIABLE, checkpoint.sequence, message="no usable public key"
                )
            )
            continue
        if not checkpoint.signature_valid(signer):
            findings.append(
                Finding(
                    FindingKind.BAD_SIGNATURE,
                    checkpoint.sequence,
                    message=f"checkpoint of {checkpoint.time} is not signed by the agent's key",
                )
            )
            continue
        line = by_seq.get(checkpoint.sequence)
        if checkpoint.sequence == 0 and checkpoint.head_hash == GENESIS_HASH:
            continue
        if line is None:
            findings.append(
                Finding(
                    FindingKind.TRUNCATED,
                    checkpoint.sequence,
                    message=f"checkpoint of {checkpoint.time} signed record "
                    f"{checkpoint.sequence} but the log ends at record {last_seq}",
                )
            )
        elif line.hash != checkpoint.head_hash:
            findings.append(
                Finding(
                    FindingKind.REWRITTEN,
                    checkpoint.sequence,
                    line.raw.segment,
                    line.raw.line,
                    f"record {checkpoint.sequence} differs from the one signed at "
                    f"{checkpoint.time}; rewritten between records {verified_upto + 1} "
                    f"and {checkpoint.sequence}",
                )
            )
        else:
            verified_upto = checkpoint.sequence
    return findings
