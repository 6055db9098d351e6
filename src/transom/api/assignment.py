"""Assignment: what one host must converge to for one Configuration generation."""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from transom.api.conditions import Condition
from transom.api.configuration import MAX_RESOURCES, Mode, RebootPolicy, RemovalPolicy
from transom.api.errors import SpecError
from transom.api.resources import Resource
from transom.api.resources.entry import DEPENDS_ON_RULE, reference_errors
from transom.api.wire import Spec, Status, cel, observed_generation_field


class ObjectReference(Spec):
    namespace: str = Field(default="", description="Namespace of the object.", max_length=63)
    name: str = Field(description="Name of the object.", max_length=253)


class AssignmentSource(Spec):
    """Where this assignment came from: traceable to a commit."""

    configuration: ObjectReference = Field(description="The Configuration.")
    generation: int = Field(description="Its metadata.generation.", ge=1)
    revision: str = Field(default="", description="Git revision, when Flux applied it.")
    kustomization: ObjectReference | None = Field(
        default=None, description="The Flux Kustomization that applied the Configuration."
    )


class AssignmentSpec(Spec):
    model_config = ConfigDict(json_schema_extra=cel(DEPENDS_ON_RULE))

    host: str = Field(description="Name of the Host this is for.", max_length=253)
    source: AssignmentSource = Field(description="Where this assignment came from.")
    resources: list[Resource] = Field(
        description="Resolved resources to converge.",
        max_length=MAX_RESOURCES,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    mode: Mode = Field(default=Mode.APPLY_AND_AUTO_CORRECT, description="Drift mode.")
    reboot_policy: RebootPolicy = Field(default_factory=RebootPolicy, description="Reboot policy.")
    removal_policy: RemovalPolicy = Field(
        default=RemovalPolicy.ORPHAN, description="What to do with resources no longer assigned."
    )

    @model_validator(mode="after")
    def _references(self) -> AssignmentSpec:
        errors = reference_errors(self.resources)
        if errors:
            raise ValueError(str(SpecError(errors)))
        return self


class ResourceResult(Status):
    name: str = Field(description="Resource name.")
    type: str = Field(description="Resource type.")
    in_desired_state: bool = Field(description="Whether the resource matches after the run.")
    changed: bool = Field(default=False, description="Whether the run changed it.")
    skipped: bool = Field(default=False, description="Skipped because a dependency failed.")
    drifted: bool = Field(default=False, description="Found out of its desired state by a check.")
    reason: str = Field(default="", description="CamelCase reason when not in desired state.")
    message: str = Field(default="", description="Error or skip reason.", max_length=1024)
    duration_ms: int = Field(default=0, description="Time spent on it.")


class AssignmentStatus(Status):
    observed_generation: int = observed_generation_field()
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling and Stalled.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    applied_revision: str = Field(default="", description="Git revision last applied.")
    results: list[ResourceResult] = Field(
        default_factory=list,
        description="Per-resource results of the last run.",
        max_length=MAX_RESOURCES,
    )
    drifted: int = Field(default=0, description="Resources found drifted by the last check.")
    reboot_pending: bool = Field(default=False, description="A change waits for a reboot.")
    last_apply_time: str = Field(default="", description="When the last run finished.")


class Assignment(Spec):
    """What one host must converge to; written by the controller, status by the host's agent."""

    model_config = ConfigDict(extra="ignore")

    spec: AssignmentSpec
    status: AssignmentStatus = Field(default_factory=AssignmentStatus)
