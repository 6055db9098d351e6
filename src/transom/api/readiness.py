"""Readiness: the probes an agent runs after applying, before the host counts as Ready, and
what a host does when they fail (`rollout.rollback`).

The thresholds mean what they mean for Kubernetes probes: a probe runs every
``periodSeconds``, an attempt taking longer than ``timeoutSeconds`` fails, a probe passes
after ``successThreshold`` consecutive successes and stops passing after ``failureThreshold``
consecutive failures. The host is Ready once every probe has passed for ``minReadySeconds``
without a break (a Deployment's minReadySeconds), and failed when that has not happened
``progressDeadlineSeconds`` after the apply finished (a Deployment's progressDeadlineSeconds).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field, field_validator, model_validator

from transom.api.resources.files import ABSOLUTE_PATH_PATTERN, PATH_MAX_LENGTH
from transom.api.wire import Spec, Status, cel

MAX_PROBES = 16
MAX_ARGS = 32
PROBE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Bytes of an HTTP response body read for ``bodyRegex``.
BODY_LIMIT = 64 * 1024


class StatusRange(Spec):
    """An inclusive range of HTTP status codes."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            {"rule": "self.min <= self.max", "message": "min must not be greater than max"}
        )
    )

    min: int = Field(default=200, ge=100, le=599, description="Lowest status accepted.")
    max: int = Field(default=399, ge=100, le=599, description="Highest status accepted.")

    @model_validator(mode="after")
    def _ordered(self) -> StatusRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be greater than max ({self.max})")
        return self


class HttpProbe(Spec):
    """An HTTP GET that must answer with a status in ``expectedStatus`` (redirects are not
    followed) and, when ``bodyRegex`` is set, a body it matches."""

    url: str = Field(
        description="http:// or https:// URL to GET.",
        pattern=r"^https?://\S+$",
        max_length=2048,
    )
    expected_status: StatusRange = Field(
        default_factory=StatusRange, description="Status codes that pass (default 200-399)."
    )
    body_regex: str | None = Field(
        default=None,
        description=f"A regular expression the body (its first {BODY_LIMIT // 1024} KiB) must "
        "contain a match of.",
        min_length=1,
        max_length=1024,
    )
    insecure_skip_tls_verify: bool = Field(
        default=False,
        description="Accept any certificate. Off by default: https is verified against the "
        "host's trust store, or caBundle when set.",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="PEM CA certificates to verify the server against instead of the host's "
        "trust store.",
        pattern=r"-----BEGIN CERTIFICATE-----",
        max_length=65536,
    )

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"bodyRegex {value!r} is not a valid regular expression: {exc}"
                ) from None
        return value


class TcpProbe(Spec):
    """A TCP connection that must open."""

    host: str = Field(description="Host name or address.", min_length=1, max_length=253)
    port: int = Field(description="Port.", ge=1, le=65535)


class ServiceProbe(Spec):
    """A Windows service that must be running, and have been for ``runningSeconds``. Windows
    only: on other hosts the probe fails, saying so."""

    name: str = Field(
        description="Service name (not its display name).", min_length=1, max_length=256
    )
    running_seconds: int = Field(
        default=0, ge=0, le=3600, description="How long it must have been running without a stop."
    )


class CommandProbe(Spec):
    """A program that must exit 0. It runs code, so the host policy must allow scripts; the
    path is absolute (no search path) and arguments are passed as they are, without a shell."""

    runs_code: ClassVar[bool] = True

    path: str = Field(
        description="Absolute path of the program.",
        min_length=1,
        max_length=PATH_MAX_LENGTH,
        pattern=ABSOLUTE_PATH_PATTERN,
    )
    args: list[str] = Field(default_factory=list, description="Arguments.", max_length=MAX_ARGS)


class EventLogProbe(Spec):
    """No Error event from ``source`` in ``log`` since the apply finished. Windows only: on
    other hosts the probe fails, saying so."""

    source: str = Field(description="Event source name.", min_length=1, max_length=256)
    log: str = Field(
        default="Application", description="Event log name.", min_length=1, max_length=256
    )


PROBE_KINDS = ("command", "eventLog", "http", "service", "tcp")


