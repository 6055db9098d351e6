"""What the controller knows about one host for one Configuration, from the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transom.api import conditions as c


@dataclass(frozen=True)
class Failure:
    resource: str
    reason: str
    message: str


@dataclass(frozen=True)
class HostView:
    name: str
    online: bool
    #: Configuration generation in the host's Assignment spec; None without an Assignment.
    assigned: int | None = None
    #: Configuration generation the agent finished applying (its status caught up).
    applied: int | None = None
    ready: bool = False
    failure: Failure | None = None
    drifted: int = 0
    revision: str = ""

    def at(self, generation: int) -> bool:
        return self.assigned == generation

    def done(self, generation: int) -> bool:
        return self.applied == generation and (self.ready or self.failure is not None)

    def succeeded(self, generation: int) -> bool:
        return self.applied == generation and self.ready

    def failed(self, generation: int) -> bool:
        return self.applied == generation and self.failure is not None


def view_from_assignment(name: str, online: bool, assignment: dict[str, Any] | None) -> HostView:
    """Read an Assignment as the agent left it: applied only once the agent's status has
    observed the Assignment's own metadata.generation."""
    if assignment is None:
        return HostView(name=name, online=online)
    spec = assignment.get("spec") or {}
    status = assignment.get("status") or {}
    source = spec.get("source") or {}
    assigned = source.get("generation")
    caught_up = status.get("observedGeneration") == assignment["metadata"].get("generation")
    conds = {x.get("type"): x for x in status.get("conditions") or []}
    ready_cond = conds.get(c.READY) or {}
    # A host that applied the generation and then drifted (ApplyAndMonitor leaves drift in
    # place) still runs it: the drift is reported, but must not hold Flux's health check.
    ready = caught_up and (
        ready_cond.get("status") == "True" or ready_cond.get("reason") == c.DRIFT_DETECTED
    )
    failure = None
    stalled = conds.get(c.STALLED)
    if caught_up and stalled is not None and stalled.get("status") == "True":
        failed_result = next(
            (
                r
                for r in status.get("results") or []
                if not r.get("inDesiredState") and not r.get("skipped")
            ),
            None,
        )
        failure = Failure(
            resource=(failed_result or {}).get("name", ""),
            reason=str(stalled.get("reason", c.APPLY_FAILED)),
            message=str((failed_result or {}).get("message") or stalled.get("message", "")),
        )
    return HostView(
        name=name,
        online=online,
        assigned=assigned,
        applied=assigned if caught_up else None,
        ready=ready,
        failure=failure,
        drifted=int(status.get("drifted") or 0),
        revision=str(status.get("appliedRevision") or ""),
    )
