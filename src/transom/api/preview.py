"""Preview and HostPreview: what a proposed Configuration would change on each selected host,
computed by the hosts' own agents in what-if mode (docs/preview.md).

A person (or a CI job) creates a ``Preview`` in a namespace with the proposed Configuration
specs; the controller resolves the hosts each would select, substitutes per-host values and
writes one ``HostPreview`` per host and Configuration into that host's namespace, where only
that host can read it; the host's agent evaluates it in what-if mode with its own policy and
writes the answer into the HostPreview's status. ``host_verdict()`` is the one reading of an
answer, for the CLI and the benchmark alike.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from transom.api import names
from transom.api.assignment import ObjectReference
from transom.api.conditions import Condition, resource_failed
from transom.api.configuration import MAX_RESOURCES, ConfigurationSpec, Mode
from transom.api.resources.entry import DerivedResources
from transom.api.wire import (
    API_VERSION,
    DNS1123_SUBDOMAIN,
    GROUP,
    ObjectMeta,
    Spec,
    Status,
    observed_generation_field,
)

DEFAULT_TTL_SECONDS = 900
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 86400
MAX_CONFIGURATIONS = 32
#: Hosts one Preview may list in its status (one short line each).
MAX_PREVIEW_HOSTS = 5000
#: A current or desired value shown in an answer is cut to this many characters: an answer
#: says what would change, it is not a copy of the host's files.
MAX_VALUE_LENGTH = 256
MAX_MESSAGE_LENGTH = 1024

#: On HostPreviews: which Preview asked (namespace.name, shortened), for selecting them all.
LABEL_PREVIEW = f"{GROUP}/preview"


class PreviewedConfiguration(Spec):
    """One proposed Configuration: its name and its whole spec, as it would be applied."""

    name: str = Field(
        description="Name the Configuration has (or would have) in the Preview's namespace.",
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
    )
    # Kept as given: the schema of up to 32 Configuration specs would exceed the apiserver's
    # CEL cost budget. The client and the controller validate it as a ConfigurationSpec.
    spec: dict[str, Any] = Field(
        description="The proposed Configuration spec (validated by the controller).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    def configuration_spec(self) -> ConfigurationSpec:
        """The spec as a model; raises pydantic's ValidationError."""
        return ConfigurationSpec.model_validate(self.spec)


class PreviewSpec(Spec):
    requested_by: str = Field(
        description="The Kubernetes user asking; admission refuses any other value than the "
        "requester's own name, so it is a record the requester cannot forge.",
        min_length=1,
        max_length=512,
    )
    configurations: list[PreviewedConfiguration] = Field(
        description="The proposed Configurations.",
        min_length=1,
        max_length=MAX_CONFIGURATIONS,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    ttl_seconds: int = Field(
        default=DEFAULT_TTL_SECONDS,
        description="Seconds after creation when the Preview and every HostPreview of it are "
        "deleted.",
        ge=MIN_TTL_SECONDS,
        le=MAX_TTL_SECONDS,
    )


class PreviewHostState(StrEnum):
    #: A HostPreview was written; the answer is in its status.
    REQUESTED = "Requested"
    #: The host's agent is not heartbeating: nothing was asked, the host is unknown.
    OFFLINE = "Offline"
    #: The controller found what the real rollout would stop at (a missing Secret, a
    #: per-host value that cannot be substituted); the host was not asked.
    FAILED = "Failed"


class PreviewHost(Status):
    host: str = Field(description="Name of the Host.")
    configuration: str = Field(description="Name of the proposed Configuration.")
    state: PreviewHostState = Field(description="Requested, Offline or Failed.")
    host_preview: str = Field(default="", description="The HostPreview, in the host namespace.")
    reason: str = Field(default="", description="CamelCase reason when Failed.")
    message: str = Field(default="", description="Why, when Failed.", max_length=1024)


class PreviewStatus(Status):
    observed_generation: int = observed_generation_field()
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready once every selected host was asked (or found offline or failing).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    hosts: list[PreviewHost] = Field(
        default_factory=list,
        description="Every selected host, per proposed Configuration.",
        max_length=MAX_PREVIEW_HOSTS,
    )
    expires_at: str = Field(default="", description="When the Preview is deleted.")


class Preview(Spec):
    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default=API_VERSION, description="APIVersion of this object.")
    kind: str = Field(default="Preview", description="Kind of this object.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Object metadata.")
    spec: PreviewSpec
    status: PreviewStatus = Field(default_factory=PreviewStatus)


# -- the per-host request and its answer --------------------------------------------------------