class Probe(Spec):
    """One check: a name and exactly one of http, tcp, service, command, eventLog."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            {
                "rule": " + ".join(f"(has(self.{k}) ? 1 : 0)" for k in PROBE_KINDS) + " == 1",
                "message": "a probe must set exactly one of: " + ", ".join(PROBE_KINDS),
            }
        )
    )

    name: str = Field(
        description="Name of the probe, unique in the list.",
        pattern=PROBE_NAME_PATTERN,
        max_length=63,
    )
    http: HttpProbe | None = Field(default=None, description="An HTTP GET.")
    tcp: TcpProbe | None = Field(default=None, description="A TCP connect.")
    service: ServiceProbe | None = Field(default=None, description="A running Windows service.")
    command: CommandProbe | None = Field(default=None, description="A program exiting 0.")
    event_log: EventLogProbe | None = Field(
        default=None, description="No Error event from a source since the apply."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Probe:
        set_ = [k for k in PROBE_KINDS if getattr(self, _attr(k)) is not None]
        if len(set_) != 1:
            raise ValueError(
                f"probe {self.name}: set exactly one of {', '.join(PROBE_KINDS)} "
                f"(set: {', '.join(set_) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in PROBE_KINDS if getattr(self, _attr(k)) is not None)

    @property
    def check(self) -> HttpProbe | TcpProbe | ServiceProbe | CommandProbe | EventLogProbe:
        value = getattr(self, _attr(self.kind))
        assert value is not None
        return value  # type: ignore[no-any-return]


def _attr(kind: str) -> str:
    return "event_log" if kind == "eventLog" else kind


class Readiness(Spec):
    """Probes run after every apply; the host is Ready only once they pass."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            {
                "rule": "!has(self.minReadySeconds) || !has(self.progressDeadlineSeconds) || "
                "self.progressDeadlineSeconds > self.minReadySeconds",
                "message": "progressDeadlineSeconds must be greater than minReadySeconds",
                "fieldPath": ".progressDeadlineSeconds",
            }
        )
    )

    probes: list[Probe] = Field(
        description="The probes; all must pass.",
        min_length=1,
        max_length=MAX_PROBES,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    period_seconds: int = Field(default=5, ge=1, le=3600, description="How often each probe runs.")
    timeout_seconds: int = Field(
        default=1, ge=1, le=3600, description="An attempt taking longer fails."
    )
    success_threshold: int = Field(
        default=1, ge=1, le=100, description="Consecutive successes for a probe to pass."
    )
    failure_threshold: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive failures for a passing probe to stop passing.",
    )
    min_ready_seconds: int = Field(
        default=0,
        ge=0,
        le=86400,
        description="How long every probe must keep passing before the host counts as Ready.",
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=1,
        le=86400,
        description="Seconds after the apply by which the host must be Ready; after it the "
        "host counts as failed (and rolls back when rollout.rollback.onFailure is set).",
    )

    @model_validator(mode="after")
    def _checks(self) -> Readiness:
        names = [p.name for p in self.probes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"probe names must be unique: {', '.join(dupes)}")
        if self.progress_deadline_seconds <= self.min_ready_seconds:
            raise ValueError(
                f"progressDeadlineSeconds ({self.progress_deadline_seconds}) must be greater "
                f"than minReadySeconds ({self.min_ready_seconds})"
            )
        return self


class Rollback(Spec):
    """What a host does when its probes fail past the deadline."""

    on_failure: bool = Field(
        default=False,
        description="Re-apply the last generation that was Ready on the host (from its own "
        "journal, so offline too) and halt the rollout.",
    )


# -- status -------------------------------------------------------------------------------


class ReadinessState(StrEnum):
    #: Not every probe passes yet.
    PENDING = "Pending"
    #: Every probe passes; waiting out minReadySeconds.
    SOAKING = "Soaking"
    READY = "Ready"
    #: The deadline passed before the host was Ready.
    FAILED = "Failed"


class ProbeResult(Status):
    name: str = Field(description="Probe name.")
    kind: str = Field(description="http, tcp, service, command or eventLog.")
    passing: bool = Field(default=False, description="Whether the probe passes now.")
    successes: int = Field(default=0, description="Consecutive successes.")
    failures: int = Field(default=0, description="Consecutive failures.")
    message: str = Field(default="", description="The last attempt's result.", max_length=1024)


class ReadinessStatus(Status):
    state: ReadinessState = Field(description="Pending, Soaking, Ready or Failed.")
    started_at: str = Field(default="", description="When probing started (the apply finished).")
    deadline_at: str = Field(default="", description="When the host counts as failed.")
    passing_since: str = Field(default="", description="Since when every probe passes.")
    message: str = Field(default="", description="What the probes say.", max_length=1024)
    probes: list[ProbeResult] = Field(
        default_factory=list, description="Each probe's state.", max_length=MAX_PROBES
    )

    @property
    def settled(self) -> bool:
        return self.state in (ReadinessState.READY, ReadinessState.FAILED)


class RollbackState(StrEnum):
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"


class RollbackStatus(Status):
    state: RollbackState = Field(description="RollingBack or RolledBack.")
    from_generation: int = Field(description="The Configuration generation that failed.")
    to_generation: int = Field(description="The Configuration generation the host returned to.")
    to_revision: str = Field(default="", description="Its Git revision, when known.")
    message: str = Field(default="", description="Why: the failing probe's error.", max_length=1024)
    succeeded: bool = Field(
        default=True, description="Whether every resource of the earlier generation converged."
    )


#: On ConfigurationSpec: a rollback is decided by probes, so it needs some.
ROLLBACK_NEEDS_READINESS = {
    "rule": "!has(self.rollout) || !has(self.rollout.rollback) || "
    "!has(self.rollout.rollback.onFailure) || !self.rollout.rollback.onFailure || "
    "has(self.readiness)",
    "message": "rollout.rollback.onFailure needs readiness probes to decide a failure",
    "fieldPath": ".rollout.rollback.onFailure",
}
