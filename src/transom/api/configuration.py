"""Configuration: desired state for the hosts a selector picks, written in Git."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from transom.api.conditions import Condition
from transom.api.errors import SpecError

# Re-exported: they were defined here, and most importers still look for them here.
from transom.api.modes import Mode as Mode  # noqa: PLC0414
from transom.api.modes import RebootMode as RebootMode  # noqa: PLC0414
from transom.api.modes import RebootPolicy as RebootPolicy  # noqa: PLC0414
from transom.api.provenance import REQUIRE_VERIFIED_SOURCE_DOC
from transom.api.readiness import ROLLBACK_NEEDS_READINESS, Readiness, Rollback
from transom.api.resources import Resource
from transom.api.resources.entry import DEPENDS_ON_RULE, reference_errors
from transom.api.wire import LabelSelector, Spec, Status, cel, observed_generation_field

MAX_RESOURCES = 128  # bounded by the dependsOn CEL rule's cost estimate
MAX_FAILING_HOSTS = 10
PERCENT_PATTERN = r"^(100|[1-9][0-9]?)%$"


class RemovalPolicy(StrEnum):
    ORPHAN = "Orphan"
    DELETE = "Delete"


IntOrPercent = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


def _int_or_percent_rule(field: str, minimum: int) -> dict[str, str]:
    return {
        "rule": f"type(self.{field}) == int ? self.{field} >= {minimum} : "
        f"string(self.{field}).matches('{PERCENT_PATTERN}')",
        "message": f"{field} must be an integer >= {minimum} or a percentage "
        "from 1% to 100% (e.g. 25%)",
        "fieldPath": f".{field}",
    }


def _check_int_or_percent(value: int | str, field: str, minimum: int) -> int | str:
    ok = value >= minimum if isinstance(value, int) else bool(re.match(PERCENT_PATTERN, value))
    if not ok:
        raise ValueError(
            f"{field} must be an integer >= {minimum} or a percentage from 1% to 100% "
            f"(got {value!r})"
        )
    return value


class Partition(Spec):
    """A group of hosts rolled out before the next partition starts."""

    name: str = Field(
        description="Name of the partition.",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
    )
    host_selector: LabelSelector = Field(description="Hosts in this partition.")


class Rollout(Spec):
    """How fast a new generation reaches the selected hosts."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            _int_or_percent_rule("maxUnavailable", 1), _int_or_percent_rule("maxFailures", 0)
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
        return _check_int_or_percent(value, "maxUnavailable", 1)

    @field_validator("max_failures")
    @classmethod
    def _max_failures(cls, value: int | str) -> int | str:
        return _check_int_or_percent(value, "maxFailures", 0)


class ConfigurationSpec(Spec):
    """What hosts must run, and how the change reaches them."""

    model_config = ConfigDict(json_schema_extra=cel(DEPENDS_ON_RULE, ROLLBACK_NEEDS_READINESS))

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

    @model_validator(mode="after")
    def _references(self) -> ConfigurationSpec:
        errors = reference_errors(self.resources)
        if errors:
            raise ValueError(str(SpecError(errors)))
        if self.rollout.rollback.on_failure and self.readiness is None:
            raise ValueError(str(ROLLBACK_NEEDS_READINESS["message"]))
        return self


class FailingHost(Status):
    host: str = Field(description="Name of the Host.")
    resource: str = Field(default="", description="The failing resource, if one.")
    reason: str = Field(description="Reason, a CamelCase constant.")
    message: str = Field(default="", description="What went wrong.", max_length=1024)


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
    last_handled_reconcile_at: str = Field(
        default="", description="The reconcile.fluxcd.io/requestedAt value last handled."
    )


class Configuration(Spec):
    """Desired state for a set of Windows hosts."""

    model_config = ConfigDict(extra="ignore")

    spec: ConfigurationSpec
    status: ConfigurationStatus = Field(default_factory=ConfigurationStatus)
