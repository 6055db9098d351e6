"""AuditObserver: the engine's change observer, writing ahead to the audit trail.

The engine calls ``before_set`` before it touches the OS and ``after_set`` once the change
is made and verified (or has failed); states arrive in wire keys and already redacted. If
the intent cannot be written, ``before_set`` raises and the change is not made.
"""

from __future__ import annotations

from transom.api.resources import Resource
from transom.engine.audit.record import AuditAction, AuditRecord, AuditResult, ChangeSource
from transom.engine.audit.trail import AuditTrail, State


class AuditObserver:
    """Set ``source`` before each run: the Assignment's configuration, generation and
    revision change while the engine (and its observer) live on."""

    def __init__(self, trail: AuditTrail, source: ChangeSource) -> None:
        self.trail = trail
        self.source = source

    def before_set(
        self, resource: Resource, before: State, desired: State, *, drift: bool
    ) -> AuditRecord:
        action = AuditAction.DRIFT_CORRECTED if drift else AuditAction.SET
        return self.trail.begin(
            self.source, resource.name, resource.kind, before=before, desired=desired, action=action
        )

    def after_set(
        self,
        token: AuditRecord,
        resource: Resource,
        after: State | None,
        *,
        error: str = "",
        reboot_required: bool = False,
    ) -> None:
        self.trail.complete(
            token,
            after=after,
            result=AuditResult.FAILED if error else AuditResult.SUCCEEDED,
            error=error,
            reboot=reboot_required,
        )
        self.trail.maybe_checkpoint()
