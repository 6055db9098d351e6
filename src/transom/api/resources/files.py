"""File-system resource types, implemented on posix and windows."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from transom.api.resources.base import (
    Ensure,
    ResourceProperties,
    SecretKeyRef,
)
from transom.api.wire import cel

PATH_MAX_LENGTH = 4096
#: An absolute posix path, or a Windows path with a drive letter or a UNC share.
ABSOLUTE_PATH_PATTERN = r"^(/|[A-Za-z]:[\\/]|\\\\)"
INLINE_CONTENT_MAX_LENGTH = 262_144
SHA256_PATTERN = r"^[a-f0-9]{64}$"
MODE_PATTERN = r"^0?[0-7]{3,4}$"


class ContentSource(BaseModel):
    """Where to take content from other than inline."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    secret_key_ref: SecretKeyRef = Field(
        alias="secretKeyRef", description="A key of a Secret holding the content."
    )


class RemoteSource(BaseModel):
    """A file to download; its sha256 is required so what lands is what was reviewed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="http(s) URL to download.", pattern=r"^https?://", max_length=2048)
    sha256: str = Field(description="Lowercase hex SHA-256 of the content.", pattern=SHA256_PATTERN)


class AccessRule(BaseModel):
    """One Windows ACL entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identity: str = Field(
        description=r"Account or group, e.g. BUILTIN\Users or IIS AppPool\web.",
        min_length=1,
        max_length=256,
    )
    rights: str = Field(
        description="FileSystemRights, e.g. Read, ReadAndExecute, Modify, FullControl.",
        pattern=r"^(Read|ReadAndExecute|Modify|Write|FullControl)$",
    )
    type: str = Field(default="Allow", description="Allow or Deny.", pattern=r"^(Allow|Deny)$")


_ONE_SOURCE_RULE = {
    "rule": "(has(self.content) ? 1 : 0) + (has(self.contentFrom) ? 1 : 0)"
    " + (has(self.source) ? 1 : 0) <= 1",
    "message": "set at most one of content, contentFrom and source",
}
_ABSENT_NO_CONTENT_RULE = {
    "rule": "!has(self.ensure) || self.ensure != 'absent' || "
    "!(has(self.content) || has(self.contentFrom) || has(self.source))",
    "message": "ensure: absent takes no content, contentFrom or source",
}


class FileProperties(ResourceProperties):
    """A file with given content, permissions and ownership."""

    key_fields: ClassVar[tuple[str, ...]] = ("path",)

    model_config = ConfigDict(json_schema_extra=cel(_ONE_SOURCE_RULE, _ABSENT_NO_CONTENT_RULE))
    # Content from a Secret is redacted wherever results or records would show it.
    secret_fields: ClassVar[frozenset[str]] = frozenset({"content"})

    path: str = Field(
        description=r"Absolute path, e.g. /etc/app.conf or C:\inetpub\web\web.config.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=ABSOLUTE_PATH_PATTERN,
    )
    content: str | None = Field(
        default=None,
        description="Inline UTF-8 content.",
        max_length=INLINE_CONTENT_MAX_LENGTH,
    )
    content_from: ContentSource | None = Field(
        default=None, alias="contentFrom", description="Content held in a Secret."
    )
    source: RemoteSource | None = Field(
        default=None, description="Content downloaded from a URL and checked by sha256."
    )
    mode: str | None = Field(
        default=None, description="posix permission bits in octal, e.g. 0640.", pattern=MODE_PATTERN
    )
    owner: str | None = Field(default=None, description="posix owner name.", max_length=256)
    group: str | None = Field(default=None, description="posix group name.", max_length=256)
    acl: list[AccessRule] | None = Field(
        default=None, description="Windows access rules to ensure.", max_length=64
    )

    @model_validator(mode="after")
    def _one_source(self) -> FileProperties:
        sources = [s for s in (self.content, self.content_from, self.source) if s is not None]
        if len(sources) > 1:
            raise ValueError("set at most one of content, contentFrom and source")
        if self.ensure is Ensure.ABSENT and sources:
            raise ValueError("ensure: absent takes no content, contentFrom or source")
        return self

    def identity(self) -> str:
        return f"path:{self.path}"


class DirectoryProperties(ResourceProperties):
    """A directory, with permissions and ownership."""

    key_fields: ClassVar[tuple[str, ...]] = ("path",)

    path: str = Field(
        description="Absolute path.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=ABSOLUTE_PATH_PATTERN,
    )
    mode: str | None = Field(
        default=None, description="posix permission bits in octal.", pattern=MODE_PATTERN
    )
    owner: str | None = Field(default=None, description="posix owner name.", max_length=256)
    group: str | None = Field(default=None, description="posix group name.", max_length=256)
    acl: list[AccessRule] | None = Field(
        default=None, description="Windows access rules to ensure.", max_length=64
    )
    recurse_delete: bool = Field(
        default=False,
        alias="recurseDelete",
        description="With ensure: absent, also delete a non-empty directory.",
    )

    def identity(self) -> str:
        return f"path:{self.path}"
