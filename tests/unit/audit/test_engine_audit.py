"""The real engine and posix providers writing the audit trail through AuditObserver."""

from __future__ import annotations

from pathlib import Path

from transom.api.configuration import Mode
from transom.api.resources import parse_resources
from transom.engine.audit import (
    AuditAction,
    AuditLog,
    AuditObserver,
    AuditResult,
    AuditTrail,
    read_records,
    verify,
)
from transom.engine.converge import Engine
from transom.providers.posix import posix_providers

from .helpers import SOURCE

SECRET = "s3cr3t-db-password"


class Secrets:
    def resolve(self, name: str, key: str) -> bytes:
        return SECRET.encode()


def test_apply_drift_and_correction_are_audited_without_secrets(tmp_path: Path) -> None:
    log_dir, target, config = tmp_path / "audit", tmp_path / "motd", tmp_path / "db.conf"
    trail = AuditTrail(AuditLog(log_dir))
    engine = Engine(posix_providers(), secrets=Secrets(), observer=AuditObserver(trail, SOURCE))
    resources = parse_resources(
        [
            {"name": "motd", "file": {"path": str(target), "content": "hello"}},
            {
                "name": "db",
                "file": {
                    "path": str(config),
                    "contentFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                },
            },
        ]
    )
    assert engine.apply(resources).changed

    target.write_text("edited by hand")
    report = engine.check(resources, Mode.APPLY_AND_MONITOR)
    for outcome in report.results:
        trail.record_drift(SOURCE, outcome)
    engine.check(resources, Mode.APPLY_AND_AUTO_CORRECT)

    records = [r for r in read_records(log_dir) if r.action is not AuditAction.INTENT]
    assert [(r.resource, r.action, r.result) for r in records] == [
        ("motd", AuditAction.SET, AuditResult.SUCCEEDED),
        ("db", AuditAction.SET, AuditResult.SUCCEEDED),
        ("motd", AuditAction.DRIFT_DETECTED, AuditResult.PENDING),
        ("motd", AuditAction.DRIFT_CORRECTED, AuditResult.SUCCEEDED),
    ]
    assert trail.pending() == []
    assert verify(log_dir).ok
    assert config.read_text() == SECRET
    for path in log_dir.iterdir():
        assert SECRET.encode() not in path.read_bytes()
