"""One audit record: who changed what on which host, from which commit, and the chain link."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from transom.engine.audit.canonical import canonical_json, sha256_hex

#: Records of version 1 have no ``v`` and no ``provenance``, and are hashed without them, so
#: a chain written before provenance verifies as it was written. Version 3 records are laid out
#: as version 2 ones; only their digests mean more: a secret property enters ``before`` and
#: ``after`` sealed (a keyed digest, see transom.engine.redact.SecretSealer) instead of as
#: ``<redacted>``, so a change to a secret alone changes them.
RECORD_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
#: The first version whose digests seal secrets.
SEALED_SECRETS_VERSION = 3


class AuditAction(StrEnum):
    SET = "set"
    DRIFT_DETECTED = "drift-detected"
    DRIFT_CORRECTED = "drift-corrected"
    REBOOT = "reboot"
    #: An intent found without its completion after a restart, now accounted for.
    RECOVERED = "recovered"
    #: Written before an OS change (write-ahead); ``planned`` says which change.
    INTENT = "intent"
    #: The log itself was repaired (a torn last line quarantined after a crash).
    LOG_REPAIRED = "log-repaired"


class AuditResult(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Recovery found the state as it was before the intent: the change never happened.
    NOT_APPLIED = "not-applied"
    #: Recovery found neither the before nor the desired state.
    UNKNOWN = "unknown"
    #: Intents and drift reports have no outcome yet.
    PENDING = "pending"


@dataclass(frozen=True)
class ChangeSource:
    """Who acted and on whose behalf: the same for every record of one Assignment run."""

    host: str
    #: The Kubernetes user the agent acted as, e.g. ``transom:host:web-1``.
    identity: str
    #: ``namespace/name`` of the Configuration.
    configuration: str = ""
    generation: int = 0
    #: Git revision as Flux reports it, e.g. ``main@sha1:0a1b2c``.
    revision: str = ""
    #: ``namespace/name`` of the Flux Kustomization that applied the Configuration.
    kustomization: str = ""
    #: Who authorized the generation (``transom.api.provenance.Provenance`` in wire form).
    provenance: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class AuditRecord:
    """A line of the audit log. ``before``/``after`` are digests (see digest_state), never
    values; for an intent, ``after`` is the digest of the desired state."""

    seq: int
    time: str
    host: str
    identity: str
    configuration: str
    generation: int
    revision: str
    kustomization: str
    resource: str
    type: str
    action: AuditAction
    before: str = ""
    after: str = ""
    result: AuditResult = AuditResult.SUCCEEDED
    error: str = ""
    reboot: bool = False
    #: For an intent: the action it announces.
    planned: str = ""
    #: For a completion or recovery: the seq of the intent it closes; 0 otherwise.
    intent: int = 0
    prev_hash: str = ""
    hash: str = ""
    #: Who authorized the generation the change came from (see ChangeSource.provenance).
    provenance: Mapping[str, Any] | None = field(default=None, hash=False)
    version: int = RECORD_VERSION

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["action"] = self.action.value
        raw["result"] = self.result.value
        raw["prevHash"] = raw.pop("prev_hash")
        version = raw.pop("version")
        if version == 1:
            del raw["provenance"]
        else:
            raw["v"] = version
            raw["provenance"] = dict(self.provenance) if self.provenance is not None else None
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AuditRecord:
        """Raises KeyError, TypeError or ValueError on a malformed record."""
        fields = dict(raw)
        version = fields.pop("v", 1)
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise ValueError(f"record version {version!r}; this reads versions 1 to 3")
        if version == 1 and "provenance" in fields:
            raise ValueError("a version 1 record has no provenance")
        provenance = fields.get("provenance")
        if provenance is not None and not isinstance(provenance, dict):
            raise TypeError("provenance must be an object")
        fields["version"] = version
        fields["prev_hash"] = fields.pop("prevHash")
        fields["action"] = AuditAction(fields["action"])
        fields["result"] = AuditResult(fields["result"])
        record = cls(**fields)
        if not isinstance(record.seq, int) or isinstance(record.seq, bool):
            raise TypeError("seq must be an integer")
        return record

    def computed_hash(self) -> str:
        """sha256 over the canonical JSON of the record without its own hash."""
        raw = self.to_json()
        del raw["hash"]
        return sha256_hex(canonical_json(raw))

    def sealed(self) -> AuditRecord:
        return replace(self, hash=self.computed_hash())

    def line(self) -> bytes:
        return canonical_json(self.to_json()) + b"\n"
