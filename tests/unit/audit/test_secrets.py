"""A secret passed anywhere into the audit API appears in no file, event or log line."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditResult,
    AuditTrail,
    Checkpointer,
    InMemoryEventLog,
    JsonFormatter,
    digest_state,
)
from transom.engine.redact import Redactor

from .helpers import SOURCE, Clock

SECRET = "hunter2-Pa55w0rd!"


def test_secret_never_reaches_log_checkpoints_events_or_json_logs(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.audit.secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    events = InMemoryEventLog()
    clock = Clock()
    log = AuditLog(tmp_path / "audit")
    trail = AuditTrail(
        log,
        checkpointer=Checkpointer(log, AuditKey.generate(), clock=clock),
        event_log=events,
        logger=logger,
        redact=redactor.value,
        clock=clock,
    )
    file_state = {"path": "C:/app/web.config", "content": f"password={SECRET}"}
    service_state = {"name": "AppSvc", "account": "CORP\\svc", "password": SECRET}

    # apply
    intent = trail.begin(SOURCE, "config", "File", before=None, desired=file_state)
    trail.complete(intent, after=file_state)
    intent = trail.begin(SOURCE, "svc", "Service", before={}, desired=service_state)
    trail.complete(intent, after=service_state, reboot=True)
    # drift, reported then corrected
    drifted = {**service_state, "password": SECRET + "-old"}
    trail.record(
        SOURCE, "svc", "Service", AuditAction.DRIFT_DETECTED, before=service_state, after=drifted
    )
    intent = trail.begin(
        SOURCE,
        "svc",
        "Service",
        action=AuditAction.DRIFT_CORRECTED,
        before=drifted,
        desired=service_state,
    )
    trail.complete(intent, after=service_state)
    # failure whose message quotes the secret
    intent = trail.begin(SOURCE, "svc", "Service", before=drifted, desired=service_state)
    trail.complete(
        intent,
        after=drifted,
        result=AuditResult.FAILED,
        error=f"ChangeServiceConfig failed for password {SECRET}: access denied",
    )
    trail.maybe_checkpoint()

    produced = [p.read_bytes() for p in (tmp_path / "audit").iterdir()]
    produced += [e.message.encode() for e in events.events]
    produced.append(stream.getvalue().encode())
    assert len(events.events) >= 5
    for blob in produced:
        assert SECRET.encode() not in blob
        assert b"hunter2" not in blob
    assert any(b"access denied" in blob for blob in produced)


def test_secret_in_state_without_a_redactor_is_still_only_digested(tmp_path: Path) -> None:
    trail = AuditTrail(AuditLog(tmp_path))
    intent = trail.begin(SOURCE, "svc", "Service", before={}, desired={"password": SECRET})
    trail.complete(intent, after={"password": SECRET})
    for path in tmp_path.iterdir():
        assert SECRET.encode() not in path.read_bytes()


def test_digest_of_redacted_state_does_not_depend_on_the_secret() -> None:
    redactor = Redactor()
    redactor.add("one-secret")
    redactor.add("another-secret")
    assert digest_state(redactor.value({"password": "one-secret"})) == digest_state(
        redactor.value({"password": "another-secret"})
    )
