"""The page's states and the one rule that maps what the API says onto them.

Every colour on the page comes from here: an Assignment's verdict (its reason first, then its
state), a Configuration's Ready (or Reconciling) condition. Reasons are read by name first, then
by family, so a reason added later maps without a change here: ``WaitingForApproval`` or any
other ``Waiting...`` waits, ``ProbeFailed`` or any other ``...Failed`` fails, ``RolledBack`` and
``RollingBack`` fail (the host gave the generation up).
"""

from __future__ import annotations

from enum import StrEnum

from transom.api import conditions as c
from transom.api.assignment import AssignmentState, Verdict


class CellState(StrEnum):
    """The page's colours, in the order the legend shows them."""

    READY = "ready"
    UPDATING = "updating"
    FAILED = "failed"
    DRIFTED = "drifted"
    OFFLINE = "offline"
    WAITING = "waiting"


_BY_REASON: dict[str, CellState] = {
    c.SUCCEEDED: CellState.READY,
    c.PROGRESSING: CellState.UPDATING,
    c.ROLLOUT_IN_PROGRESS: CellState.UPDATING,
    c.APPLY_FAILED: CellState.FAILED,
    c.INVALID_SPEC: CellState.FAILED,
    c.FLAPPING: CellState.FAILED,
    c.RESOURCE_CONFLICT: CellState.FAILED,
    c.DENIED_BY_HOST_POLICY: CellState.FAILED,
    c.ROLLOUT_HALTED: CellState.FAILED,
    c.PROBE_FAILED: CellState.FAILED,
    c.ROLLING_BACK: CellState.FAILED,
    c.ROLLED_BACK: CellState.FAILED,
    c.PROBES_PENDING: CellState.UPDATING,
    c.DRIFT_DETECTED: CellState.DRIFTED,
    c.HOSTS_UNREACHABLE: CellState.OFFLINE,
    c.REBOOT_PENDING: CellState.WAITING,
    c.DEPENDENCY_NOT_READY: CellState.WAITING,
    c.SUSPENDED: CellState.WAITING,
    c.WAITING_FOR_APPROVAL: CellState.WAITING,
    c.WAITING_FOR_WINDOW: CellState.WAITING,
    c.PAUSED: CellState.WAITING,
    c.REBOOT_DEADLINE_EXCEEDED: CellState.FAILED,
}
#: Families, for reasons this table does not name yet.
_PREFIXES = (("Waiting", CellState.WAITING),)
_SUFFIXES = (
    ("Failed", CellState.FAILED),
    ("Halted", CellState.FAILED),
    ("Back", CellState.FAILED),  # RollingBack, RolledBack
)


def state_of_reason(reason: str) -> CellState | None:
    """The state a condition reason means, or None for a reason of no known family."""
    known = _BY_REASON.get(reason)
    if known is not None:
        return known
    for prefix, state in _PREFIXES:
        if reason.startswith(prefix):
            return state
    for suffix, state in _SUFFIXES:
        if reason.endswith(suffix):
            return state
    return None


def state_of_verdict(verdict: Verdict) -> CellState:
    """An Assignment's state: its reason when that says, else what the verdict itself says
    (failed, ready, waiting); anything else is still on its way (updating)."""
    by_reason = state_of_reason(verdict.reason)
    if by_reason is not None:
        return by_reason
    if verdict.failed:
        return CellState.FAILED
    if verdict.state is AssignmentState.DRIFTED:
        return CellState.DRIFTED
    if verdict.ready:
        return CellState.READY
    if verdict.state is AssignmentState.WAITING:
        return CellState.WAITING
    return CellState.UPDATING


def deciding_condition(conditions: list[c.Condition]) -> c.Condition | None:
    """The condition a Configuration's state is read from: Ready when True; else Stalled or
    Reconciling, whichever is True, in that order; else Ready."""
    ready = c.find_condition(conditions, c.READY)
    if ready is not None and ready.status == "True":
        return ready
    for kind in (c.STALLED, c.RECONCILING):
        cond = c.find_condition(conditions, kind)
        if cond is not None and cond.status == "True":
            return cond
    return ready


def state_of_conditions(conditions: list[c.Condition]) -> CellState:
    """A Configuration's state: ready when Ready is True, else what the deciding condition's
    reason means (updating when it means nothing known)."""
    cond = deciding_condition(conditions)
    if cond is None:
        return CellState.UPDATING
    if cond.type == c.READY and cond.status == "True":
        return CellState.READY
    return state_of_reason(cond.reason) or CellState.UPDATING
