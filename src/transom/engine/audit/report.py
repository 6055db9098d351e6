"""The change report an auditor samples: one row per change on a host, joined to who
authorized it, where it sits in the host's chain and which signed checkpoint covers it.

Built from the records alone (each carries its generation's provenance, see
``transom.api.provenance``) and the checkpoints; ``verify_rows`` re-checks every row against
its host's chain and checkpoints. Rendered as CSV, JSON or Markdown (docs/audit.md says what
each column proves).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from transom.api.provenance import Provenance, Verification
from transom.engine.audit.checkpoint import Checkpoint
from transom.engine.audit.record import AuditAction, AuditRecord
from transom.engine.audit.verify import FindingKind, VerifyReport


class Authorization(StrEnum):
    #: A commit source-controller signature-verified, written into the cluster by Flux alone.
    VERIFIED_COMMIT = "verified-commit"
    #: Applied by Flux from a commit nobody verified the signature of.
    UNVERIFIED_COMMIT = "unverified-commit"
    #: The Configuration was last written by something other than Flux (kubectl edit/apply).
    OUT_OF_GIT_EDIT = "out-of-git-edit"
    #: Transom put back the committed state after someone changed the host; the drift itself
    #: has no commit behind it.
    DRIFT_CORRECTED = "drift-corrected"
    #: Someone changed the host outside Transom and it was only reported (monitor mode).
    DRIFT_DETECTED = "drift-detected"
    #: A record written before provenance was recorded (record version 1).
    NO_PROVENANCE = "no-provenance"


class RowCheck(StrEnum):
    #: Chain intact up to this row and a signed checkpoint that matches covers it.
    VERIFIED = "verified"
    #: Chain intact, but no checkpoint covers it yet (written after the latest).
    UNWITNESSED = "unwitnessed"
    #: The chain or a checkpoint shows this row (or one before it) was altered.
    FAILED = "failed"
    #: Not checked (report made without --verify).
    NOT_CHECKED = ""


#: The completion of an intent is the change; the intent itself is not a row.
_NOT_CHANGES = (AuditAction.INTENT,)


@dataclass(frozen=True)
class ReportRow:
    time: str
    host: str
    resource: str
    type: str
    action: str
    result: str
    before: str
    after: str
    authorization: str
    configuration: str
    generation: int
    revision: str
    commit: str
    author: str
    author_time: str
    committer: str
    signing_key: str
    verification: str
    verified_key: str
    writer: str
    flux_applied: bool
    service_account: str
    kustomization: str
    requested_at: str
    #: Approvals of the row's generation given before the change (see join_approvals).
    approved_by: str
    identity: str
    seq: int
    hash: str
    checkpoint: int
    checkpoint_time: str
    check: str = RowCheck.NOT_CHECKED.value

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def authorization(record: AuditRecord, provenance: Provenance | None) -> Authorization:
    if record.action is AuditAction.DRIFT_CORRECTED:
        return Authorization.DRIFT_CORRECTED
    if record.action is AuditAction.DRIFT_DETECTED:
        return Authorization.DRIFT_DETECTED
    if provenance is None:
        return Authorization.NO_PROVENANCE
    if not provenance.flux_applied:
        return Authorization.OUT_OF_GIT_EDIT
    if provenance.verification is not Verification.VERIFIED:
        return Authorization.UNVERIFIED_COMMIT
    return Authorization.VERIFIED_COMMIT


def _covering(seq: int, checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    """The earliest checkpoint that signs a head at or after ``seq``."""
    later = [c for c in checkpoints if c.sequence >= seq]
    return min(later, key=lambda c: c.sequence) if later else None


#: Wire names of the provenance fields this reader knows; a newer agent's extra ones are left
#: out rather than failing the report.
_KNOWN = frozenset(f.alias or name for name, f in Provenance.model_fields.items())


def provenance_of(record: AuditRecord) -> Provenance | None:
    """The record's provenance; None when it has none or it is not readable as one."""
    if record.provenance is None:
        return None
    try:
        return Provenance.model_validate(
            {k: v for k, v in record.provenance.items() if k in _KNOWN}
        )
    except ValidationError:
        return None


