"""For random logs and one random tampering, verify flags exactly the tampered position."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditResult,
    AuditTrail,
    ChangeSource,
    Checkpointer,
    FindingKind,
    verify,
)
from transom.engine.audit.canonical import canonical_json, sha256_hex

from .helpers import Clock, Lines, tamper

ACTIONS = [AuditAction.SET, AuditAction.DRIFT_DETECTED, AuditAction.DRIFT_CORRECTED]
OPERATIONS = ["edit", "edit-rehash", "delete", "swap", "insert-copy", "insert-forged"]

records = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.text(min_size=1, max_size=12),
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8), max_size=3),
        st.booleans(),
    ),
    min_size=3,
    max_size=25,
)


def build(
    directory: Path, specs: list[tuple[AuditAction, str, dict[str, Any], bool]], cap: int
) -> None:
    trail = AuditTrail(AuditLog(directory, max_segment_bytes=cap), clock=Clock())
    source = ChangeSource("h", "transom:host:h", "ns/c", 1, "main@sha1:1")
    for action, name, state, failed in specs:
        result = AuditResult.FAILED if failed else AuditResult.SUCCEEDED
        trail.record(source, name, "File", action, before={}, after=state, result=result)


def apply(lines: Lines, operation: str, index: int, other: int) -> None:
    items = lines.items
    if operation == "edit":
        record = lines.record(index)
        record["resource"] += "!"
        lines.set_record(index, record)
    elif operation == "edit-rehash":
        record = lines.record(index)
        record["resource"] += "!"
        lines.set_record(index, record, rehash=True)
    elif operation == "delete":
        del items[index]
    elif operation == "swap":
        items[index].data, items[index + 1].data = items[index + 1].data, items[index].data
    elif operation == "insert-copy":
        copy = items[other].data
        items.insert(index, type(items[index])(items[index].segment, copy))
    else:
        forged = lines.record(index)
        forged["error"] = "forged"
        forged["prevHash"] = lines.record(index - 1)["hash"] if index else "0" * 64
        del forged["hash"]
        forged["hash"] = sha256_hex(canonical_json(forged))
        items.insert(index, type(items[index])(items[index].segment, canonical_json(forged)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=records,
    operation=st.sampled_from(OPERATIONS),
    position=st.floats(0, 1, exclude_max=True),
    other=st.floats(0, 1, exclude_max=True),
    cap=st.sampled_from([1500, 4000, 1 << 20]),
)
def test_verify_flags_the_tampered_index_and_never_an_untouched_log(
    specs: list[tuple[AuditAction, str, dict[str, Any], bool]],
    operation: str,
    position: float,
    other: float,
    cap: int,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        build(directory, specs, cap)
        key = AuditKey.generate()
        checkpoint = Checkpointer(AuditLog(directory), key).checkpoint()
        report = verify(directory, [checkpoint], key.public_key)
        assert report.ok, report.findings
        assert report.records == len(specs)

        count = len(specs)
        # A swap needs a neighbour; insertions go before an existing record.
        last = count - 1 if operation == "swap" else count
        index = int(position * last)
        lines = tamper(directory, lambda lines: apply(lines, operation, index, int(other * count)))

        report = verify(directory, [checkpoint], key.public_key)
        assert not report.ok
        bad = report.first_bad
        if bad is None:
            # Rewriting or dropping the head keeps the chain whole: the checkpoint catches it.
            assert operation in ("edit-rehash", "delete") and index == count - 1
            [finding] = report.findings
            assert finding.kind in (FindingKind.REWRITTEN, FindingKind.TRUNCATED)
            assert finding.sequence == count
            return
        # Two identical adjacent lines: either one is the inserted copy.
        flagged = {index}
        if index + 1 < len(lines.items) and lines.items[index].data == lines.items[index + 1].data:
            flagged.add(index + 1)
        assert bad.sequence - 1 in flagged, (operation, index, str(bad))
        assert (bad.segment, bad.line) == lines.location(bad.sequence - 1), (operation, str(bad))
