"""EnvironmentVariable: a machine-wide environment variable."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, model_validator

from transom.api.resources.base import Ensure, ResourceProperties
from transom.api.resources.files import ABSOLUTE_PATH_PATTERN, PATH_MAX_LENGTH

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_VALUE_MAX_LENGTH = 32_767  # the Windows limit for one environment variable


class EnvironmentVariableProperties(ResourceProperties):
    """An environment variable for every process on the host: machine scope on windows, a line
    of an environment file (KEY=value, as /etc/environment) on posix."""

    key_fields: ClassVar[tuple[str, ...]] = ("name", "file")

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.ensure) && self.ensure == 'absent') || has(self.value)",
                    "message": "ensure: present needs a value",
                },
                {
                    "rule": "!has(self.ensure) || self.ensure == 'present' || !has(self.value)",
                    "message": "ensure: absent takes no value",
                },
            ]
        }
    )

    name: str = Field(
        description="Variable name, e.g. JAVA_HOME.",
        pattern=ENV_NAME_PATTERN,
        max_length=255,
    )
    value: str | None = Field(
        default=None,
        description="Value of the variable.",
        max_length=ENV_VALUE_MAX_LENGTH,
    )
    file: str | None = Field(
        default=None,
        description="posix only: absolute path of the environment file holding the variable "
        "(default /etc/environment). Not used on windows.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=ABSOLUTE_PATH_PATTERN,
    )

    @model_validator(mode="after")
    def _value_matches_ensure(self) -> EnvironmentVariableProperties:
        if self.ensure is Ensure.PRESENT and self.value is None:
            raise ValueError("ensure: present needs a value")
        if self.ensure is Ensure.ABSENT and self.value is not None:
            raise ValueError("ensure: absent takes no value")
        return self

    def identity(self) -> str:
        return f"env:{self.file}:{self.name}" if self.file else f"env:{self.name}"

    def touches(self) -> list[str]:
        return [self.identity(), *([f"path:{self.file}"] if self.file else [])]
