"""ScheduledTask through the ScheduledTasks cmdlets (present since Server 2012)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api.resources.windows import ScheduledTaskProperties
from transom.engine.provider import Change, Context, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import WindowsProvider, os_call, present, subset_equal

_STATE = ("description", "action", "trigger", "principal", "enabled")
#: Names Task Scheduler reports for built-in principals.
_PRINCIPALS = {
    "nt authority\\system": "system",
    "localsystem": "system",
    "nt authority\\networkservice": "network service",
    "nt authority\\network service": "network service",
    "nt authority\\localservice": "local service",
    "nt authority\\local service": "local service",
}


def _principal(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    user = str(out.get("userId", "")).casefold()
    out["userId"] = _PRINCIPALS.get(user, user)
    return out


def _trigger(value: Any) -> Any:
    """A trigger's start boundary as HH:MM unless it is a full date-time (Once)."""
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    at = out.get("at")
    if isinstance(at, str) and "T" in at and out.get("type") != "Once":
        out["at"] = at.split("T", 1)[1][:5]
    elif isinstance(at, str) and len(at) == 8:
        out["at"] = at[:5]
    return out


class ScheduledTaskProvider(WindowsProvider[ScheduledTaskProperties]):
    kind = "ScheduledTask"

    def get(self, desired: ScheduledTaskProperties, ctx: Context) -> State:
        with os_call(f"Get-ScheduledTask {desired.path}{desired.name}"):
            task = self.os.task_get(desired.path, desired.name)
        if task is None:
            return present(False)
        state: State = {"ensure": "present"}
        state.update({k: v for k, v in task.items() if k in _STATE})
        return state

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "action":
            return subset_equal(desired, actual, frozenset({"execute", "workingDirectory"}))
        if prop == "trigger":
            return subset_equal(_trigger(desired), _trigger(actual))
        if prop == "principal":
            return subset_equal(_principal(desired), _principal(actual))
        return bool(desired == actual)

    def set(
        self, desired: ScheduledTaskProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"register task {desired.path}{desired.name}"):
            if desired.ensure.value == "absent":
                self.os.task_unregister(desired.path, desired.name)
                return SetOutcome()
            # Register-ScheduledTask -Force replaces the whole definition in one step.
            wire = desired.model_dump(mode="json", by_alias=True, exclude_none=True)
            task: f.TaskInfo = {"path": desired.path, "name": desired.name}
            task.update({k: wire[k] for k in _STATE if k in wire})  # type: ignore[typeddict-item]
            self.os.task_register(task)
        return SetOutcome()
