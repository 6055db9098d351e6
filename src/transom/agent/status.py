"""Assignment status and Events from engine reports: pure functions, no I/O.

Conditions follow Flux and kstatus: Ready is always set once observed; Reconciling only while
a run is in progress; Stalled when a resource failed and only a spec change or a human helps.
observedGeneration moves only when a run of that generation finished (or the spec was found
invalid), so a crash mid-run leaves the old value and the next start runs it again.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from transom.api.assignment import AssignmentStatus, ResourceResult, revision_text
from transom.api.conditions import (
    INVALID_SPEC,
    PROGRESSING,
    READY,
    RECONCILING,
    STALLED,
    find_condition,
    remove_condition,
    set_condition,
)
from transom.api.errors import SpecError
from transom.api.names import event_name
from transom.api.readiness import ReadinessStatus, RollbackStatus
from transom.api.wire import API_VERSION
from transom.engine.result import RunReport

EVENT_NOTE_MAX = 1024
REPORTING_CONTROLLER = "transom.dev/agent"


def in_progress(status: AssignmentStatus, generation: int, revision: str) -> AssignmentStatus:
    message = f"applying {revision_text(generation, revision)}"
    conditions = set_condition(
        status.conditions, RECONCILING, "True", PROGRESSING, message, generation=generation
    )
    conditions = set_condition(
        conditions, READY, "Unknown", PROGRESSING, message, generation=generation
    )
    # A new run: the probes and any rollback of the last one are history, and so is a wait
    # for the host's maintenance window.
    return status.model_copy(
        update={"conditions": conditions, "readiness": None, "rollback": None, "next_window": ""}
    )


def invalid(status: AssignmentStatus, generation: int, error: SpecError) -> AssignmentStatus:
    """The spec cannot be applied: nothing was touched, and retrying will not help."""
    message = f"invalid spec, nothing applied: {error}"[:EVENT_NOTE_MAX]
    conditions = remove_condition(status.conditions, RECONCILING)
    conditions = set_condition(
        conditions, READY, "False", INVALID_SPEC, message, generation=generation
    )
    conditions = set_condition(
        conditions, STALLED, "True", INVALID_SPEC, message, generation=generation
    )
    return status.model_copy(update={"conditions": conditions, "observed_generation": generation})


def _with_results(
    status: AssignmentStatus,
    results: list[ResourceResult],
    generation: int,
    revision: str,
    *,
    finished_run: bool,
) -> AssignmentStatus:
    return status.with_results(results, generation, revision, finished_run=finished_run)


def applied(
    status: AssignmentStatus,
    generation: int,
    revision: str,
    report: RunReport,
    *,
    readiness: ReadinessStatus | None = None,
    rollback: RollbackStatus | None = None,
) -> AssignmentStatus:
    """A finished run: its results, with the probes (and a rollback) it starts out with."""
    results = [o.to_result() for o in report.results]
    status = status.model_copy(update={"readiness": readiness, "rollback": rollback})
    return _with_results(status, results, generation, revision, finished_run=True)


def checked(
    status: AssignmentStatus, generation: int, revision: str, report: RunReport
) -> AssignmentStatus:
    """Merge a drift check (possibly of a few resources) into the last results."""
    fresh = {o.name: o.to_result() for o in report.results}
    results = [_unless_same(fresh.pop(r.name, r), r) for r in status.results]
    results.extend(fresh.values())
    return _with_results(status, results, generation, revision, finished_run=False)


def _unless_same(new: ResourceResult, old: ResourceResult) -> ResourceResult:
    """The old result when only the time taken differs: a check that finds the same thing
    again is not a status change."""
    return old if new.model_copy(update={"duration_ms": old.duration_ms}) == old else new


def drift_summary(report: RunReport) -> tuple[list[str], list[str]]:
    """Names of resources found drifted and still drifted, and those corrected."""
    outstanding = [o.name for o in report.results if o.drifted and not o.in_desired_state]
    corrected = [o.name for o in report.results if o.drifted and o.in_desired_state]
    return outstanding, corrected


def is_ready(status: AssignmentStatus) -> bool:
    ready = find_condition(status.conditions, READY)
    return ready is not None and ready.status == "True"


#: Status fields a later run clears: a merge patch keeps what it leaves out, so these go as
#: null, which removes them.
CLEARED_AS_NULL = ("readiness", "rollback")


def wire(status: AssignmentStatus) -> dict[str, Any]:
    out = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    for name in CLEARED_AS_NULL:
        out.setdefault(name, None)
    return out


def same(a: AssignmentStatus, b: AssignmentStatus) -> bool:
    return wire(a) == wire(b)


def micro_time() -> str:
    """metav1.MicroTime, as Events and Leases want it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(
    host: str,
    assignment: dict[str, Any],
    *,
    warning: bool,
    reason: str,
    action: str,
    note: str,
) -> dict[str, Any]:
    """An events.k8s.io/v1 Event about an Assignment. ``note`` comes from engine results,
    which are redacted already: no secret value reaches it."""
    meta = assignment.get("metadata", {})
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(meta.get("name", "assignment"), secrets.token_hex(8)),
            "namespace": meta.get("namespace"),
        },
        "eventTime": micro_time(),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": f"transom-agent-{host}",
        "action": action,
        "reason": reason,
        "type": "Warning" if warning else "Normal",
        "note": note[:EVENT_NOTE_MAX],
        "regarding": {
            "apiVersion": API_VERSION,
            "kind": "Assignment",
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
    }
