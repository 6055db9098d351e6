"""AuditTrail: what the agent calls for every change, drift, checkpoint and restart.

A change is written ahead: ``begin`` records an intent before the OS is touched and
``complete`` records the outcome after. A crash in between leaves an open intent; on restart
``pending`` lists it and ``recover`` compares the resource's current state with the intent's
before and desired digests, so no change is ever unaccounted for.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from typing import Any

from transom.engine.audit.canonical import digest_state
from transom.engine.audit.checkpoint import Checkpoint, Checkpointer, rfc3339
from transom.engine.audit.log import AuditLog
from transom.engine.audit.record import (
    SEALED_SECRETS_VERSION,
    AuditAction,
    AuditRecord,
    AuditResult,
    ChangeSource,
)
from transom.engine.audit.sinks import EventId, EventLogSink, Severity, describe, event_for
from transom.engine.redact import REDACTED, SealedSecret
from transom.engine.result import ResourceOutcome, Status

LOGGER = logging.getLogger("transom.audit")

#: Already-redacted resource state (see transom.engine.redact); None when there is none.
State = Any


class AuditTrail:
    """The log plus its witnesses. ``redact`` (e.g. ``Redactor.value``) is applied to state
    and error text once more before digesting, so a secret the engine missed cannot shape a
    brute-forceable digest or reach a message."""

    def __init__(
        self,
        log: AuditLog,
        *,
        checkpointer: Checkpointer | None = None,
        event_log: EventLogSink | None = None,
        logger: logging.Logger = LOGGER,
        redact: Callable[[Any], Any] | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.log = log
        self.checkpointer = checkpointer
        self.event_log = event_log
        self.logger = logger
        self._redact = redact or (lambda value: value)
        self.clock = clock

    def begin(
        self,
        source: ChangeSource,
        resource: str,
        kind: str,
        *,
        before: State,
        desired: State,
        action: AuditAction = AuditAction.SET,
    ) -> AuditRecord:
        """Record the intent to change a resource; call before touching the OS."""
        return self._append(
            self._record(
                source,
                resource,
                kind,
                AuditAction.INTENT,
                before=self._digest(before),
                after=self._digest(desired),
                result=AuditResult.PENDING,
                planned=action.value,
            )
        )

    def complete(
        self,
        intent: AuditRecord,
        *,
        after: State,
        result: AuditResult = AuditResult.SUCCEEDED,
        error: str = "",
        reboot: bool = False,
    ) -> AuditRecord:
        """Record the outcome of the change ``intent`` announced."""
        _require_intent(intent)
        return self._close(
            intent,
            AuditAction(intent.planned),
            after=self._digest(after),
            result=result,
            error=error,
            reboot=reboot,
        )

    def record(
        self,
        source: ChangeSource,
        resource: str,
        kind: str,
        action: AuditAction,
        *,
        before: State = None,
        after: State = None,
        result: AuditResult = AuditResult.SUCCEEDED,
        error: str = "",
        reboot: bool = False,
    ) -> AuditRecord:
        """A record without an intent, e.g. drift found in ApplyAndMonitor mode (before: the
        desired state, after: the state found)."""
        return self._append(
            self._record(
                source,
                resource,
                kind,
                action,
                before=self._digest(before),
                after=self._digest(after),
                result=result,
                error=self._text(error),
                reboot=reboot,
            )
        )

    def record_drift(self, source: ChangeSource, outcome: ResourceOutcome) -> AuditRecord | None:
        """Record drift the engine found but did not correct (ApplyAndMonitor, or held back
        as flapping); None for any other outcome. Corrections are recorded around the set
        itself (see AuditObserver). States come from the engine's redacted diff: before is
        the desired value of each drifted property, after the value found."""
        if outcome.status not in (Status.DRIFTED, Status.FLAPPING):
            return None
        return self.record(
            source,
            outcome.name,
            outcome.kind,
            AuditAction.DRIFT_DETECTED,
            before={d.prop: d.desired for d in outcome.diff},
            after={d.prop: d.actual for d in outcome.diff},
            result=AuditResult.PENDING,
            error=outcome.message if outcome.status is Status.FLAPPING else "",
        )

    def pending(self) -> list[AuditRecord]:
        """Intents without an outcome: call on startup, before applying anything."""
        return self.log.open_intents()

    def recover(self, intent: AuditRecord, current: State, error: str = "") -> AuditRecord:
        """Account for an intent left open by a crash, given the resource's state now.

        For a reboot intent, pass the new boot's state and use ``complete`` instead.
        """
        _require_intent(intent)
        # An intent from before secrets were sealed digested them redacted: compare alike.
        digest = self._digest(
            current if intent.version >= SEALED_SECRETS_VERSION else _unsealed(current)
        )
        if digest == intent.after:
            result = AuditResult.SUCCEEDED
        elif digest == intent.before:
            result = AuditResult.NOT_APPLIED
        else:
            result = AuditResult.UNKNOWN
        return self._close(
            intent, AuditAction.RECOVERED, after=digest, result=result, error=error, reboot=False
        )

    def record_log_repair(self, source: ChangeSource) -> AuditRecord | None:
        """If opening the log quarantined a torn last line, record that in the chain."""
        torn = self.log.torn_tail
        if torn is None:
            return None
        self.log.torn_tail = None
        return self.record(
            source,
            torn.segment,
            "AuditLog",
            AuditAction.LOG_REPAIRED,
            result=AuditResult.SUCCEEDED,
            error=f"{torn.length} bytes of a torn append at offset {torn.offset} "
            f"moved to {torn.quarantine}",
        )

    def maybe_checkpoint(self) -> Checkpoint | None:
        """Sign the head if due; publish the result (``to_api()``) in Host status."""
        if self.checkpointer is None:
            return None
        try:
            checkpoint = self.checkpointer.maybe_checkpoint()
        except OSError:
            # The change is recorded; the checkpoint stays due and is retried next time.
            self.logger.warning("could not store an audit checkpoint", exc_info=True)
            return None
        if checkpoint is not None:
            message = f"Audit checkpoint: record {checkpoint.sequence}, {checkpoint.head_hash}"
            self._emit(EventId.CHECKPOINT_SIGNED, Severity.INFORMATION, message, None)
        return checkpoint

    def _close(
        self,
        intent: AuditRecord,
        action: AuditAction,
        *,
        after: str,
        result: AuditResult,
        error: str,
        reboot: bool,
    ) -> AuditRecord:
        source = ChangeSource(
            intent.host,
            intent.identity,
            intent.configuration,
            intent.generation,
            intent.revision,
            intent.kustomization,
            intent.provenance,
        )
        return self._append(
            self._record(
                source,
                intent.resource,
                intent.type,
                action,
                before=intent.before,
                after=after,
                result=result,
                error=self._text(error),
                reboot=reboot,
                intent=intent.seq,
            )
        )

    def _record(
        self,
        source: ChangeSource,
        resource: str,
        kind: str,
        action: AuditAction,
        *,
        before: str,
        after: str,
        result: AuditResult,
        error: str = "",
        reboot: bool = False,
        planned: str = "",
        intent: int = 0,
    ) -> AuditRecord:
        return AuditRecord(
            seq=0,
            time=rfc3339(self.clock()),
            host=source.host,
            identity=source.identity,
            configuration=source.configuration,
            generation=source.generation,
            revision=source.revision,
            kustomization=source.kustomization,
            resource=resource,
            type=kind,
            action=action,
            before=before,
            after=after,
            result=result,
            error=error,
            reboot=reboot,
            planned=planned,
            intent=intent,
            provenance=source.provenance,
        )

    def _append(self, record: AuditRecord) -> AuditRecord:
        sealed = self.log.append(record)
        event = event_for(sealed)
        if event is not None:
            self._emit(*event, describe(sealed), sealed)
        else:
            self.logger.debug("audit intent", extra={"audit": sealed.to_json()})
        return sealed

    def _emit(
        self, event_id: EventId, severity: Severity, message: str, record: AuditRecord | None
    ) -> None:
        level = {
            Severity.INFORMATION: logging.INFO,
            Severity.WARNING: logging.WARNING,
            Severity.ERROR: logging.ERROR,
        }[severity]
        summary = message.split("\n", 1)[0]
        extra = {"audit": record.to_json()} if record is not None else {}
        self.logger.log(level, summary, extra={"eventId": int(event_id), **extra})
        if self.event_log is None:
            return
        try:
            self.event_log.write(event_id, severity, message)
        except Exception:
            # The log file is the record of truth; the Event Log is a copy for admins.
            self.logger.warning("could not write to the Event Log", exc_info=True)

    def _digest(self, state: State) -> str:
        return digest_state(self._redact(state))

    def _text(self, text: str) -> str:
        return str(self._redact(text)) if text else ""


def _unsealed(state: State) -> State:
    """``state`` with each sealed secret redacted, as records before version 3 digested it."""
    if isinstance(state, SealedSecret):
        return REDACTED
    if isinstance(state, dict):
        return {k: _unsealed(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_unsealed(v) for v in state]
    return state


def _require_intent(record: AuditRecord) -> None:
    if record.action is not AuditAction.INTENT:
        raise ValueError(f"record {record.seq} is not an intent")
