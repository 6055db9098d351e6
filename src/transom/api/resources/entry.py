"""One resource of a document: its name, dependencies and typed properties."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from transom.api.errors import FieldError, SpecError, from_pydantic
from transom.api.resources.base import RESOURCE_TYPES, ResourceProperties

NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
NAME_MAX_LENGTH = 63
MAX_DEPENDS_ON = 16
_NAME_RE = re.compile(NAME_PATTERN)
_HEADER_FIELDS = ("name", "dependsOn")


@dataclass(frozen=True)
class Resource:
    """A validated resource: what the engine and controller work with."""

    name: str
    properties: ResourceProperties
    depends_on: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        return self.properties.kind

    @property
    def member(self) -> str:
        return self.properties.kind[0].lower() + self.properties.kind[1:]

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        out[self.member] = self.properties.model_dump(
            mode="json", by_alias=True, exclude_defaults=True
        )
        return out

    # pydantic integration: a Resource field validates from, and serializes to, the wire shape.
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> Resource:
            if isinstance(value, Resource):
                return value
            try:
                return parse_resource(value, "")
            except SpecError as exc:
                raise PydanticCustomError("resource", "{detail}", {"detail": str(exc)}) from None

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda r: r.to_wire(), when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return resource_json_schema(handler)


def resource_json_schema(handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    members = sorted(RESOURCE_TYPES)
    properties: dict[str, Any] = {
        "name": {
            "type": "string",
            "description": "Name of the resource, unique within the document.",
            "pattern": NAME_PATTERN,
            "maxLength": NAME_MAX_LENGTH,
        },
        "dependsOn": {
            "type": "array",
            "description": "Names of resources that must converge before this one.",
            "items": {"type": "string", "maxLength": NAME_MAX_LENGTH},
            "maxItems": MAX_DEPENDS_ON,
        },
    }
    for key in members:
        cls = RESOURCE_TYPES[key]
        sub = handler(cls.__pydantic_core_schema__)
        sub = dict(sub)
        sub["description"] = (cls.__doc__ or cls.kind).strip().splitlines()[0] + (
            f" Platforms: {', '.join(sorted(cls.platforms))}."
        )
        properties[key] = sub
    count = " + ".join(f"(has(self.{k}) ? 1 : 0)" for k in members)
    return {
        "type": "object",
        "description": "A resource: a name, optional dependencies, and exactly one typed member "
        "(file, service, registryValue, ...) that says its type and holds its properties.",
        "required": ["name"],
        "properties": properties,
        "x-kubernetes-validations": [
            {
                "rule": f"{count} == 1",
                "message": "a resource must set exactly one resource type: " + ", ".join(members),
                "reason": "FieldValueInvalid",
            },
            {
                "rule": "!has(self.dependsOn) || !(self.name in self.dependsOn)",
                "message": "a resource cannot depend on itself",
                "fieldPath": ".dependsOn",
            },
        ],
    }


def parse_resource(raw: Any, path: str) -> Resource:
    """Validate one wire-shape resource; errors name the field under ``path``."""
    if not isinstance(raw, Mapping):
        raise SpecError([FieldError(path, f"must be a mapping, got {type(raw).__name__}")])
    errors: list[FieldError] = []
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        errors.append(
            FieldError(
                f"{path}.name",
                f"must be 1-{NAME_MAX_LENGTH} letters, digits, '.', '_' or '-', starting and "
                f"ending with a letter or digit (got {name!r})",
            )
        )
    depends = raw.get("dependsOn", [])
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        errors.append(FieldError(f"{path}.dependsOn", "must be a list of resource names"))
        depends = []
    elif len(depends) > MAX_DEPENDS_ON:
        errors.append(FieldError(f"{path}.dependsOn", f"at most {MAX_DEPENDS_ON} entries"))
    members = [k for k in raw if k not in _HEADER_FIELDS]
    unknown = [k for k in members if k not in RESOURCE_TYPES]
    for key in unknown:
        errors.append(
            FieldError(
                f"{path}.{key}",
                f"unknown resource type; allowed: {', '.join(sorted(RESOURCE_TYPES))}",
            )
        )
    known = [k for k in members if k in RESOURCE_TYPES]
    properties: ResourceProperties | None = None
    if len(known) != 1 and not unknown:
        errors.append(
            FieldError(
                path,
                f"must set exactly one resource type (found {len(known)}"
                f"{': ' + ', '.join(known) if known else ''}); "
                f"allowed: {', '.join(sorted(RESOURCE_TYPES))}",
            )
        )
    elif len(known) == 1:
        key = known[0]
        try:
            properties = RESOURCE_TYPES[key].model_validate(
                raw[key] if raw[key] is not None else {}
            )
        except ValidationError as exc:
            errors.extend(from_pydantic(f"{path}.{key}", exc))
    if errors:
        raise SpecError(errors)
    assert properties is not None and isinstance(name, str)
    return Resource(name=name, properties=properties, depends_on=tuple(depends))


def parse_resources(raw: Any, path: str = "resources") -> list[Resource]:
    """Validate a whole list: every error is reported at once, and names are unique and every
    dependsOn points at an existing name. Cycles are the engine's to find (graph.py)."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise SpecError([FieldError(path, "must be a list of resources")])
    errors: list[FieldError] = []
    resources: list[Resource] = []
    for i, item in enumerate(raw):
        try:
            resources.append(parse_resource(item, f"{path}[{i}]"))
        except SpecError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SpecError(errors)
    errors = reference_errors(resources, path)
    if errors:
        raise SpecError(errors)
    return resources


