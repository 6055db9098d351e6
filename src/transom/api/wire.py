"""Base models for API objects: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

GROUP = "transom.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def cel(*rules: dict[str, str]) -> JsonDict:
    """json_schema_extra carrying CEL rules (x-kubernetes-validations) into the CRD. Mirror
    each rule in the model's own validation so the agent rejects what the apiserver would."""
    return cast(JsonDict, {"x-kubernetes-validations": list(rules)})


class Spec(BaseModel):
    """Specs are strict: an unknown field is an error, never silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Status(BaseModel):
    """Status is read leniently, so an older reader tolerates a newer writer's fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ObjectMeta(BaseModel):
    """The parts of metav1.ObjectMeta Transom reads; the rest passes through untouched.

    This and the selector models are built on first use (defer_build): the local commands
    import this module for Spec and never use them."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", defer_build=True
    )

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


def observed_generation_field() -> Any:
    # kstatus skips the generation check when observedGeneration is absent, so default it to -1
    # in the CRD: a new object is InProgress until the reconciler has observed it.
    return Field(
        default=-1,
        description="The last metadata.generation the reconciler fully acted on; -1 until then.",
    )


class LabelSelectorRequirement(Spec):
    model_config = ConfigDict(defer_build=True)

    key: str = Field(description="Label key.", min_length=1, max_length=317)
    operator: str = Field(
        description="In, NotIn, Exists or DoesNotExist.",
        pattern=r"^(In|NotIn|Exists|DoesNotExist)$",
    )
    values: list[str] = Field(
        default_factory=list,
        description="Values for In and NotIn; empty for Exists and DoesNotExist.",
        max_length=64,
    )


class LabelSelector(Spec):
    """Selects Hosts by their labels, as metav1.LabelSelector does."""

    model_config = ConfigDict(
        defer_build=True,
        json_schema_extra=cel(
            {
                "rule": "(has(self.matchLabels) && size(self.matchLabels) > 0) || "
                "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
                "message": "hostSelector must set matchLabels or matchExpressions; "
                "to select every host, use matchExpressions with an Exists operator",
            }
        ),
    )

    match_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels a Host must carry, all of them.", max_length=32
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        description="Requirements a Host must meet, all of them.",
        max_length=16,
    )

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            ok = {
                "In": present and labels.get(req.key) in req.values,
                "NotIn": not present or labels.get(req.key) not in req.values,
                "Exists": present,
                "DoesNotExist": not present,
            }[req.operator]
            if not ok:
                return False
        return True
