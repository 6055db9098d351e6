"""How a host applies a document: its mode and reboot policy. Shared by Configurations,
Assignments and local documents, and kept apart from them so `transom apply` builds only these
models."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from transom.api.wire import Spec, cel


class Mode(StrEnum):
    APPLY_ONLY = "ApplyOnly"
    APPLY_AND_MONITOR = "ApplyAndMonitor"
    APPLY_AND_AUTO_CORRECT = "ApplyAndAutoCorrect"


class RebootMode(StrEnum):
    NEVER = "Never"
    IF_NEEDED = "IfNeeded"


class RebootPolicy(Spec):
    """Whether the agent may reboot the host when a change needs it."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            {
                "rule": "!has(self.windowStart) == !has(self.windowEnd)",
                "message": "set both windowStart and windowEnd, or neither",
            }
        )
    )

    mode: RebootMode = Field(default=RebootMode.NEVER, description="Never or IfNeeded.")
    window_start: str | None = Field(
        default=None,
        description="Start of the reboot window, HH:MM host local time.",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    )

    @model_validator(mode="after")
    def _window_pair(self) -> RebootPolicy:
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("set both windowStart and windowEnd, or neither")
        return self

    window_end: str | None = Field(
        default=None,
        description="End of the reboot window, HH:MM host local time.",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    )
