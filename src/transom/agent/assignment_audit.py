"""What one Assignment's worker puts in the host's audit chain: whom its changes come from,
changes a crash left open, and drift only reported. Changes themselves are recorded by the
engine's observer around each set."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from transom.api.names import host_user
from transom.engine.audit import AuditAction, AuditObserver, AuditTrail, ChangeSource
from transom.engine.converge import Engine, Plan
from transom.engine.journal import AssignmentOrigin
from transom.engine.result import RunReport

log = logging.getLogger(__name__)


class AssignmentAudit:
    def __init__(self, trail: AuditTrail, host: str, changed: Callable[[], None]) -> None:
        self.trail = trail
        self.host = host
        #: Called after changes were recorded: the publisher signs a checkpoint when due.
        self.changed = changed
        self.observer = AuditObserver(trail, ChangeSource(host, host_user(host)))

    def set_origin(self, origin: AssignmentOrigin | None) -> None:
        """Changes from now on come from this Assignment's Configuration and commit."""
        if origin is None:
            return
        source = origin.source
        kust = source.kustomization
        self.observer.source = ChangeSource(
            host=self.host,
            identity=host_user(self.host),
            configuration=f"{source.configuration.namespace}/{source.configuration.name}",
            generation=source.generation,
            revision=source.revision,
            kustomization=f"{kust.namespace}/{kust.name}" if kust else "",
            provenance=(
                source.provenance.model_dump(mode="json", by_alias=True)
                if source.provenance is not None
                else None
            ),
        )

    def recover(self, engine: Engine, plan: Plan) -> None:
        """Account for changes a crash left between the OS and the audit log: each open intent
        of this Configuration is closed with the resource's state now (succeeded, not applied
        or unknown), before anything is applied again."""
        config = self.observer.source.configuration
        for intent in self.trail.pending():
            if intent.configuration != config or intent.planned == AuditAction.REBOOT.value:
                continue
            try:
                current = engine.observed(plan, intent.resource)
            except Exception as exc:  # recovery must not stop the agent
                self.trail.recover(intent, {}, error=f"state unreadable: {type(exc).__name__}")
                continue
            if current is None:
                self.trail.recover(intent, {}, error="resource no longer in the desired state")
            else:
                self.trail.recover(intent, current)
            log.warning(
                "audit: recorded a change interrupted by a crash: %s %s",
                intent.type,
                intent.resource,
            )

    def record_drift(self, report: RunReport, told: Collection[str]) -> None:
        """Drift a check found; persistent drift (already in ``told``) is recorded once."""
        for outcome in report.results:
            if outcome.name not in told:
                self.trail.record_drift(self.observer.source, outcome)
        self.changed()
