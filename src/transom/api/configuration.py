"""Configuration: desired state for the hosts a selector picks, written in Git."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator, model_validator

from transom.api.conditions import Condition
from transom.api.errors import SpecError
from transom.api.gates import (
    MAX_APPROVAL_RECORDS,
    MAX_WINDOWS,
    Approval,
    ApprovalRecord,
    MaintenanceWindow,
    RebootBudget,
)

# Re-exported: they were defined here, and most importers still look for them here.
from transom.api.modes import Mode as Mode  # noqa: PLC0414
from transom.api.modes import RebootMode as RebootMode  # noqa: PLC0414
from transom.api.modes import RebootPolicy as RebootPolicy  # noqa: PLC0414
from transom.api.provenance import REQUIRE_VERIFIED_SOURCE_DOC
from transom.api.quantity import IntOrPercent, check_int_or_percent, int_or_percent_rule
from transom.api.readiness import ROLLBACK_NEEDS_READINESS, Readiness, Rollback
from transom.api.resources import Resource
from transom.api.resources.entry import DEPENDS_ON_RULE, reference_errors
from transom.api.wire import LabelSelector, Spec, Status, cel, observed_generation_field

MAX_RESOURCES = 128  # bounded by the dependsOn CEL rule's cost estimate
MAX_FAILING_HOSTS = 10
#: Controller shards at most (`transom controller run --shards`); bounds status.shards.
MAX_SHARDS = 64


class OutsideWindows(StrEnum):
    #: Drift is corrected whenever it is found: windows hold only new generations.
    CORRECT = "Correct"
    #: Outside the host's windows drift is only reported (as ApplyAndMonitor does); it is
    #: corrected once a window opens.
    REPORT = "Report"


class DriftCorrection(Spec):
    """Whether maintenance windows hold the correction of drift (ApplyAndAutoCorrect) too."""

    outside_windows: OutsideWindows = Field(
        default=OutsideWindows.CORRECT,
        description="Correct: drift is corrected at any time; maintenance windows hold only new "
        "generations. Report: outside the host's maintenance windows drift is reported "
        "(DriftDetected, as ApplyAndMonitor does) and nothing is changed; it is corrected at the "
        "opening of the next window, and by drift checks inside one. The host's agent decides "
        "by its own clock.",
    )


DRIFT_REPORT_NEEDS_WINDOWS = {
    "rule": "!has(self.driftCorrection) || !has(self.driftCorrection.outsideWindows) || "
    "self.driftCorrection.outsideWindows != 'Report' || "
    "(has(self.maintenanceWindows) && size(self.maintenanceWindows) > 0)",
    "message": "driftCorrection.outsideWindows: Report needs maintenanceWindows (without them "
    "no host is ever outside a window)",
    "fieldPath": ".driftCorrection.outsideWindows",
}


class RemovalPolicy(StrEnum):
    ORPHAN = "Orphan"
    DELETE = "Delete"


class Partition(Spec):
    """A group of hosts rolled out before the next partition starts."""

    name: str = Field(
        description="Name of the partition.",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
    )
    host_selector: LabelSelector = Field(description="Hosts in this partition.")
    approval: Approval = Field(
        default=Approval.AUTOMATIC,
        description="Manual: the partition waits for `transom approve` of this generation.",
    )
    pause_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 24 * 3600,
        description="Start this partition this long after the ones before it are done.",
    )


class Rollout(Spec):
    """How fast a new generation reaches the selected hosts."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            int_or_percent_rule("maxUnavailable", 1), int_or_percent_rule("maxFailures", 0)
        )
    )

    max_unavailable: IntOrPercent = Field(
        default="25%",
        description="Hosts that may be updating or unavailable at once: a count >= 1 or a "
        "percentage of the selected hosts (rounded up).",
    )
    max_failures: IntOrPercent = Field(
        default=0,
        description="Failed hosts tolerated before the rollout halts and the Configuration is "
        "Stalled: a count or a percentage. 0 halts at the first failure.",
    )
    partitions: list[Partition] = Field(
        default_factory=list,
        description="Optional host groups rolled out in order; hosts in none go last.",
        max_length=16,
    )
    rollback: Rollback = Field(default_factory=Rollback, description="Automatic rollback.")

    @field_validator("max_unavailable")
    @classmethod
    def _max_unavailable(cls, value: int | str) -> int | str:
        return check_int_or_percent(value, "maxUnavailable", 1)

    @field_validator("max_failures")
    @classmethod
    def _max_failures(cls, value: int | str) -> int | str:
        return check_int_or_percent(value, "maxFailures", 0)


