"""The host's own reading of its maintenance windows: whether a new generation may start now,
and whether drift is corrected or only reported now.

The controller writes a new generation only inside the host's window; the agent checks again
when it receives it (defence in depth: a host that was offline through its window gets a
decision that is stale by then). Both decide with `transom.api.windows`, the one rule; this
module only carries the Assignment's windows to it, keeps them on disk for a restart without
the API, and says what the status shows while a generation waits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from transom.api.assignment import AssignmentStatus, HostMaintenance, revision_text
from transom.api.conditions import READY, RECONCILING, WAITING_FOR_WINDOW, set_condition
from transom.api.configuration import Mode, OutsideWindows
from transom.api.windows import Span, Verdict, evaluate_spans
from transom.engine.atomicfile import write_atomic

log = logging.getLogger(__name__)

#: Next to the journal: the windows of the generation the host enforces.
WINDOWS_FILE = "windows.json"
#: The longest the agent sleeps before looking at its windows again: the wall clock may be
#: set (NTP, an admin) while it sleeps on the monotonic one.
RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class WindowGate:
    spans: tuple[Span, ...]
    report_outside: bool
    room: timedelta
    source: HostMaintenance

    @classmethod
    def of(cls, maintenance: HostMaintenance | None) -> WindowGate | None:
        if maintenance is None:
            return None
        return cls(
            tuple(Span.of(w) for w in maintenance.windows),
            maintenance.drift_correction is OutsideWindows.REPORT,
            timedelta(seconds=maintenance.start_room_seconds),
            maintenance,
        )

    def may_start(self, now: datetime) -> Verdict:
        """May a new generation start at ``now`` (with room for it, as the controller asks)?"""
        return evaluate_spans(self.spans, now, room=self.room)

    def drift_mode(self, mode: Mode, now: datetime) -> tuple[Mode, datetime | None]:
        """The mode drift checks run in at ``now``, and when that may change next (None: it
        does not). ApplyAndAutoCorrect outside the windows, with Report, only reports."""
        if mode is not Mode.APPLY_AND_AUTO_CORRECT or not self.report_outside:
            return mode, None
        verdict = evaluate_spans(self.spans, now, room=timedelta(0))
        if verdict.open:
            return mode, verdict.closes_at
        return Mode.APPLY_AND_MONITOR, verdict.opens_at


def effective_mode(gate: WindowGate | None, mode: Mode, now: datetime) -> Mode:
    return mode if gate is None else gate.drift_mode(mode, now)[0]


def next_look(gate: WindowGate | None, mode: Mode, now: datetime) -> float | None:
    """Seconds until the drift mode may change (at most RECHECK_SECONDS); None: it never
    depends on the windows."""
    if gate is None or not gate.report_outside or mode is not Mode.APPLY_AND_AUTO_CORRECT:
        return None
    return _until(gate.drift_mode(mode, now)[1], now)


def _until(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return RECHECK_SECONDS
    return max(0.0, min(RECHECK_SECONDS, (moment - now).total_seconds()))


def wake_after(verdict: Verdict, now: datetime) -> float:
    """Seconds until a generation held by ``verdict`` should be looked at again."""
    return _until(verdict.opens_at, now)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def waiting(
    status: AssignmentStatus, generation: int, source_generation: int, revision: str, v: Verdict
) -> AssignmentStatus:
    """The status of a generation held by the host's windows: Reconciling (the controller
    and kstatus read it as in progress) with reason WaitingForWindow, and when it may start."""
    opens = f"; next opens {rfc3339(v.opens_at)}" if v.opens_at else "; no window opens soon"
    message = (
        f"{revision_text(source_generation, revision)} waits for the host's maintenance "
        f"window ({v.reason}){opens}"
    )
    conditions = set_condition(
        status.conditions, RECONCILING, "True", WAITING_FOR_WINDOW, message, generation=generation
    )
    conditions = set_condition(
        conditions, READY, "False", WAITING_FOR_WINDOW, message, generation=generation
    )
    return status.model_copy(
        update={
            "conditions": conditions,
            "next_window": rfc3339(v.opens_at) if v.opens_at else "",
        }
    )


def save(folder: Path, gate: WindowGate | None) -> None:
    """Keep the enforced generation's windows for a restart without the API."""
    path = folder / WINDOWS_FILE
    if gate is None:
        path.unlink(missing_ok=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    body = gate.source.model_dump_json(by_alias=True, exclude_none=True)
    write_atomic(str(path), body.encode())


def load(folder: Path) -> WindowGate | None:
    """The windows saved with the journal; None when there are none (or they are unreadable:
    then drift is corrected as without windows until the API's copy is seen, and said so)."""
    path = folder / WINDOWS_FILE
    try:
        return WindowGate.of(HostMaintenance.model_validate_json(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as exc:
        log.error("%s unreadable, windows not applied until the API's copy: %s", path, exc)
        return None
