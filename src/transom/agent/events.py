"""The agent's own Event Log entries (start, stop, enrolment, certificate renewal, policy
denials, failure to run); changes and drift reach the Event Log through the audit trail.

Windows only: elsewhere the journal and the JSON logs carry the same lines. Writing an event
never stops the agent: the Event Log is a copy for admins, not the record.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from transom.engine.audit.sinks import EventId, EventLogSink, Severity, WindowsEventLog
from transom.engine.result import RunReport, Status

log = logging.getLogger(__name__)


def platform_event_log() -> EventLogSink | None:
    """The Application log on Windows; None elsewhere."""
    return WindowsEventLog() if os.name == "nt" else None


@dataclass(frozen=True)
class AgentEvents:
    sink: EventLogSink | None

    def write(self, event_id: EventId, severity: Severity, message: str) -> None:
        if self.sink is None:
            return
        try:
            self.sink.write(event_id, severity, message)
        except Exception:  # pywintypes.error: the source is not registered, the log is full
            log.warning("could not write event %d to the Event Log", event_id, exc_info=True)

    def started(self, host: str, not_after: str | None, source: str = "enrollment") -> None:
        """``not_after``: the enrolled certificate's end; None for the other credential
        sources, which refresh their own tokens."""
        proof = (
            f"its certificate is valid until {not_after}"
            if not_after is not None
            else f"it proves who it is with the {source} credential source"
        )
        self.write(
            EventId.AGENT_STARTED, Severity.INFORMATION, f"Agent for host {host} started; {proof}."
        )

    def stopped(self, host: str, *, finished: bool) -> None:
        how = (
            "after the change in progress finished"
            if finished
            else "before the change in progress finished: it was ended and runs again at the "
            "next start"
        )
        self.write(
            EventId.AGENT_STOPPED,
            Severity.INFORMATION if finished else Severity.WARNING,
            f"Agent for host {host} stopped {how}.",
        )

    def enrolled(self, host: str, server: str, not_after: str) -> None:
        self.write(
            EventId.ENROLLED,
            Severity.INFORMATION,
            f"Host {host} enrolled with {server}; certificate valid until {not_after}.",
        )

    def rotated(self, host: str, not_after: str) -> None:
        self.write(
            EventId.CERTIFICATE_ROTATED,
            Severity.INFORMATION,
            f"Agent for host {host} renewed its certificate; valid until {not_after}.",
        )

    def denied(self, assignment: str, report: RunReport) -> None:
        """One event per resource the host policy refused in a run."""
        for outcome in report.results:
            if outcome.status is Status.DENIED:
                self.write(
                    EventId.DENIED,
                    Severity.WARNING,
                    f"Assignment {assignment}: {outcome.kind} {outcome.name} was not applied: "
                    f"{outcome.message}",
                )

    def refused(self, assignment: str, message: str) -> None:
        """The host policy refused a whole generation (requireVerifiedSource)."""
        self.write(EventId.DENIED, Severity.WARNING, f"Assignment {assignment}: {message}")

    def error(self, message: str) -> None:
        self.write(EventId.AGENT_ERROR, Severity.ERROR, message)
