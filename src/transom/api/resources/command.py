"""Command: a test command and a set command, for what no typed resource covers."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, model_validator

from transom.api.resources.base import Ensure, ResourceProperties
from transom.api.resources.files import ABSOLUTE_PATH_PATTERN, PATH_MAX_LENGTH
from transom.api.wire import cel

COMMAND_MAX_LENGTH = 16_384
MAX_TIMEOUT_SECONDS = 3600


class CommandProperties(ResourceProperties):
    """A command pair: the test command exits 0 when the host is in the desired state; the set
    command brings it there. Runs with sh on posix and PowerShell on windows."""

    key_fields: ClassVar[tuple[str, ...]] = ("test", "set")
    removable: ClassVar[bool] = False

    model_config = ConfigDict(
        json_schema_extra=cel(
            {
                "rule": "!has(self.ensure) || self.ensure == 'present'",
                "message": "Command supports only ensure: present",
            }
        )
    )
    # Host policy may forbid types that run arbitrary code.
    runs_code: ClassVar[bool] = True

    test: str = Field(
        description="Exits 0 when the host is in the desired state, non-zero otherwise. Must "
        "not change anything.",
        min_length=1,
        max_length=COMMAND_MAX_LENGTH,
    )
    set: str = Field(
        description="Brings the host to the desired state; run only when test fails, and "
        "test must pass afterwards.",
        min_length=1,
        max_length=COMMAND_MAX_LENGTH,
    )
    working_directory: str | None = Field(
        default=None,
        alias="workingDirectory",
        description="Absolute working directory for both commands.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=ABSOLUTE_PATH_PATTERN,
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables for both commands.",
        max_length=64,
    )
    timeout_seconds: int = Field(
        default=300,
        alias="timeoutSeconds",
        description="Seconds each command may run before it is killed and fails.",
        ge=1,
        le=MAX_TIMEOUT_SECONDS,
    )

    @model_validator(mode="after")
    def _present_only(self) -> CommandProperties:
        # The test command defines the state; there is no "absent" of a command to converge to.
        if self.ensure is not Ensure.PRESENT:
            raise ValueError("Command supports only ensure: present")
        return self

    def identity(self) -> str:
        # Commands own no single host object: the same pair twice in a document is the conflict.
        return f"command:{self.test}\n{self.set}"

    def touches(self) -> list[str]:
        return [*([f"path:{self.working_directory}"] if self.working_directory else [])]