class ConfigurationSpec(Spec):
    """What hosts must run, and how the change reaches them."""

    model_config = ConfigDict(
        json_schema_extra=cel(DEPENDS_ON_RULE, ROLLBACK_NEEDS_READINESS, DRIFT_REPORT_NEEDS_WINDOWS)
    )

    host_selector: LabelSelector = Field(description="Selects the Hosts this applies to.")
    resources: list[Resource] = Field(
        description="The resources each selected host must converge to.",
        min_length=1,
        max_length=MAX_RESOURCES,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    mode: Mode = Field(
        default=Mode.APPLY_AND_AUTO_CORRECT,
        description="ApplyOnly, ApplyAndMonitor (report drift) or ApplyAndAutoCorrect (fix it).",
    )
    rollout: Rollout = Field(default_factory=Rollout, description="Rollout policy.")
    readiness: Readiness | None = Field(default=None, description="Probes gating Ready.")
    reboot_policy: RebootPolicy = Field(default_factory=RebootPolicy, description="Reboot policy.")
    removal_policy: RemovalPolicy = Field(
        default=RemovalPolicy.ORPHAN,
        description="What a host does with resources no longer assigned: Orphan leaves them "
        "as they are; Delete removes them.",
    )
    suspend: bool = Field(default=False, description="Stop rolling out new generations.")
    require_verified_source: bool = Field(default=False, description=REQUIRE_VERIFIED_SOURCE_DOC)
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="When hosts may start a new generation; none: any time.",
        max_length=MAX_WINDOWS,
    )
    reboot: RebootBudget | None = Field(
        default=None, description="Fleet-wide reboot budget; unset: hosts reboot per policy."
    )
    drift_correction: DriftCorrection = Field(
        default_factory=DriftCorrection,
        description="Whether maintenance windows also hold drift correction "
        "(mode ApplyAndAutoCorrect); by default drift is corrected at any time.",
    )

    @model_validator(mode="after")
    def _references(self) -> ConfigurationSpec:
        errors = reference_errors(self.resources)
        if errors:
            raise ValueError(str(SpecError(errors)))
        if self.rollout.rollback.on_failure and self.readiness is None:
            raise ValueError(str(ROLLBACK_NEEDS_READINESS["message"]))
        if (
            self.drift_correction.outside_windows is OutsideWindows.REPORT
            and not self.maintenance_windows
        ):
            raise ValueError(DRIFT_REPORT_NEEDS_WINDOWS["message"])
        return self


class FailingHost(Status):
    host: str = Field(description="Name of the Host.")
    resource: str = Field(default="", description="The failing resource, if one.")
    reason: str = Field(description="Reason, a CamelCase constant.")
    message: str = Field(default="", description="What went wrong.", max_length=1024)


class ShardStatus(Status):
    """One controller shard's part of the rollout: its hosts only, written by that shard."""

    shard: int = Field(ge=0, le=MAX_SHARDS - 1, description="The shard (0..N-1).")
    generation: int = Field(default=0, description="The metadata.generation this entry is of.")
    observed_generation: int = observed_generation_field()
    revision: str = Field(default="", description="Git revision this shard rolls out.")
    hosts: int = Field(default=0, description="This shard's hosts selected.")
    updated: int = Field(default=0, description="Of those, assigned the current generation.")
    ready: int = Field(default=0, description="Of those, applied the current generation.")
    failed: int = Field(default=0, description="Of those, failed the current generation.")
    drifted: int = Field(default=0, description="Of those, reporting drift now.")
    unavailable: int = Field(default=0, description="Of those, offline or updating.")
    rebooting: int = Field(default=0, description="Of those, holding a reboot lease.")
    stalled: bool = Field(default=False, description="This shard's rollout halted or cannot go on.")
    reason: str = Field(
        default="", description="Why this shard is where it is, a CamelCase constant."
    )
    message: str = Field(default="", description="This shard's Ready message.", max_length=1024)
    next_window: str = Field(default="", description="When a host here may next start.")
    failing_hosts: list[FailingHost] = Field(
        default_factory=list,
        description=f"At most {MAX_FAILING_HOSTS} of this shard's failing hosts.",
        max_length=MAX_FAILING_HOSTS,
    )


class ConfigurationStatus(Status):
    observed_generation: int = observed_generation_field()
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling and Stalled, as Flux uses them.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    revision: str = Field(default="", description="Git revision of this generation, when known.")
    desired: int = Field(default=0, description="Hosts selected.")
    updated: int = Field(default=0, description="Hosts assigned the current generation.")
    ready: int = Field(default=0, description="Hosts that applied the current generation.")
    failed: int = Field(default=0, description="Hosts that failed the current generation.")
    drifted: int = Field(default=0, description="Hosts reporting drift now.")
    unavailable: int = Field(default=0, description="Hosts offline or updating.")
    summary: str = Field(default="", description="ready/desired, for display.")
    failing_hosts: list[FailingHost] = Field(
        default_factory=list,
        description=f"At most {MAX_FAILING_HOSTS} failing hosts with their reasons.",
        max_length=MAX_FAILING_HOSTS,
    )
    approvals: list[ApprovalRecord] = Field(
        default_factory=list,
        description="Partitions of this generation approved, and by whom.",
        max_length=MAX_APPROVAL_RECORDS,
    )
    next_window: str = Field(
        default="", description="When a host waiting for its maintenance window may next start."
    )
    rebooting: int = Field(default=0, description="Hosts holding a reboot lease.")
    last_handled_reconcile_at: str = Field(
        default="", description="The reconcile.fluxcd.io/requestedAt value last handled."
    )
    shards: list[ShardStatus] = Field(
        default_factory=list,
        description="With a sharded controller: each shard's part, written by that shard; the "
        "fields above are computed from all of them (docs/scale.md).",
        max_length=MAX_SHARDS,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["shard"],
        },
    )


class Configuration(Spec):
    """Desired state for a set of Windows hosts."""

    model_config = ConfigDict(extra="ignore")

    spec: ConfigurationSpec
    status: ConfigurationStatus = Field(default_factory=ConfigurationStatus)
