"""The host policy's ``requireVerifiedSource``: refuse a generation that is not a
signature-verified commit applied by Flux, before anything touches the OS.

The verdict is the Assignment's provenance, written by the controller (the host trusts the
controller for the whole spec already); the rule itself is ``transom.api.provenance.unverified``.
"""

from __future__ import annotations

from transom.agent.status import EVENT_NOTE_MAX
from transom.api.assignment import AssignmentSource, AssignmentStatus
from transom.api.conditions import READY, RECONCILING, STALLED, remove_condition, set_condition
from transom.api.provenance import UNVERIFIED_SOURCE, unverified
from transom.engine.policy import HostPolicy


def refusal(policy: HostPolicy, source: AssignmentSource) -> str:
    """Why this host refuses the generation ("" when it may apply it)."""
    if not policy.require_verified_source:
        return ""
    why = unverified(source.provenance)
    if not why:
        return ""
    return (
        f"host policy requireVerifiedSource refused generation {source.generation}, "
        f"nothing applied: {why}"
    )


def refused(status: AssignmentStatus, generation: int, message: str) -> AssignmentStatus:
    """Stalled, UnverifiedSource: nothing was touched; only a new generation can change it."""
    message = message[:EVENT_NOTE_MAX]
    conditions = remove_condition(status.conditions, RECONCILING)
    conditions = set_condition(
        conditions, READY, "False", UNVERIFIED_SOURCE, message, generation=generation
    )
    conditions = set_condition(
        conditions, STALLED, "True", UNVERIFIED_SOURCE, message, generation=generation
    )
    return status.model_copy(update={"conditions": conditions, "observed_generation": generation})
