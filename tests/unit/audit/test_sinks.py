"""Event Log entries with documented IDs, and structured JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from transom.engine.audit import (
    AuditAction,
    AuditLog,
    AuditResult,
    AuditTrail,
    EventId,
    InMemoryEventLog,
    JsonFormatter,
    Severity,
    WindowsEventLog,
)

from .helpers import SOURCE


def test_each_kind_of_record_has_its_event_id(tmp_path: Path) -> None:
    events = InMemoryEventLog()
    trail = AuditTrail(AuditLog(tmp_path), event_log=events)
    intent = trail.begin(SOURCE, "site", "IisSite", before={"a": 1}, desired={"a": 2})
    trail.complete(intent, after={"a": 2})
    trail.record(SOURCE, "site", "IisSite", AuditAction.DRIFT_DETECTED, after={"a": 3})
    intent = trail.begin(
        SOURCE, "site", "IisSite", action=AuditAction.DRIFT_CORRECTED, before={}, desired={}
    )
    trail.complete(intent, after={})
    intent = trail.begin(SOURCE, "site", "IisSite", before={}, desired={"a": 2})
    trail.complete(intent, after={}, result=AuditResult.FAILED, error="access denied")
    intent = trail.begin(
        SOURCE, "web-1", "Reboot", action=AuditAction.REBOOT, before=None, desired=None
    )
    trail.complete(intent, after=None, reboot=True)
    intent = trail.begin(SOURCE, "site", "IisSite", before={"a": 1}, desired={"a": 2})
    trail.recover(intent, {"a": 2})

    assert [(e.event_id, e.severity) for e in events.events] == [
        (EventId.CHANGE_APPLIED, Severity.INFORMATION),
        (EventId.DRIFT_DETECTED, Severity.WARNING),
        (EventId.DRIFT_CORRECTED, Severity.INFORMATION),
        (EventId.APPLY_FAILED, Severity.ERROR),
        (EventId.REBOOT, Severity.WARNING),
        (EventId.RECOVERED, Severity.WARNING),
    ]
    failed = events.events[3]
    assert failed.source == "Transom"
    assert "set IisSite site: failed: access denied" in failed.message
    assert "apps/web-farm generation 7, revision main@sha1:0a1b2c3d" in failed.message
    assert "transom:host:web-1" in failed.message


def test_event_log_failure_does_not_lose_the_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="transom.audit")
    trail = AuditTrail(AuditLog(tmp_path), event_log=InMemoryEventLog(registered=False))
    record = trail.record(SOURCE, "x", "File", AuditAction.SET, after={})
    assert trail.log.head == (record.seq, record.hash)
    assert "could not write to the Event Log" in caplog.text


def test_json_log_lines_carry_the_record(tmp_path: Path) -> None:
    formatter = JsonFormatter()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger = logging.getLogger("test.audit.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    trail = AuditTrail(AuditLog(tmp_path), logger=logger)
    trail.record(SOURCE, "x", "File", AuditAction.SET, before={}, after={"a": 1})
    line = json.loads(formatter.format(records[0]))
    assert line["level"] == "info"
    assert line["eventId"] == 1000
    assert line["audit"]["revision"] == "main@sha1:0a1b2c3d"
    assert line["audit"]["seq"] == 1
    assert line["message"] == "set File x: succeeded"


def test_windows_event_log_calls_report_event(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    evtlog = types.ModuleType("win32evtlog")
    evtlog.EVENTLOG_INFORMATION_TYPE = 4  # type: ignore[attr-defined]
    evtlog.EVENTLOG_WARNING_TYPE = 2  # type: ignore[attr-defined]
    evtlog.EVENTLOG_ERROR_TYPE = 1  # type: ignore[attr-defined]
    util = types.ModuleType("win32evtlogutil")

    def report_event(app: str, event_id: int, **kwargs: Any) -> None:
        calls.append(("report", app, event_id, kwargs))

    def add_source(app: str, **kwargs: Any) -> None:
        calls.append(("register", app, kwargs))

    util.ReportEvent = report_event  # type: ignore[attr-defined]
    util.AddSourceToRegistry = add_source  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "win32evtlog", evtlog)
    monkeypatch.setitem(sys.modules, "win32evtlogutil", util)

    sink = WindowsEventLog()
    sink.register_source()
    sink.write(EventId.APPLY_FAILED, Severity.ERROR, "x" * 40000)
    assert calls[0] == (
        "register",
        "Transom",
        {"msgDLL": r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll"},
    )
    kind, app, event_id, kwargs = calls[1]
    assert (kind, app, event_id, kwargs["eventType"]) == ("report", "Transom", 1003, 1)
    assert len(kwargs["strings"][0]) == 31839