#: The CEL twin of reference_errors' dependsOn check, for list-holding CRD objects.
DEPENDS_ON_RULE = {
    # Quadratic in the list: the apiserver's cost estimate is what bounds MAX_RESOURCES,
    # MAX_DEPENDS_ON and NAME_MAX_LENGTH (cel.bind is not available to CRD rules).
    "rule": "self.resources.all(r, !has(r.dependsOn) || "
    "r.dependsOn.all(d, self.resources.exists(o, o.name == d)))",
    "message": "every dependsOn entry must name a resource in this list",
    "fieldPath": ".resources",
}


def reference_errors(resources: Sequence[Resource], path: str = "resources") -> list[FieldError]:
    """Duplicate names and dependsOn entries that name no resource (or the resource itself)."""
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(resources):
        if r.name in seen:
            errors.append(
                FieldError(
                    f"{path}[{i}].name", f"duplicate name {r.name!r} (first at [{seen[r.name]}])"
                )
            )
        seen.setdefault(r.name, i)
    for i, r in enumerate(resources):
        for j, dep in enumerate(r.depends_on):
            if dep == r.name:
                errors.append(FieldError(f"{path}[{i}].dependsOn[{j}]", "depends on itself"))
            elif dep not in seen:
                errors.append(
                    FieldError(f"{path}[{i}].dependsOn[{j}]", f"no resource named {dep!r}")
                )
    return errors


def _checked_references(resources: list[Resource]) -> list[Resource]:
    errors = reference_errors(resources)
    if errors:
        raise ValueError(str(SpecError(errors)))
    return resources


#: A resource list the controller derives (an Assignment's, a HostPreview's). The apiserver
#: stores it as written, one atomic value: the Configuration's schema already checked what people
#: wrote, and a second pass there (schema, defaulting, CEL, per-entry field ownership) was a
#: quarter of its CPU per host-update. So this model is what checks it, by the Configuration's
#: rule, when the controller builds it and when the agent reads it.
DerivedResources = Annotated[
    list[Resource],
    AfterValidator(_checked_references),
    Field(
        json_schema_extra={
            "x-kubernetes-list-type": "atomic",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }
    ),
]
