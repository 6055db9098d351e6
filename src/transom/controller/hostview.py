"""What the controller knows about one host for one Configuration, from the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from transom.api.assignment import Assignment


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
    #: The host's probes failed and it went back to its last Ready generation (or is going).
    rolled_back: bool = False
    #: When the agent finished this Assignment's last run (epoch seconds), if known.
    finished_at: float | None = None
    #: The agent's status says a change waits for a reboot.
    reboot_requested: bool = False
    #: When the host was granted the reboot lease it holds (epoch seconds); None: it holds none.
    reboot_since: float | None = None
    #: Its agent holds the generation until the host's maintenance window opens.
    waiting_for_window: bool = False

    @classmethod
    def from_assignment(
        cls,
        name: str,
        online: bool,
        assignment: Assignment | None,
        *,
        reboot_since: float | None = None,
    ) -> HostView:
        """Read an Assignment as the agent left it, with the one verdict: applied only once
        the agent's status has observed the Assignment's own metadata.generation."""
        if assignment is None:
            return cls(name=name, online=online, reboot_since=reboot_since)
        assigned = assignment.spec.source.generation
        verdict = assignment.verdict()
        caught_up = assignment.caught_up()
        reboot_pending = caught_up and assignment.status.reboot_pending
        reboot_budgeted = assignment.spec.reboot_lease
        failure = (
            Failure(verdict.resource, verdict.reason, verdict.detail or verdict.message)
            if caught_up and verdict.failed
            else None
        )
        return cls(
            name=name,
            online=online,
            assigned=assigned,
            applied=assigned if caught_up else None,
            # A host that applied the generation and then drifted (ApplyAndMonitor leaves
            # drift in place) still runs it: the drift is reported, but must not hold Flux's
            # health check.
            # Under a reboot budget a change is done once the host is back from its reboot.
            ready=caught_up and verdict.ready and not (reboot_budgeted and reboot_pending),
            failure=failure,
            drifted=assignment.status.drifted,
            revision=assignment.status.applied_revision,
            rolled_back=caught_up and verdict.rolled_back,
            finished_at=epoch(assignment.status.last_apply_time) if caught_up else None,
            reboot_requested=reboot_pending,
            reboot_since=reboot_since,
            waiting_for_window=assignment.waits_for_window(),
        )

    def at(self, generation: int) -> bool:
        return self.assigned == generation

    def done(self, generation: int) -> bool:
        return self.applied == generation and (self.ready or self.failure is not None)

    def succeeded(self, generation: int) -> bool:
        return self.applied == generation and self.ready

    def failed(self, generation: int) -> bool:
        return self.applied == generation and self.failure is not None


def epoch(rfc3339: str) -> float | None:
    """An RFC 3339 time (as the API writes them) in epoch seconds; None when empty or bad."""
    if not rfc3339:
        return None
    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