def row_of(record: AuditRecord, checkpoints: Sequence[Checkpoint]) -> ReportRow:
    provenance = provenance_of(record)
    p = provenance or Provenance()
    covering = _covering(record.seq, checkpoints)
    return ReportRow(
        time=record.time,
        host=record.host,
        resource=record.resource,
        type=record.type,
        action=record.action.value,
        result=record.result.value,
        before=record.before,
        after=record.after,
        authorization=authorization(record, provenance).value,
        configuration=record.configuration,
        generation=record.generation,
        revision=record.revision,
        commit=p.commit,
        author=p.author,
        author_time=p.author_time,
        committer=p.committer,
        signing_key=p.signing_key,
        verification=p.verification.value if provenance is not None else "",
        verified_key=p.verified_key,
        writer=p.writer,
        flux_applied=p.flux_applied,
        service_account=p.service_account,
        kustomization=record.kustomization,
        requested_at=p.requested_at,
        approved_by="",
        identity=record.identity,
        seq=record.seq,
        hash=record.hash,
        checkpoint=covering.sequence if covering else 0,
        checkpoint_time=covering.time if covering else "",
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def build_rows(
    records: Iterable[AuditRecord],
    checkpoints: Sequence[Checkpoint],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    host: str | None = None,
) -> list[ReportRow]:
    """One host's rows in ``[since, until)``; ``checkpoints`` are that host's."""
    out = []
    for record in records:
        if record.action in _NOT_CHANGES or (host is not None and record.host != host):
            continue
        when = _instant(record.time)
        if (since is not None and when < since) or (until is not None and when >= until):
            continue
        out.append(row_of(record, checkpoints))
    return out


@dataclass(frozen=True)
class ApprovalEntry:
    """One Approval object as the cluster holds it: ``approver`` is the user the apiserver
    authenticated (admission allows no other name), ``approved_at`` its creationTimestamp."""

    #: ``namespace/name`` of the Configuration, as records name it.
    configuration: str
    generation: int
    partition: str
    approver: str
    approved_at: str

    def cell(self) -> str:
        return f"{self.partition}: {self.approver} at {self.approved_at}"


def join_approvals(
    rows: Sequence[ReportRow], approvals: Iterable[ApprovalEntry]
) -> list[ReportRow]:
    """Each row with the approvals of its Configuration generation given before (or at) its
    time, in time order. A gated partition's hosts start only once it is approved, so a host's
    own partition's approval, if it had one, is among them; a row no approval precedes (an
    ungated canary, a version without gates) gets none."""
    by_generation: dict[tuple[str, int], list[ApprovalEntry]] = {}
    for entry in approvals:
        if entry.approved_at:
            by_generation.setdefault((entry.configuration, entry.generation), []).append(entry)
    for entries in by_generation.values():
        entries.sort(key=lambda e: (_instant(e.approved_at), e.partition))
    return [replace(row, approved_by=_approved_by(row, by_generation)) for row in rows]


def _approved_by(
    row: ReportRow, by_generation: Mapping[tuple[str, int], Sequence[ApprovalEntry]]
) -> str:
    when = _instant(row.time)
    entries = by_generation.get((row.configuration, row.generation), ())
    return "; ".join(e.cell() for e in entries if _instant(e.approved_at) <= when)


_CHAIN_KINDS = frozenset(
    {
        FindingKind.ALTERED,
        FindingKind.REMOVED,
        FindingKind.INSERTED,
        FindingKind.REORDERED,
        FindingKind.TORN,
    }
)
_CHECKPOINT_KINDS = frozenset(
    {FindingKind.TRUNCATED, FindingKind.REWRITTEN, FindingKind.BAD_SIGNATURE}
)


def verify_rows(
    rows: Sequence[ReportRow], report: VerifyReport, checkpoints: Sequence[Checkpoint]
) -> list[ReportRow]:
    """Each of one host's rows marked verified, unwitnessed or failed by ``report`` (the
    host's ``verify`` over the same ``checkpoints``)."""
    chain_bad = min(
        (f.sequence for f in report.findings if f.kind in _CHAIN_KINDS), default=math.inf
    )
    bad_checkpoints = {f.sequence for f in report.findings if f.kind in _CHECKPOINT_KINDS}
    unverifiable = {f.sequence for f in report.findings if f.kind is FindingKind.UNVERIFIABLE}
    first_bad = min(bad_checkpoints, default=math.inf)
    witnessed = max(
        (
            c.sequence
            for c in checkpoints
            if c.sequence < first_bad
            and c.sequence not in bad_checkpoints
            and c.sequence not in unverifiable
        ),
        default=0,
    )
    out = []
    for row in rows:
        if row.seq >= chain_bad or (first_bad != math.inf and row.seq > witnessed):
            check = RowCheck.FAILED
        elif row.seq <= witnessed and row.hash:
            check = RowCheck.VERIFIED
        else:
            check = RowCheck.UNWITNESSED
        out.append(replace(row, check=check.value))
    return out


# -- rendering -------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection): a leading =, +, -, @,
    tab or carriage return is quoted away with an apostrophe, as OWASP advises."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: Sequence[ReportRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(ReportRow.columns())
    for row in rows:
        writer.writerow([_csv_safe(_cell(v)) for v in asdict(row).values()])
    return buf.getvalue()


def to_json(rows: Sequence[ReportRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2, sort_keys=False) + "\n"


#: Markdown's table and inline syntax: escaped so a value cannot end a cell or format text.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|`*_[]<>#!~"})


#: Every line boundary str.splitlines knows (a table row must stay one line), and the other
#: control characters, shown as \xNN.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _md(text: str) -> str:
    text = _LINE_BREAK.sub("<br>", text.translate(_MD_SPECIAL))
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def to_markdown(rows: Sequence[ReportRow]) -> str:
    columns = ReportRow.columns()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_md(_cell(v)) for v in asdict(row).values()) + " |")
    return "\n".join(lines) + "\n"


RENDERERS = {"csv": to_csv, "json": to_json, "md": to_markdown}
