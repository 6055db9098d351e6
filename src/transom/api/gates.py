"""What may hold a rollout besides maxUnavailable and failures: approvals before a partition,
maintenance windows per host, and the fleet-wide reboot budget. Models only; the window rule
is `transom.api.windows`, the planner `transom.controller.rollout`."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from transom.api.quantity import IntOrPercent, check_int_or_percent, int_or_percent_rule
from transom.api.wire import LabelSelector, Spec, Status, cel

#: A Go-style duration, as Flux's `interval` and `timeout`: hours, minutes, seconds.
DURATION_PATTERN = r"^([0-9]{1,4}h)?([0-9]{1,5}m)?([0-9]{1,6}s)?$"
_DURATION = re.compile(DURATION_PATTERN)
MAX_WINDOWS = 16
MAX_APPROVAL_RECORDS = 16


def duration_seconds(value: str) -> int:
    """``1h30m`` -> 5400; raises ValueError naming what is allowed."""
    match = _DURATION.match(value)
    if not value or match is None:
        raise ValueError(f"duration {value!r} must look like 90s, 15m, 2h or 1h30m")
    h, m, s = (int(g[:-1]) if g else 0 for g in match.groups())
    return h * 3600 + m * 60 + s


def _duration_field(default: str | None, description: str) -> Any:
    """A duration field; required when ``default`` is None."""
    extra: dict[str, Any] = {} if default is None else {"default": default}
    return Field(description=description, pattern=DURATION_PATTERN, max_length=32, **extra)


class Approval(StrEnum):
    #: The partition starts as soon as the one before it is done (and any pause is over).
    AUTOMATIC = "Automatic"
    #: The partition waits for `transom approve` by someone RBAC allows to create Approvals.
    MANUAL = "Manual"


class WindowType(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class MaintenanceWindow(Spec):
    """A recurring period, from a cron schedule in a time zone, when hosts may (Allow) or may
    not (Deny) start a new generation. Deny wins over Allow; a host no Allow window applies to
    may start at any time outside Deny windows."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            {
                "rule": "self.duration != '' && self.duration != '0s'",
                "message": "duration must be longer than zero, e.g. 2h",
            }
        )
    )

    name: str = Field(
        description="Name of the window, shown in status.",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
    )
    type: WindowType = Field(default=WindowType.ALLOW, description="Allow or Deny.")
    schedule: str = Field(
        description="When the window opens: a cron expression (minute hour day-of-month month "
        "day-of-week, e.g. '0 22 * * SAT'; a leading sixth field of seconds is accepted), "
        "evaluated in timeZone as Debian's cron does, DST transitions included.",
        min_length=9,
        max_length=128,
    )
    duration: str = _duration_field(None, "How long the window stays open, e.g. 4h or 1h30m.")
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone of the schedule, e.g. Europe/Berlin or America/New_York.",
        min_length=1,
        max_length=64,
    )
    host_selector: LabelSelector | None = Field(
        default=None,
        description="Only hosts with these labels follow this window; all selected hosts "
        "when unset.",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        # The rule's module needs these models: imported here, not at the top.
        from transom.api.windows import check_schedule  # noqa: PLC0415

        return check_schedule(value)

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        from transom.api.windows import zone  # noqa: PLC0415

        zone(value)
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        if duration_seconds(value) <= 0:
            raise ValueError("duration must be longer than zero, e.g. 2h")
        return value


class RebootBudget(Spec):
    """At most this many of the selected hosts rebooting, or not yet back, at once. A host
    reboots only holding a reboot lease the controller grants (a Lease in its namespace)."""

    model_config = ConfigDict(json_schema_extra=cel(int_or_percent_rule("maxRebooting", 1)))

    max_rebooting: IntOrPercent = Field(
        description="Hosts that may be rebooting or not yet back at once: a count >= 1 or a "
        "percentage of the selected hosts (rounded down, at least 1).",
    )
    deadline: str = _duration_field(
        "30m",
        "How long a host may hold its reboot lease (reboot, re-apply, report) before it counts "
        "as not back: it keeps the lease and the rollout halts.",
    )
    expected_duration: str = _duration_field(
        "15m",
        "How long a change that reboots takes; such a change does not start when less than "
        "this is left in the host's maintenance window.",
    )

    @field_validator("max_rebooting")
    @classmethod
    def _max(cls, value: int | str) -> int | str:
        return check_int_or_percent(value, "maxRebooting", 1)

    @field_validator("deadline", "expected_duration")
    @classmethod
    def _positive(cls, value: str) -> str:
        if duration_seconds(value) <= 0:
            raise ValueError("must be longer than zero, e.g. 15m")
        return value


class ApprovalRecord(Status):
    """Who approved a partition of a generation, as the Approval object recorded it."""

    partition: str = Field(description="The partition approved.")
    generation: int = Field(description="The Configuration generation approved.")
    approver: str = Field(description="The Kubernetes user who approved (checked at admission).")
    approved_at: str = Field(default="", description="When (RFC 3339).")
