"""Where audit records are shown besides the log: the Windows Event Log and JSON logs.

Both only ever see an AuditRecord (digests, redacted error text), never resource state, so
no secret can reach them. Event IDs are documented in docs/audit.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Protocol

from transom.engine.audit.record import AuditAction, AuditRecord, AuditResult

EVENT_SOURCE = "Transom"
#: The fallback message file when Transom's own (``transom-events.dll``, built from
#: ``message_table()`` into the Windows bundle) is not installed: .NET's has a "%1" message
#: for every event ID, so Event Viewer still shows our text; .NET Framework 4 is on Server 2016.
EVENT_MESSAGE_FILE = r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll"
#: ReportEvent's limit for one insertion string.
MAX_EVENT_STRING = 31839


class EventId(IntEnum):
    CHANGE_APPLIED = 1000
    DRIFT_DETECTED = 1001
    DRIFT_CORRECTED = 1002
    APPLY_FAILED = 1003
    REBOOT = 1004
    CHECKPOINT_SIGNED = 1005
    RECOVERED = 1006
    LOG_REPAIRED = 1007
    DENIED = 1008
    ENROLLED = 1009
    CERTIFICATE_ROTATED = 1010
    AGENT_STARTED = 1011
    AGENT_STOPPED = 1012
    AGENT_ERROR = 1013


#: Each event's first line in Event Viewer (the message file's text for its ID); the details
#: follow as the event's insertion string. docs/audit.md lists the same.
EVENT_TITLES: dict[EventId, str] = {
    EventId.CHANGE_APPLIED: "Transom applied a change.",
    EventId.DRIFT_DETECTED: "Transom detected drift.",
    EventId.DRIFT_CORRECTED: "Transom corrected drift.",
    EventId.APPLY_FAILED: "Transom could not apply a change.",
    EventId.REBOOT: "Transom is restarting the computer.",
    EventId.CHECKPOINT_SIGNED: "Transom signed an audit checkpoint.",
    EventId.RECOVERED: "Transom accounted for a change interrupted by a crash.",
    EventId.LOG_REPAIRED: "Transom repaired its audit log.",
    EventId.DENIED: "The host policy denied a resource.",
    EventId.ENROLLED: "This host enrolled with the cluster.",
    EventId.CERTIFICATE_ROTATED: "The agent renewed its client certificate.",
    EventId.AGENT_STARTED: "The Transom agent started.",
    EventId.AGENT_STOPPED: "The Transom agent stopped.",
    EventId.AGENT_ERROR: "The Transom agent cannot run.",
}


def message_table() -> str:
    """The message compiler (``windmc``) source of ``transom-events.dll``: one message per
    event ID, its title then the event's text. Severity "Success" and facility 0 keep each
    message's number equal to the event ID ReportEvent is given."""
    out = ["LanguageNames=(English=0x409:MSG00409)", ""]
    for event_id, title in EVENT_TITLES.items():
        out += [
            f"MessageId={int(event_id)}",
            "Severity=Success",
            f"SymbolicName=TRANSOM_{event_id.name}",
            "Language=English",
            f"{title}%n%n%1",
            ".",
            "",
        ]
    return "\n".join(out)


class Severity(StrEnum):
    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"


class EventLogSink(Protocol):
    def write(self, event_id: EventId, severity: Severity, message: str) -> None: ...


def event_for(record: AuditRecord) -> tuple[EventId, Severity] | None:
    """The Event Log entry a record maps to; None for intents (their completion is shown)."""
    if record.action is AuditAction.INTENT:
        return None
    if record.result is AuditResult.FAILED:
        return EventId.APPLY_FAILED, Severity.ERROR
    return {
        AuditAction.SET: (EventId.CHANGE_APPLIED, Severity.INFORMATION),
        AuditAction.DRIFT_DETECTED: (EventId.DRIFT_DETECTED, Severity.WARNING),
        AuditAction.DRIFT_CORRECTED: (EventId.DRIFT_CORRECTED, Severity.INFORMATION),
        AuditAction.REBOOT: (EventId.REBOOT, Severity.WARNING),
        AuditAction.RECOVERED: (EventId.RECOVERED, Severity.WARNING),
        AuditAction.LOG_REPAIRED: (EventId.LOG_REPAIRED, Severity.WARNING),
    }[record.action]


def describe(record: AuditRecord) -> str:
    """One human line plus the record's fields, for Event Viewer's description pane."""
    what = f"{record.action.value} {record.type} {record.resource}"
    if record.action is not AuditAction.DRIFT_DETECTED:
        what += f": {record.result.value}"
    if record.error:
        what += f": {record.error}"
    origin = (
        f"Configuration {record.configuration} generation {record.generation}, "
        f"revision {record.revision or 'unknown'}, as {record.identity}"
    )
    p = record.provenance or {}
    if p.get("commit"):
        signed = f"signed by {p['signingKey']}" if p.get("signingKey") else "unsigned"
        origin += (
            f"\nCommit {p['commit']} by {p.get('author') or 'unknown'}, {signed}, "
            f"Flux verification {p.get('verification', 'Unknown')}; "
            f"written by {p.get('writer') or 'unknown'}"
        )
    return f"{what}\n{origin}\n\n{json.dumps(record.to_json(), indent=1, sort_keys=True)}"


class WindowsEventLog:
    """Writes to the Application log under the ``Transom`` source via pywin32."""

    def __init__(self, source: str = EVENT_SOURCE) -> None:
        self.source = source

    def write(self, event_id: EventId, severity: Severity, message: str) -> None:
        import win32evtlog  # noqa: PLC0415 - pywin32 exists only on Windows
        import win32evtlogutil  # noqa: PLC0415

        event_type = {
            Severity.INFORMATION: win32evtlog.EVENTLOG_INFORMATION_TYPE,
            Severity.WARNING: win32evtlog.EVENTLOG_WARNING_TYPE,
            Severity.ERROR: win32evtlog.EVENTLOG_ERROR_TYPE,
        }[severity]
        win32evtlogutil.ReportEvent(
            self.source, int(event_id), eventType=event_type, strings=[message[:MAX_EVENT_STRING]]
        )

    def register_source(self, message_file: str = EVENT_MESSAGE_FILE) -> None:
        """Create the event source (needs administrator rights: done by the installer)."""
        import win32evtlogutil  # noqa: PLC0415

        win32evtlogutil.AddSourceToRegistry(self.source, msgDLL=message_file)

    def remove_source(self) -> None:
        import win32evtlogutil  # noqa: PLC0415

        win32evtlogutil.RemoveSourceFromRegistry(self.source)


@dataclass(frozen=True)
class LoggedEvent:
    source: str
    event_id: int
    severity: Severity
    message: str


@dataclass
class InMemoryEventLog:
    """The Event Log's semantics for tests: the source must be registered, IDs fit 16 bits,
    an insertion string is capped as ReportEvent caps it."""

    source: str = EVENT_SOURCE
    registered: bool = True
    events: list[LoggedEvent] = field(default_factory=list)

    def write(self, event_id: EventId, severity: Severity, message: str) -> None:
        if not self.registered:
            raise OSError(f"event source {self.source!r} is not registered")
        if not 0 <= int(event_id) <= 0xFFFF:
            raise ValueError(f"event ID {event_id} out of range")
        self.events.append(
            LoggedEvent(self.source, int(event_id), severity, message[:MAX_EVENT_STRING])
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a record's ``audit`` extra is included as a field."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("eventId", "audit"):
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, sort_keys=True, default=str)
