"""ScheduledTask through the ScheduledTasks cmdlets (present since Server 2012)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api.resources.windows import ScheduledTaskProperties
from transom.engine.provider import Change, Context, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import (
    WindowsProvider,
    fields_to_send,
    os_call,
    record_state,
    subset_equal,
)

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


def _split_at(at: Any) -> tuple[str | None, str]:
    """A start boundary as (date or None, HH:MM): Task Scheduler stores seconds and a date
    even for a time-only trigger."""
    text = str(at or "")
    date, _, clock = text.rpartition("T")
    return date or None, clock[:5]


def _same_trigger(desired: Any, actual: Any) -> bool:
    if not isinstance(desired, Mapping) or not isinstance(actual, Mapping):
        return bool(desired == actual)
    want_at, have_at = desired.get("at"), actual.get("at")
    if want_at is not None:
        want_date, want_clock = _split_at(want_at)
        have_date, have_clock = _split_at(have_at)
        # A date only matters when the resource gives one (a Once trigger's day).
        if want_clock != have_clock or (want_date is not None and want_date != have_date):
            return False
    rest = {k: v for k, v in desired.items() if k != "at"}
    return subset_equal(rest, actual)


class ScheduledTaskProvider(WindowsProvider[ScheduledTaskProperties]):
    kind = "ScheduledTask"

    def get(self, desired: ScheduledTaskProperties, ctx: Context) -> State:
        with os_call(f"Get-ScheduledTask {desired.path}{desired.name}"):
            task = self.os.task_get(desired.path, desired.name)
        return record_state(task, _STATE)

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "action":
            return subset_equal(desired, actual, frozenset({"execute", "workingDirectory"}))
        if prop == "trigger":
            return _same_trigger(desired, actual)
        if prop == "principal":
            return subset_equal(_principal(desired), _principal(actual))
        return bool(desired == actual)

    def set(
        self, desired: ScheduledTaskProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"register task {desired.path}{desired.name}"):
            # Register-ScheduledTask -Force replaces the whole definition in one step.
            task: f.TaskInfo = {"path": desired.path, "name": desired.name}
            task.update(fields_to_send(desired, {"ensure": None}, _STATE))  # type: ignore[typeddict-item]
            self.os.task_register(task)
        return SetOutcome()

    def delete(self, desired: ScheduledTaskProperties, ctx: Context) -> SetOutcome:
        with os_call(f"unregister task {desired.path}{desired.name}"):
            self.os.task_unregister(desired.path, desired.name)
        return SetOutcome()