class HostPreviewSpec(Spec):
    host: str = Field(description="Name of the Host asked.", max_length=253)
    preview: ObjectReference = Field(description="The Preview this answers.")
    configuration: ObjectReference = Field(description="The proposed Configuration.")
    requested_by: str = Field(description="Who asked, as admission recorded it.", max_length=512)
    expires_at: str = Field(description="After this time the agent does not answer.")
    resources: DerivedResources = Field(
        description="Resolved resources to evaluate, exactly as the Assignment would carry them.",
        max_length=MAX_RESOURCES,
    )
    mode: Mode = Field(default=Mode.APPLY_AND_AUTO_CORRECT, description="Drift mode.")
    pending_secrets: list[str] = Field(
        default_factory=list,
        description="Secret copies (by name in the host namespace) that exist in the "
        "Configuration's namespace but not yet here: the real rollout copies them first, so "
        "the agent treats their values as unknown (a property set from one would change).",
        max_length=MAX_RESOURCES,
    )


class PreviewChange(Status):
    property: str = Field(description="Property name, as in the resource.")
    current: str = Field(default="", description="The host's value, as JSON (secrets redacted).")
    desired: str = Field(default="", description="The proposed value, as JSON (redacted).")


class PreviewResult(Status):
    name: str = Field(description="Resource name.")
    type: str = Field(description="Resource type.")
    status: str = Field(description="ok, wouldChange, failed, denied or skipped.")
    reason: str = Field(default="", description="CamelCase reason when not ok.")
    message: str = Field(default="", description="What the run would meet.", max_length=1024)
    changes: list[PreviewChange] = Field(default_factory=list, description="What would change.")
    reboot_required: bool = Field(
        default=False,
        description="The change may need a reboot: a WindowsFeature, MsiPackage or DscResource "
        "change (the OS says so only once it is made), or one the provider knows needs it.",
    )
    in_desired_state: bool = Field(default=False, description="Nothing to change.")

    @property
    def failed(self) -> bool:
        return resource_failed(self.in_desired_state, self.reason)


class HostPreviewStatus(Status):
    observed_generation: int = observed_generation_field()
    answered_at: str = Field(default="", description="When the agent answered.")
    results: list[PreviewResult] = Field(
        default_factory=list, description="Per resource.", max_length=MAX_RESOURCES
    )
    reboot_required: bool = Field(
        default=False, description="Some change here may need a reboot (see results)."
    )
    error: str = Field(
        default="",
        description="Why the host could not evaluate the preview at all (e.g. a resource type "
        "it does not support): the real run would stop there too.",
        max_length=MAX_MESSAGE_LENGTH,
    )


class HostPreview(Spec):
    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default=API_VERSION, description="APIVersion of this object.")
    kind: str = Field(default="HostPreview", description="Kind of this object.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Object metadata.")
    spec: HostPreviewSpec
    status: HostPreviewStatus = Field(default_factory=HostPreviewStatus)

    def answered(self) -> bool:
        return self.status.observed_generation == (self.metadata.generation or 1) and bool(
            self.status.answered_at
        )


# -- names, times, values -----------------------------------------------------------------------


def preview_label(namespace: str, name: str) -> str:
    return names.shorten(f"{namespace}.{name}", names.MAX_LABEL_VALUE)


def host_preview_name(namespace: str, preview: str, configuration: str) -> str:
    return names.shorten(f"{namespace}.{preview}.{configuration}", names.MAX_NAME)


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def expired(expires_at: str, now: dt.datetime | None = None) -> bool:
    """Past its expiry; an unreadable time counts as expired (nothing is answered on it)."""
    when = parse_time(expires_at)
    return when is None or (now or dt.datetime.now(dt.UTC)) >= when


def shown_value(value: Any) -> str:
    """A value as an answer carries it: JSON text, cut to MAX_VALUE_LENGTH."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > MAX_VALUE_LENGTH:
        cut = len(text) - MAX_VALUE_LENGTH
        text = f"{text[:MAX_VALUE_LENGTH]}… ({cut} more characters)"
    return text


# -- the one reading of an answer ---------------------------------------------------------------


class HostVerdict(StrEnum):
    CHANGES = "wouldChange"
    NO_CHANGES = "unchanged"
    FAILS = "wouldFail"
    #: Offline, or no answer in time.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    verdict: HostVerdict
    #: The first failure, as a reviewer reads it ("denied by host policy: ...").
    message: str = ""


def host_verdict(status: HostPreviewStatus) -> Verdict:
    """What an answer says: fails if the host could not evaluate it or a resource would fail
    (a policy denial, a missing Secret, an invalid value), else changes or not."""
    if status.error:
        return Verdict(HostVerdict.FAILS, status.error)
    failed = [r for r in status.results if r.failed]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        what = _REASON_WORDS.get(first.reason, first.reason or "failed")
        return Verdict(
            HostVerdict.FAILS, f"{what}: {first.name} ({first.type}): {first.message}{more}"
        )
    if any(r.changes or not r.in_desired_state for r in status.results):
        return Verdict(HostVerdict.CHANGES)
    return Verdict(HostVerdict.NO_CHANGES)


_REASON_WORDS = {
    "DeniedByHostPolicy": "denied by host policy",
    "SecretNotFound": "secret not found",
    "InvalidSpec": "invalid",
}


def reason_words(reason: str) -> str:
    return _REASON_WORDS.get(reason, reason)
