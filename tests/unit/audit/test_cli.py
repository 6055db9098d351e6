"""`transom audit verify` and `transom audit show` on local files."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transom.cli.audit import FetchCheckpoints, parse_since, register
from transom.engine.audit import AuditKey, AuditLog, AuditTrail, Checkpoint, Checkpointer

from .helpers import SOURCE, Clock, edit_record, write_records


def run(argv: Sequence[str], fetch: FetchCheckpoints | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transom")
    register(parser.add_subparsers(dest="command", required=True), fetch)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path]:
    log_dir = tmp_path / "audit"
    write_records(log_dir, 12)
    key = AuditKey.load_or_create(tmp_path / "audit.pem")
    checkpoint = Checkpointer(AuditLog(log_dir), key, clock=Clock()).checkpoint()
    published = tmp_path / "published.json"
    published.write_text(json.dumps(checkpoint.to_json()))
    return log_dir, published, tmp_path / "audit.pem.pub"


def test_verify_ok(signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    log_dir, published, public_key = signed
    args = ["audit", "verify", "--log", str(log_dir), "--checkpoints", str(published)]
    assert run([*args, "--public-key", str(public_key)]) == 0
    out = capsys.readouterr().out
    assert "12 records" in out and out.strip().endswith("OK")


def test_verify_names_the_bad_record(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir, published, public_key = signed
    edit_record(log_dir, 4, identity="intruder")
    argv = ["audit", "verify", "--log", str(log_dir), "--checkpoints", str(published)]
    assert run([*argv, "--public-key", str(public_key), "--output", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    assert report["findings"][0] == {
        "kind": "altered",
        "sequence": 5,
        "segment": "audit-00000001.jsonl",
        "line": 5,
        "message": "the record does not match its hash",
    }


def test_verify_uses_local_checkpoints_or_the_host_hook(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir, published, _ = signed
    assert run(["audit", "verify", "--log", str(log_dir)]) == 0
    assert "no witness" in capsys.readouterr().err

    assert run(["audit", "verify", "--log", str(log_dir), "--host", "web-1"]) == 2
    fetched: list[str] = []

    def fetch(host: str) -> list[Checkpoint]:
        fetched.append(host)
        return [Checkpoint.from_json(json.loads(published.read_text()))]

    assert run(["audit", "verify", "--log", str(log_dir), "--host", "web-1"], fetch) == 0
    assert fetched == ["web-1"]


def test_show_filters_by_time_and_hides_intents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    trail = AuditTrail(AuditLog(tmp_path), clock=clock)
    intent = trail.begin(SOURCE, "old", "File", before={}, desired={"a": 1})
    trail.complete(intent, after={"a": 1})
    clock.now += 86400
    intent = trail.begin(SOURCE, "new", "File", before={}, desired={"a": 1})
    trail.complete(intent, after={"a": 1}, reboot=True)

    assert run(["audit", "show", "--log", str(tmp_path), "--since", "2026-01-01T12:00:00Z"]) == 0
    [row] = capsys.readouterr().out.splitlines()
    assert row.startswith("2026-01-02T00:00:00")
    assert "#4 set File/new succeeded reboot [apps/web-farm@7 main@sha1:0a1b2c3d]" in row

    assert run(["audit", "show", "--log", str(tmp_path), "--intents", "--output", "json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["action"] for r in shown] == ["intent", "set", "intent", "set"]


def test_parse_since() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_since("1d", now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_since("2026-01-01T00:00:00") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("yesterday")


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "verify", "--log", str(tmp_path / "nope")]) == 2
    assert run(["audit", "show", "--log", str(tmp_path / "nope")]) == 2


def test_unreadable_key_or_checkpoints_is_a_usage_error(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir, published, public_key = signed
    public_key.write_text("not a key")
    argv = ["audit", "verify", "--log", str(log_dir), "--checkpoints", str(published)]
    assert run([*argv, "--public-key", str(public_key)]) == 2
    published.write_text('{"sequence": "x"}')
    assert run(argv) == 2
    assert "error:" in capsys.readouterr().err
