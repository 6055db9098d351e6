"""The contract every resource type follows; catalog.py lists the types.

A resource type is a pydantic model of its properties. The same model validates documents in
the agent and generates that type's schema in the Configuration CRD, so the two cannot drift.
In a document each resource names its type by the one member it sets (``file: {...}``); the
member name is the type name in lowerCamelCase. A CRD's structural schema cannot vary a field's
schema with a sibling's value, so a union of typed members is what lets the apiserver check
property types per resource type and lets ``kubectl explain`` document each one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from transom.api.resources.catalog import BY_MODEL, Models, Platform


class Ensure(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"


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

    #: Type name as users write it in docs and results, e.g. ``File``; from the catalog.
    kind: ClassVar[str]
    #: Platforms whose agents implement this type; from the catalog.
    platforms: ClassVar[frozenset[Platform]]
    #: The fields (Python names) that say which object on the host this is: a path; a hive,
    #: key, value name and view; a service name. With ``ensure: absent`` they alone describe
    #: the object's removal (see absent_twin).
    key_fields: ClassVar[tuple[str, ...]]
    #: Whether the type has an absent state to converge to (a Command does not).
    removable: ClassVar[bool] = True
    #: Properties whose values are secret: redacted in diffs, results, logs and audit records.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether the type runs arbitrary code (host policy can forbid it).
    runs_code: ClassVar[bool] = False

    ensure: Ensure = Field(
        default=Ensure.PRESENT,
        description="Whether the object should exist (present) or not (absent).",
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        entry = BY_MODEL.get(f"{cls.__module__}:{cls.__qualname__}")
        if entry is not None:
            cls.kind = entry.kind
            cls.platforms = entry.platforms

    def identity(self) -> str:
        """What this resource manages on the host, e.g. a path; two resources with the same
        identity on one host conflict."""
        raise NotImplementedError

    def touches(self) -> list[str]:
        """Every host object the resource writes or reads, in identity form (``path:...``,
        ``registry:...``); host policy checks each one before a provider is called. Types that
        touch more than their identity (an archive's source file) extend this."""
        return [self.identity()]

    def secret_refs(self) -> tuple[SecretKeyRef, ...]:
        """Every Secret key these properties reference, at any depth, in field order."""
        return tuple(_refs(self))


def _refs(value: object) -> Iterator[SecretKeyRef]:
    if isinstance(value, SecretKeyRef):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _refs(getattr(value, name))
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs(v)


P = TypeVar("P", bound=ResourceProperties)

#: member (``registryValue``) -> model; a model is imported when first looked up.
RESOURCE_TYPES = Models()


def member_name(kind: str) -> str:
    return kind[0].lower() + kind[1:]


def absent_twin(props: P) -> P | None:
    """The same host object with ``ensure: absent``, built from the type's key fields: what
    removes the object ``props`` manages. None for a type without an absent state."""
    cls = type(props)
    if not cls.removable:
        return None
    keys = {name: getattr(props, name) for name in cls.key_fields}
    return cls.model_validate({**keys, "ensure": Ensure.ABSENT})
