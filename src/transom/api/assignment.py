"""Assignment: what one host must converge to for one Configuration generation, and the
one reading of its status (`verdict()`) that the agent writes with and the controller,
`transom status`, `transom trace` and the tests read with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from transom.api.conditions import (
    APPLY_FAILED,
    DRIFT_DETECTED,
    FLAPPING,
    INVALID_SPEC,
    PROBE_FAILED,
    PROBES_PENDING,
    PROGRESSING,
    READY,
    REBOOT_PENDING,
    RECONCILING,
    ROLLED_BACK,
    ROLLING_BACK,
    STALLED,
    SUCCEEDED,
    WAITING_FOR_WINDOW,
    Condition,
    find_condition,
    now_rfc3339,
    remove_condition,
    resource_failed,
    set_condition,
)
from transom.api.configuration import (
    MAX_RESOURCES,
    Mode,
    OutsideWindows,
    RebootPolicy,
    RemovalPolicy,
)
from transom.api.gates import MAX_WINDOWS, MaintenanceWindow
from transom.api.provenance import UNVERIFIED_SOURCE, Provenance
from transom.api.readiness import (
    Readiness,
    ReadinessState,
    ReadinessStatus,
    Rollback,
    RollbackState,
    RollbackStatus,
)
from transom.api.resources.entry import DerivedResources
from transom.api.wire import API_VERSION, ObjectMeta, Spec, Status, observed_generation_field


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
    provenance: Provenance | None = Field(
        default=None, description="Who authorized this generation (commit, signer, writer)."
    )


class HostMaintenance(Spec):
    """The host's maintenance windows, for its agent to evaluate itself (by
    `transom.api.windows`, the rule the controller follows): a new generation received
    outside them waits for the next one, and with driftCorrection Report drift is only
    reported outside them."""

    windows: list[MaintenanceWindow] = Field(
        description="The Configuration's maintenance windows this host follows (those whose "
        "hostSelector matches its labels, and those without one), copied without hostSelector.",
        min_length=1,
        max_length=MAX_WINDOWS,
    )
    drift_correction: OutsideWindows = Field(
        default=OutsideWindows.CORRECT,
        description="The Configuration's driftCorrection.outsideWindows: Correct corrects drift "
        "at any time, Report only inside the windows.",
    )
    start_room_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 24 * 3600,
        description="A new generation starts only with at least this long left in a window: the "
        "reboot budget's expectedDuration when a change may reboot, else 0.",
    )


class AssignmentSpec(Spec):
    host: str = Field(description="Name of the Host this is for.", max_length=253)
    source: AssignmentSource = Field(description="Where this assignment came from.")
    resources: DerivedResources = Field(
        description="Resolved resources to converge.", max_length=MAX_RESOURCES
    )
    mode: Mode = Field(default=Mode.APPLY_AND_AUTO_CORRECT, description="Drift mode.")
    reboot_policy: RebootPolicy = Field(default_factory=RebootPolicy, description="Reboot policy.")
    reboot_lease: bool = Field(
        default=False,
        description="Reboot only holding the reboot lease the controller grants (the "
        "Configuration's reboot budget), and release it once back and re-applied.",
    )
    removal_policy: RemovalPolicy = Field(
        default=RemovalPolicy.ORPHAN, description="What to do with resources no longer assigned."
    )
    readiness: Readiness | None = Field(default=None, description="Probes gating Ready.")
    rollback: Rollback = Field(default_factory=Rollback, description="Automatic rollback.")
    maintenance: HostMaintenance | None = Field(
        default=None,
        description="The host's maintenance windows, evaluated by the agent too; unset: the "
        "host follows none, and starts and corrects at any time.",
    )


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

    @property
    def failed(self) -> bool:
        return resource_failed(self.in_desired_state, self.reason)


class AssignmentState(StrEnum):
    #: The agent has not finished this generation (or has not started it).
    APPLYING = "Applying"
    READY = "Ready"
    #: Applied; drift was found and only reported (ApplyAndMonitor). The host still runs the
    #: generation, so drift must not hold a rollout or Flux's health check.
    DRIFTED = "Drifted"
    #: Applied; a resource waits for something that is not an error (a reboot, a dependency).
    WAITING = "Waiting"
    #: Applied; the readiness probes have not passed (for minReadySeconds) yet.
    PROBING = "Probing"
    FAILED = "Failed"
    #: The probes failed past the deadline; the host re-applies its last Ready generation.
    ROLLING_BACK = "RollingBack"
    #: The host returned to its last Ready generation: this one failed there.
    ROLLED_BACK = "RolledBack"


_FAILED_STATES = frozenset(
    {AssignmentState.FAILED, AssignmentState.ROLLING_BACK, AssignmentState.ROLLED_BACK}
)


@dataclass(frozen=True)
class Verdict:
    state: AssignmentState
    reason: str
    message: str
    #: The first failed (or waiting) resource, and its own message.
    resource: str = ""
    detail: str = ""

    @property
    def ready(self) -> bool:
        """The host runs the generation."""
        return self.state in (AssignmentState.READY, AssignmentState.DRIFTED)

    @property
    def failed(self) -> bool:
        """The host did not make this generation work (a rollback included)."""
        return self.state in _FAILED_STATES

    @property
    def rolled_back(self) -> bool:
        """The host gave this generation up for its last Ready one: the rollout must halt."""
        return self.state in (AssignmentState.ROLLING_BACK, AssignmentState.ROLLED_BACK)

    @property
    def done(self) -> bool:
        return self.ready or self.failed


def _from_results(results: Sequence[ResourceResult]) -> Verdict:
    failed = [r for r in results if r.failed]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        detail = f": {first.message}" if first.message else ""
        return Verdict(
            AssignmentState.FAILED,
            FLAPPING if first.reason == FLAPPING else APPLY_FAILED,
            f"resource {first.name} ({first.type}) failed: {first.reason or 'Failed'}"
            f"{detail}{more}",
            resource=first.name,
            detail=first.message,
        )
    drifted = [r for r in results if not r.in_desired_state and r.reason == DRIFT_DETECTED]
    if drifted:
        names = ", ".join(r.name for r in drifted[:5])
        return Verdict(
            AssignmentState.DRIFTED,
            DRIFT_DETECTED,
            f"{len(drifted)} resource(s) drifted: {names}",
            resource=drifted[0].name,
            detail=drifted[0].message,
        )
    waiting = [r for r in results if not r.in_desired_state]
    if waiting:
        first = waiting[0]
        return Verdict(
            AssignmentState.WAITING,
            first.reason,
            f"resource {first.name} ({first.type}): {first.message}",
            resource=first.name,
            detail=first.message,
        )
    return Verdict(
        AssignmentState.READY, SUCCEEDED, f"{len(results)} resource(s) in the desired state"
    )


def _decide(
    results: Sequence[ResourceResult],
    readiness: ReadinessStatus | None,
    rollback: RollbackStatus | None,
) -> Verdict:
    """The verdict of a finished run: a rollback says most, then the resources' results, then
    the readiness probes (which run only once every resource converged)."""
    if rollback is not None:
        to = revision_text(rollback.to_generation, rollback.to_revision)
        if rollback.state is RollbackState.ROLLING_BACK:
            return Verdict(
                AssignmentState.ROLLING_BACK,
                ROLLING_BACK,
                f"generation {rollback.from_generation} failed its probes; rolling back to "
                f"{to}: {rollback.message}",
            )
        outcome = (
            "rolled back" if rollback.succeeded else "rolled back, not every resource converged,"
        )
        return Verdict(
            AssignmentState.ROLLED_BACK,
            ROLLED_BACK,
            f"{outcome} from generation {rollback.from_generation} to {to}: {rollback.message}",
        )
    verdict = _from_results(results)
    if readiness is None or verdict.state not in (AssignmentState.READY, AssignmentState.DRIFTED):
        return verdict
    if readiness.state is ReadinessState.FAILED:
        return Verdict(AssignmentState.FAILED, PROBE_FAILED, f"probes failed: {readiness.message}")
    if readiness.state is not ReadinessState.READY:
        return Verdict(AssignmentState.PROBING, PROBES_PENDING, readiness.message)
    return verdict


def revision_text(generation: int, revision: str) -> str:
    return f"generation {generation}" + (f" (revision {revision})" if revision else "")


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
    readiness: ReadinessStatus | None = Field(
        default=None, description="The readiness probes after the last run, when it has any."
    )
    rollback: RollbackStatus | None = Field(
        default=None, description="Set when the host rolled this generation back."
    )
    next_window: str = Field(
        default="",
        description="While a new generation waits for the host's maintenance window: when the "
        "next one opens (RFC 3339, by the host's clock).",
    )

    def verdict(self) -> Verdict:
        """What this status says about the host: the agent sets its conditions from it, and
        every reader decides with it. A run in progress and an invalid spec are known only
        from the conditions; everything else is decided from the results."""
        if self.observed_generation < 0:
            return Verdict(AssignmentState.APPLYING, PROGRESSING, "waiting for the agent")
        reconciling = find_condition(self.conditions, RECONCILING)
        if reconciling is not None and reconciling.status == "True":
            return Verdict(AssignmentState.APPLYING, reconciling.reason, reconciling.message)
        stalled = find_condition(self.conditions, STALLED)
        if (
            stalled is not None
            and stalled.status == "True"
            and stalled.reason in (INVALID_SPEC, UNVERIFIED_SOURCE)
        ):
            return Verdict(AssignmentState.FAILED, stalled.reason, stalled.message)
        return _decide(self.results, self.readiness, self.rollback)

    def with_results(
        self,
        results: list[ResourceResult],
        generation: int,
        revision: str,
        *,
        finished_run: bool,
    ) -> AssignmentStatus:
        """This status with a run's (or a check's) results, and the conditions their verdict
        gives: Ready always, Stalled while a resource failed, Reconciling removed."""
        update: dict[str, Any] = {
            "conditions": remove_condition(self.conditions, RECONCILING),
            "results": results,
            "drifted": sum(1 for r in results if r.drifted and not r.in_desired_state),
            "reboot_pending": any(r.reason == REBOOT_PENDING for r in results),
        }
        if finished_run:
            update["observed_generation"] = generation
            update["last_apply_time"] = now_rfc3339()
            update["next_window"] = ""
        status = self.model_copy(update=update)
        verdict = _decide(results, status.readiness, status.rollback)
        status = status._conditioned(verdict, generation, revision)
        if finished_run and verdict.state is AssignmentState.READY:
            status = status.model_copy(update={"applied_revision": revision})
        elif finished_run and status.rollback is not None:
            status = status.model_copy(update={"applied_revision": status.rollback.to_revision})
        return status

    def with_probes(
        self,
        readiness: ReadinessStatus | None,
        rollback: RollbackStatus | None,
        generation: int,
        revision: str,
    ) -> AssignmentStatus:
        """This status with the probes' (and a rollback's) news, and the conditions the
        verdict then gives. A rolled-back host runs the earlier revision."""
        update: dict[str, Any] = {"readiness": readiness, "rollback": rollback}
        if rollback is not None and rollback.state is RollbackState.ROLLED_BACK:
            update["applied_revision"] = rollback.to_revision
        status = self.model_copy(update=update)
        verdict = _decide(status.results, readiness, rollback)
        status = status._conditioned(verdict, generation, revision)
        if verdict.state is AssignmentState.READY:
            status = status.model_copy(update={"applied_revision": revision})
        return status

    def _conditioned(self, verdict: Verdict, generation: int, revision: str) -> AssignmentStatus:
        """Ready always, Stalled while the verdict is a failure."""
        message = verdict.message
        if verdict.state is AssignmentState.READY:
            message = f"{message}; {revision_text(generation, revision)}"
        conditions = set_condition(
            self.conditions,
            READY,
            "True" if verdict.state is AssignmentState.READY else "False",
            verdict.reason,
            message,
            generation=generation,
        )
        if verdict.failed:
            conditions = set_condition(
                conditions, STALLED, "True", verdict.reason, message, generation=generation
            )
        else:
            conditions = remove_condition(conditions, STALLED)
        return self.model_copy(update={"conditions": conditions})


class Assignment(Spec):
    """What one host must converge to; written by the controller, status by the host's agent."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default=API_VERSION, description="APIVersion of this object.")
    kind: str = Field(default="Assignment", description="Kind of this object.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Object metadata.")
    spec: AssignmentSpec
    status: AssignmentStatus = Field(default_factory=AssignmentStatus)

    def caught_up(self) -> bool:
        """The agent's status speaks of this very spec (its metadata.generation)."""
        return self.status.observed_generation == self.metadata.generation

    def waits_for_window(self) -> bool:
        """The agent holds this very spec until the host's maintenance window opens (by the
        host's clock): it said so, and has not run it yet."""
        reconciling = find_condition(self.status.conditions, RECONCILING)
        return (
            not self.caught_up()
            and reconciling is not None
            and reconciling.status == "True"
            and reconciling.reason == WAITING_FOR_WINDOW
            and reconciling.observed_generation == self.metadata.generation
        )

    def verdict(self) -> Verdict:
        if not self.caught_up():
            ready = find_condition(self.status.conditions, READY)
            reconciling = find_condition(self.status.conditions, RECONCILING)
            shown = reconciling or ready
            return Verdict(
                AssignmentState.APPLYING,
                PROGRESSING,
                shown.message if shown is not None and shown.message else "waiting for the agent",
            )
        return self.status.verdict()
