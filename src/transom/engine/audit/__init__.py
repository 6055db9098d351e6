"""The audit trail: every change on a host answers who, what, which commit; tampering shows.

Pure logic on local files, no Kubernetes: the agent writes through AuditTrail, the CLI reads
and verifies. See docs/audit.md.
"""

from transom.engine.audit.canonical import GENESIS_HASH, canonical_json, digest_state
from transom.engine.audit.checkpoint import (
    AuditKey,
    Checkpoint,
    Checkpointer,
    load_checkpoints,
    load_public_key,
    parse_checkpoints,
)
from transom.engine.audit.log import AuditLog, AuditLogError, TornTail, read_records
from transom.engine.audit.observer import AuditObserver
from transom.engine.audit.record import AuditAction, AuditRecord, AuditResult, ChangeSource
from transom.engine.audit.sinks import (
    EventId,
    EventLogSink,
    InMemoryEventLog,
    JsonFormatter,
    Severity,
    WindowsEventLog,
)
from transom.engine.audit.trail import AuditTrail
from transom.engine.audit.verify import Finding, FindingKind, VerifyReport, verify

__all__ = [
    "GENESIS_HASH",
    "AuditAction",
    "AuditKey",
    "AuditLog",
    "AuditLogError",
    "AuditObserver",
    "AuditRecord",
    "AuditResult",
    "AuditTrail",
    "ChangeSource",
    "Checkpoint",
    "Checkpointer",
    "EventId",
    "EventLogSink",
    "Finding",
    "FindingKind",
    "InMemoryEventLog",
    "JsonFormatter",
    "Severity",
    "TornTail",
    "VerifyReport",
    "WindowsEventLog",
    "canonical_json",
    "digest_state",
    "load_checkpoints",
    "load_public_key",
    "parse_checkpoints",
    "read_records",
    "verify",
]
