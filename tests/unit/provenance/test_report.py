"""`transom audit report`: rows joined to their provenance and covering checkpoint, the
authorization flag, escaping that survives any value, and --verify catching a rewrite."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.audit.helpers import SOURCE, Clock, Lines
from transom.api.provenance import Provenance, Verification
from transom.cli.audit import register
from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditTrail,
    Checkpoint,
    Checkpointer,
    read_records,
)
from transom.engine.audit.report import (
    ApprovalEntry,
    Authorization,
    ReportRow,
    build_rows,
    join_approvals,
    to_csv,
    to_markdown,
)

VERIFIED = Provenance(
    commit="c" * 40,
    author="Ann <ann@example.test>",
    signing_key="61AF9B22D21B0702DD1BADBE595110A17E042D06",
    verification=Verification.VERIFIED,
    verified_key="595110A17E042D06",
    writer="kustomize-controller",
    writer_operation="Apply",
    flux_applied=True,
).model_dump(mode="json", by_alias=True)
EDITED = {**VERIFIED, "writer": "kubectl-edit", "writerOperation": "Update", "fluxApplied": False}


def host_log(directory: Path, clock: Clock) -> AuditTrail:
    """web-1: a verified change, a drift correction, an out-of-Git edit, each checkpointed."""
    log = AuditLog(directory)
    key = AuditKey.load_or_create(directory.parent / "audit.pem")
    trail = AuditTrail(log, checkpointer=Checkpointer(log, key, clock=clock), clock=clock)
    ok = replace(SOURCE, provenance=VERIFIED)
    intent = trail.begin(ok, "tls", "RegistryValue", before={"v": 0}, desired={"v": 1})
    trail.complete(intent, after={"v": 1})
    clock.now += 3600
    corr = trail.begin(
        ok,
        "tls",
        "RegistryValue",
        before={"v": 9},
        desired={"v": 1},
        action=AuditAction.DRIFT_CORRECTED,
    )
    trail.complete(corr, after={"v": 1})
    trail.maybe_checkpoint()
    clock.now += 3600
    edit = replace(SOURCE, generation=8, provenance=EDITED)
    trail.record(edit, "tls", "RegistryValue", AuditAction.SET, before={"v": 1}, after={"v": 2})
    clock.now += 120
    trail.maybe_checkpoint()
    return trail


def run(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="transom")
    register(parser.add_subparsers(dest="command", required=True), None)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_each_change_is_joined_to_who_authorized_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host_log(tmp_path / "web-1" / "audit", Clock())
    code, out, _ = run(["audit", "report", "--log", str(tmp_path), "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["authorization"] for r in rows] == [
        Authorization.VERIFIED_COMMIT,
        Authorization.DRIFT_CORRECTED,
        Authorization.OUT_OF_GIT_EDIT,
    ]
    first, _, edit = rows
    assert (first["author"], first["signing_key"], first["verification"]) == (
        "Ann <ann@example.test>",
        VERIFIED["signingKey"],
        "Verified",
    )
    assert first["before"].startswith("sha256:") and first["action"] == "set"
    assert edit["writer"] == "kubectl-edit" and edit["generation"] == 8
    # The first checkpoint signs record 4 (after the correction), the second the edit (5).
    assert [r["checkpoint"] for r in rows] == [4, 4, 5]


def test_since_until_and_host_select_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(1_780_000_000.0)  # 2026-05-28T20:26:40Z
    host_log(tmp_path / "web-1" / "audit", clock)
    argv = ["audit", "report", "--log", str(tmp_path), "--format", "json"]
    _, out, _ = run([*argv, "--since", "2026-05-28T21:00:00Z"], capsys)
    assert [r["action"] for r in json.loads(out)] == ["drift-corrected", "set"]
    _, out, _ = run([*argv, "--until", "2026-05-28T21:00:00Z"], capsys)
    assert len(json.loads(out)) == 1
    _, out, _ = run([*argv, "--host", "web-2"], capsys)
    assert json.loads(out) == []


def test_verify_passes_an_untouched_log_and_catches_a_rewritten_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = tmp_path / "web-1" / "audit"
    host_log(log_dir, Clock())
    argv = ["audit", "report", "--log", str(tmp_path), "--format", "json", "--verify"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and {r["check"] for r in json.loads(out)} == {"verified"}

    # Rewrite the first change's author and re-chain every record after it, so the chain
    # alone verifies: only the signed checkpoints can tell.
    lines = Lines(log_dir)
    prev = "0" * 64
    for i in range(len(lines.items)):
        record = lines.record(i)
        if i == 1:
            record["provenance"] = {**record["provenance"], "author": "Eve <eve@example.test>"}
        record["prevHash"] = prev
        lines.set_record(i, record, rehash=True)
        prev = lines.record(i)["hash"]
    lines.save()
    code, out, err = run(argv, capsys)
    assert code == 1 and "do not verify" in err
    rows = json.loads(out)
    assert rows[0]["author"] == "Eve <eve@example.test>" and rows[0]["check"] == "failed"


def row(**values: object) -> ReportRow:
    base = build_rows([], [])  # no rows; build one by hand from the columns
    assert base == []
    defaults: dict[str, object] = {c: "" for c in ReportRow.columns()}
    defaults.update(generation=1, seq=1, checkpoint=0, flux_applied=False)
    defaults.update(values)
    return ReportRow(**defaults)  # type: ignore[arg-type]


text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@given(text, text)
def test_csv_reads_back_every_value_and_runs_no_formula(author: str, resource: str) -> None:
    out = to_csv([row(author=author, resource=resource)])
    header, values = list(csv.reader(io.StringIO(out, newline="")))
    got = dict(zip(header, values, strict=True))
    for column, value in (("author", author), ("resource", resource)):
        cell = got[column]
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
        assert cell == value or cell == "'" + value


def _unescaped_pipes(line: str) -> int:
    count, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        count += line[i] == "|"
        i += 1
    return count


@given(text, text)
def test_markdown_cells_stay_in_their_column(author: str, resource: str) -> None:
    table = to_markdown([row(author=author, resource=resource)])
    lines = table.splitlines()
    assert len(lines) == 3
    columns = len(ReportRow.columns())
    assert _unescaped_pipes(lines[2]) == columns + 1


def test_the_published_checkpoint_catches_a_rewrite_the_hosts_own_store_hides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = tmp_path / "web-1" / "audit"
    trail = host_log(log_dir, Clock())
    assert trail.checkpointer is not None and trail.checkpointer.latest is not None
    published = [trail.checkpointer.latest]  # what the hub holds from Host status

    def fetch(host: str) -> Sequence[Checkpoint]:
        assert host == "web-1"
        return published

    lines = Lines(log_dir)
    prev = "0" * 64
    for i in range(len(lines.items)):
        record = lines.record(i)
        if i == 1:
            record["provenance"] = {**record["provenance"], "author": "Eve <eve@example.test>"}
        record["prevHash"] = prev
        lines.set_record(i, record, rehash=True)
        prev = lines.record(i)["hash"]
    lines.save()
    (log_dir / "checkpoints.jsonl").unlink()  # the intruder removes the host's own witnesses

    argv = ["audit", "report", "--log", str(tmp_path), "--format", "json", "--verify"]
    code, out, err = run(argv, capsys)
    assert code == 0 and {r["check"] for r in json.loads(out)} == {"unwitnessed"}
    assert "no witness" in err

    parser = argparse.ArgumentParser(prog="transom")
    register(parser.add_subparsers(dest="command", required=True), fetch, lambda _c: [])
    args = parser.parse_args([*argv, "--cluster"])
    assert args.func(args) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {r["check"] for r in rows} == {"failed"}


def test_a_newer_agents_extra_provenance_field_does_not_fail_the_report(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path), clock=Clock())
    newer = replace(SOURCE, provenance={**VERIFIED, "approvedBy": "carol"})
    odd = replace(SOURCE, provenance={"verification": "NoSuchVerdict"})
    trail.record(newer, "a", "File", AuditAction.SET)
    trail.record(odd, "b", "File", AuditAction.SET)
    rows = build_rows(read_records(tmp_path), [])
    assert [r.authorization for r in rows] == [
        Authorization.VERIFIED_COMMIT,
        Authorization.NO_PROVENANCE,
    ]
    assert rows[0].author == "Ann <ann@example.test>"


# -- approved_by: the Approvals of the row's generation given before the change ---------------

CONFIGURATIONS = ("apps/web", "apps/db")
moments = st.integers(min_value=0, max_value=50).map(lambda s: f"2026-11-03T10:00:{s:02d}Z")
approval_entries = st.builds(
    ApprovalEntry,
    configuration=st.sampled_from(CONFIGURATIONS),
    generation=st.integers(min_value=1, max_value=3),
    partition=st.sampled_from(("canary", "rest", "eu")),
    approver=st.sampled_from(("alice", "oidc:bob@example.test")),
    approved_at=moments,
)


@given(
    st.lists(approval_entries, max_size=8),
    st.lists(st.tuples(st.sampled_from(CONFIGURATIONS), st.integers(1, 3), moments), max_size=6),
)
def test_approved_by_names_exactly_the_generations_approvals_before_the_change(
    approvals: list[ApprovalEntry], changes: list[tuple[str, int, str]]
) -> None:
    rows = [row(configuration=c, generation=g, time=t) for c, g, t in changes]
    joined = join_approvals(rows, approvals)
    assert [replace(r, approved_by="") for r in joined] == rows
    for r in joined:
        expected = sorted(
            (
                a
                for a in approvals
                if (a.configuration, a.generation) == (r.configuration, r.generation)
                and a.approved_at <= r.time
            ),
            key=lambda a: (a.approved_at, a.partition),
        )
        assert r.approved_by == "; ".join(
            f"{a.partition}: {a.approver} at {a.approved_at}" for a in expected
        )


def test_report_cluster_fills_approved_by_from_the_approvals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = tmp_path / "web-1" / "audit"
    clock = Clock(1_793_700_000.0)  # 2026-11-03
    trail = AuditTrail(AuditLog(log_dir), clock=clock)
    source = replace(SOURCE, provenance=VERIFIED)
    trail.record(source, "tls", "RegistryValue", AuditAction.SET)
    asked: list[set[str]] = []

    def approvals(configurations: set[str]) -> list[ApprovalEntry]:
        asked.append(configurations)
        return [
            ApprovalEntry(
                SOURCE.configuration, SOURCE.generation, "rest", "alice", "2026-11-03T00:00:00Z"
            ),
            ApprovalEntry(
                SOURCE.configuration, SOURCE.generation + 1, "rest", "bob", "2026-11-03T00:00:00Z"
            ),
        ]

    parser = argparse.ArgumentParser(prog="transom")
    register(parser.add_subparsers(dest="command", required=True), lambda _h: [], approvals)
    args = parser.parse_args(
        ["audit", "report", "--log", str(tmp_path), "--format", "json", "--cluster"]
    )
    assert args.func(args) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert asked == [{SOURCE.configuration}]
    assert only["approved_by"] == "rest: alice at 2026-11-03T00:00:00Z"
    # Without --cluster the column is empty: the host's records do not hold approvals.
    args = parser.parse_args(["audit", "report", "--log", str(tmp_path), "--format", "json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)[0]["approved_by"] == ""
