"""Condition types and reasons, following Flux (fluxcd/pkg apis/meta) and kstatus.

Ready is always present once an object has been observed; Reconciling and Stalled are present
only while True, and setting one removes the other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Condition types.
READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"

# Reasons shared with Flux, so Flux users read them the same way.
SUCCEEDED = "Succeeded"
PROGRESSING = "Progressing"
DEPENDENCY_NOT_READY = "DependencyNotReady"

# Transom's own reasons.
ROLLOUT_IN_PROGRESS = "RolloutInProgress"
ROLLOUT_HALTED = "RolloutHalted"
HOSTS_UNREACHABLE = "HostsUnreachable"
APPLY_FAILED = "ApplyFailed"
DRIFT_DETECTED = "DriftDetected"
DRIFT_CORRECTED = "DriftCorrected"
RESOURCE_CONFLICT = "ResourceConflict"
INVALID_SPEC = "InvalidSpec"
DENIED_BY_HOST_POLICY = "DeniedByHostPolicy"
REBOOT_PENDING = "RebootPending"
SUSPENDED = "Suspended"
NO_HOSTS_SELECTED = "NoHostsSelected"
#: Applied; the readiness probes have not passed (or not for minReadySeconds) yet.
PROBES_PENDING = "ProbesPending"
#: The probes did not pass by progressDeadlineSeconds.
PROBE_FAILED = "ProbeFailed"
#: The probes failed and the host is re-applying its last Ready generation.
ROLLING_BACK = "RollingBack"
#: The host returned to its last Ready generation; the rollout halts.
ROLLED_BACK = "RolledBack"
# Gates that hold a rollout without failing it (Reconciling, so kstatus says InProgress).
WAITING_FOR_APPROVAL = "WaitingForApproval"
WAITING_FOR_WINDOW = "WaitingForWindow"
PAUSED = "Paused"
#: Event reasons: a partition approved, a reboot lease granted.
APPROVED = "Approved"
REBOOT_GRANTED = "RebootGranted"
#: A host held its reboot lease past the deadline without coming back: the rollout halts.
REBOOT_DEADLINE_EXCEEDED = "RebootDeadlineExceeded"
#: Sharded controller: a shard has no live leader, so its hosts do not progress.
SHARD_MISSING = "ShardMissing"
#: Sharded controller: another shard's rollout halted, so this one holds too.
HALTED_IN_OTHER_SHARD = "HaltedInOtherShard"

# Engine and provider reasons, per resource.
PROVIDER_FAILED = "ProviderFailed"
SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 - a reason, not a password
NOT_CONVERGED = "NotConverged"
FLAPPING = "Flapping"
CHECKSUM_MISMATCH = "ChecksumMismatch"
COMMAND_FAILED = "CommandFailed"

# Windows provider reasons, per resource.
ACCESS_DENIED = "AccessDenied"
NOT_FOUND = "NotFound"
NOT_SUPPORTED = "NotSupported"
SERVICE_DISABLED = "ServiceDisabled"
SERVICE_MARKED_FOR_DELETE = "ServiceMarkedForDelete"
SERVICE_START_FAILED = "ServiceStartFailed"
SERVICE_TIMEOUT = "ServiceTimeout"
INSTALL_FAILED = "InstallFailed"
INSTALL_IN_PROGRESS = "InstallInProgress"
WINDOWS_API_FAILED = "WindowsApiFailed"
POWERSHELL_FAILED = "PowerShellFailed"

#: Out of the desired state without having failed: the resource waits for a reboot or for a
#: dependency, or its drift is only being reported.
WAITING_REASONS = frozenset({DRIFT_DETECTED, REBOOT_PENDING, DEPENDENCY_NOT_READY})


def resource_failed(in_desired_state: bool, reason: str) -> bool:
    """The one rule for "this resource failed", for the engine's outcomes and for the results
    in an Assignment's status alike. A resource skipped behind a failed dependency is not a
    failure of its own: its dependency is."""
    return not in_desired_state and reason not in WAITING_REASONS


ConditionStatus = Literal["True", "False", "Unknown"]


#: metav1.Condition's limit on a message; set_condition cuts longer ones.
MAX_MESSAGE = 32768


class Condition(BaseModel):
    """A status condition in the shape of metav1.Condition."""

    # Built on first use (defer_build), as the models below: `transom apply` never uses them.
    model_config = ConfigDict(populate_by_name=True, extra="forbid", defer_build=True)

    type: str = Field(
        description="Type of condition: Ready, Reconciling or Stalled.",
        pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_]*[A-Za-z0-9])?$",
        max_length=316,
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        alias="observedGeneration",
        ge=0,
        description="The .metadata.generation the condition was set from.",
    )
    last_transition_time: str = Field(
        alias="lastTransitionTime",
        description="Last time the condition changed status (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    reason: str = Field(
        description="CamelCase reason for the condition's last transition.",
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        min_length=1,
        max_length=1024,
    )
    message: str = Field(
        default="",
        max_length=MAX_MESSAGE,
        description="Human-readable detail of the transition.",
    )


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int | None = None,
) -> list[Condition]:
    """Return conditions with one set, keeping lastTransitionTime when the status is unchanged.

    Follows Flux's rules: Reconciling and Stalled exclude each other.
    """
    previous = next((c for c in conditions if c.type == type_), None)
    transition = (
        previous.last_transition_time
        if previous is not None and previous.status == status
        else now_rfc3339()
    )
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:MAX_MESSAGE],
        observed_generation=generation,
        last_transition_time=transition,
    )
    excluded = {type_}
    if type_ == RECONCILING and status == "True":
        excluded.add(STALLED)
    if type_ == STALLED and status == "True":
        excluded.add(RECONCILING)
    return [c for c in conditions if c.type not in excluded] + [new]


def remove_condition(conditions: list[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
