"""What a run reports, per resource and in total; maps onto the Assignment status."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from transom.api.conditions import resource_failed

if TYPE_CHECKING:
    from transom.api.assignment import ResourceResult

MESSAGE_MAX_LENGTH = 1024


class Action(StrEnum):
    TEST = "test"
    WHAT_IF = "whatIf"
    APPLY = "apply"


class Status(StrEnum):
    """One word per resource, for summaries."""

    OK = "ok"
    CHANGED = "changed"
    WOULD_CHANGE = "wouldChange"  # what-if
    DIFFERS = "differs"  # test
    DRIFTED = "drifted"
    FAILED = "failed"
    DENIED = "denied"
    SKIPPED = "skipped"
    REBOOT_PENDING = "rebootPending"
    FLAPPING = "flapping"


@dataclass(frozen=True)
class DiffEntry:
    """One property out of its desired state; secret values already redacted."""

    prop: str
    actual: Any
    desired: Any

    def to_json(self) -> dict[str, Any]:
        return {"property": self.prop, "actual": self.actual, "desired": self.desired}


@dataclass(frozen=True)
class ResourceOutcome:
    name: str
    kind: str
    status: Status
    in_desired_state: bool
    changed: bool = False
    skipped: bool = False
    drifted: bool = False
    reason: str = ""
    message: str = ""
    diff: tuple[DiffEntry, ...] = ()
    duration_ms: float = 0.0
    reboot_required: bool = False

    @property
    def failed(self) -> bool:
        return resource_failed(self.in_desired_state, self.reason)

    def to_result(self) -> ResourceResult:
        # The Assignment model is the agent's; a local apply never builds it.
        from transom.api.assignment import ResourceResult  # noqa: PLC0415

        return ResourceResult(
            name=self.name,
            type=self.kind,
            in_desired_state=self.in_desired_state,
            changed=self.changed,
            skipped=self.skipped,
            drifted=self.drifted,
            reason=self.reason,
            message=self.message[:MESSAGE_MAX_LENGTH],
            duration_ms=round(self.duration_ms),
        )

    def to_json(self) -> dict[str, Any]:
        out = self.to_result().model_dump(mode="json", by_alias=True)
        out["status"] = self.status.value
        out["durationMs"] = round(self.duration_ms, 3)
        out["diff"] = [d.to_json() for d in self.diff]
        out["rebootRequired"] = self.reboot_required
        return out


@dataclass(frozen=True)
class RunReport:
    action: Action
    results: tuple[ResourceOutcome, ...]
    duration_ms: float
    drift_check: bool = False
    counts: Counter[Status] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.counts.update(r.status for r in self.results)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.results)

    @property
    def in_desired_state(self) -> bool:
        return all(r.in_desired_state for r in self.results)

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.results)

    @property
    def reboot_required(self) -> bool:
        return any(r.reboot_required for r in self.results)

    def summary(self) -> str:
        parts = [f"{n} {status.value}" for status, n in sorted(self.counts.items())]
        return f"{len(self.results)} resources: {', '.join(parts) or 'none'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "inDesiredState": self.in_desired_state,
            "changed": self.changed,
            "failed": self.failed,
            "rebootRequired": self.reboot_required,
            "durationMs": round(self.duration_ms, 3),
            "summary": {status.value: n for status, n in sorted(self.counts.items())},
            "results": [r.to_json() for r in self.results],
        }
