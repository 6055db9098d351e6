"""How Flux (kstatus) judges an object's health, for tests and for `transom status`.

Mirrors sigs.k8s.io/cli-utils pkg/kstatus/status/generic.go (Flux uses a fork with the same
rules): Terminating, then stale observedGeneration, then Reconciling/Stalled, then Ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"


@dataclass(frozen=True)
class Result:
    status: Status
    message: str


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = obj.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def compute(obj: Mapping[str, Any]) -> Result:
    """Return the kstatus result for an unstructured object."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return Result(Status.TERMINATING, "Resource scheduled for deletion")

    status = obj.get("status") or {}
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    # kstatus skips the check when either is absent, which is why our CRDs default
    # observedGeneration to -1: a new object is InProgress until a reconciler has seen it.
    if generation is not None and observed is not None and generation != observed:
        return Result(
            Status.IN_PROGRESS,
            f"{obj.get('kind', 'Object')} generation is {generation}, "
            f"but latest observed generation is {observed}",
        )

    conditions = _conditions(obj)
    reconciling = conditions.get("Reconciling")
    if reconciling is not None and reconciling.get("status") == "True":
        return Result(Status.IN_PROGRESS, str(reconciling.get("message", "")))
    stalled = conditions.get("Stalled")
    if stalled is not None and stalled.get("status") == "True":
        return Result(Status.FAILED, str(stalled.get("message", "")))
    ready = conditions.get("Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return Result(Status.CURRENT, str(ready.get("message", "")))
        return Result(Status.IN_PROGRESS, str(ready.get("message", "")))
    return Result(Status.CURRENT, "Resource is current")
