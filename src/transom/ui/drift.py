"""A host's recent drift, from the Events its agent writes about its Assignments: one
`DriftDetected` when a check finds resources out of their desired state (again only when the
set changes), one `DriftCorrected` when ApplyAndAutoCorrect puts them back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transom.api.conditions import DRIFT_CORRECTED, DRIFT_DETECTED

DRIFT_REASONS = frozenset({DRIFT_DETECTED, DRIFT_CORRECTED})


@dataclass(frozen=True)
class DriftEvent:
    time: str
    reason: str
    #: The Assignment the Event is about (`<config namespace>.<config name>`).
    assignment: str
    note: str
    count: int = 1


def _time(event: dict[str, Any]) -> str:
    series = event.get("series") or {}
    meta = event.get("metadata") or {}
    return str(
        series.get("lastObservedTime")
        or event.get("eventTime")
        or event.get("deprecatedLastTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def drift_events(items: list[dict[str, Any]]) -> list[DriftEvent]:
    """The drift Events among ``items`` (events.k8s.io/v1), newest first."""
    out = [
        DriftEvent(
            time=_time(e),
            reason=str(e.get("reason") or ""),
            assignment=str((e.get("regarding") or {}).get("name") or ""),
            note=str(e.get("note") or ""),
            count=int((e.get("series") or {}).get("count") or 1),
        )
        for e in items
        if e.get("reason") in DRIFT_REASONS
    ]
    return sorted(out, key=lambda d: d.time, reverse=True)
