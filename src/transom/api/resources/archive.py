"""Archive: a zip extracted to a folder, implemented on posix and windows."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, model_validator

from transom.api.resources.base import Ensure, ResourceProperties
from transom.api.resources.files import ABSOLUTE_PATH_PATTERN, PATH_MAX_LENGTH, SHA256_PATTERN


class ArchiveProperties(ResourceProperties):
    """A zip archive extracted to a folder, checked against the archive's sha256 and kept in
    step by content: files whose bytes differ from the archive are rewritten."""

    key_fields: ClassVar[tuple[str, ...]] = ("path",)

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.ensure) && self.ensure == 'absent') || "
                    "(has(self.source) && has(self.sha256))",
                    "message": "ensure: present needs source and sha256",
                }
            ]
        }
    )

    path: str = Field(
        description=r"Absolute path of the folder to extract into, e.g. /srv/app or "
        r"C:\inetpub\web.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=ABSOLUTE_PATH_PATTERN,
    )
    source: str | None = Field(
        default=None,
        description="The zip: an absolute path on the host, or an http(s) URL to download.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=r"^(https?://|/|[A-Za-z]:[\\/]|\\\\)",
    )
    sha256: str | None = Field(
        default=None,
        description="Lowercase hex SHA-256 of the zip; an archive that does not match is "
        "never extracted.",
        pattern=SHA256_PATTERN,
    )
    clean: bool = Field(
        default=False,
        description="Also delete files in the folder that the archive does not contain.",
    )

    @model_validator(mode="after")
    def _source_when_present(self) -> ArchiveProperties:
        if self.ensure is Ensure.PRESENT and (self.source is None or self.sha256 is None):
            raise ValueError("ensure: present needs source and sha256")
        return self

    def identity(self) -> str:
        return f"path:{self.path}"

    def touches(self) -> list[str]:
        local = self.source is not None and not self.source.startswith(("http://", "https://"))
        return [self.identity(), *([f"path:{self.source}"] if local else [])]
