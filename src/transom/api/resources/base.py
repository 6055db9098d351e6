"""The contract every resource type follows, and the registry the CRD and engine read.

A resource type is a pydantic model of its properties. The same model validates documents in
the agent and generates that type's schema in the Configuration CRD, so the two cannot drift.
In a document each resource names its type by the one member it sets (``file: {...}``); the
member name is the type name in lowerCamelCase. A CRD's structural schema cannot vary a field's
schema with a sibling's value, so a union of typed members is what lets the apiserver check
property types per resource type and lets ``kubectl explain`` document each one.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Ensure(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"


class Platform(StrEnum):
    POSIX = "posix"
    WINDOWS = "windows"


class SecretKeyRef(BaseModel):
    """A key of a Secret in the same namespace; the controller copies it to host namespaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="Name of the Secret.",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
    )
    key: str = Field(
        description="Key within the Secret's data.",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
    )


class ResourceProperties(BaseModel):
    """Base of every resource type's properties."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: Type name as users write it in docs and results, e.g. ``File``.
    kind: ClassVar[str]
    #: Platforms whose agents implement this type.
    platforms: ClassVar[frozenset[Platform]]
    #: Properties whose values are secret: redacted in diffs, results, logs and audit records.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether the type runs arbitrary code (host policy can forbid it).
    runs_code: ClassVar[bool] = False

    ensure: Ensure = Field(
        default=Ensure.PRESENT,
        description="Whether the object should exist (present) or not (absent).",
    )

    def identity(self) -> str:
        """What this resource manages on the host, e.g. a path; two resources with the same
        identity on one host conflict."""
        raise NotImplementedError

    def touches(self) -> list[str]:
        """Every host object the resource writes or reads, in identity form (``path:...``,
        ``registry:...``); host policy checks each one before a provider is called. Types that
        touch more than their identity (an archive's source file) extend this."""
        return [self.identity()]


P = TypeVar("P", bound=type[ResourceProperties])

RESOURCE_TYPES: dict[str, type[ResourceProperties]] = {}


def member_name(kind: str) -> str:
    return kind[0].lower() + kind[1:]


def register(kind: str, *platforms: Platform) -> Callable[[P], P]:
    """Class decorator: register a resource type under ``kind``."""

    def decorate(cls: P) -> P:
        key = member_name(kind)
        if key in RESOURCE_TYPES:
            raise ValueError(f"resource type {kind} registered twice")
        cls.kind = kind
        cls.platforms = frozenset(platforms)
        RESOURCE_TYPES[key] = cls
        return cls

    return decorate


def schema_extra(**extra: Any) -> dict[str, Any]:
    """json_schema_extra helper for Kubernetes extensions (x-kubernetes-validations, ...)."""
    return extra
