"""One Assignment's life on the host, as a state machine.

    Starting ─> Idle | Applying | Enforcing     what the journal holds (nothing, a run a crash
                                                or a reboot cut short, a finished run)
    Idle ─────> Applying | Invalid | Removing
    Applying ─> Enforcing | Probing             the run finished, whatever its result;
                                                Probing when it converged and has probes
    Probing ──> Enforcing | RollingBack         the probes passed (or failed, no rollback);
                                                failed past the deadline with rollback on
    RollingBack > RolledBack                    the last Ready generation re-applied
    RolledBack > Applying | Invalid | Removing  enforces that generation until a new one
    Enforcing > Applying | Invalid | Removing   drift checks keep the host where the run left it
    Invalid ──> Applying | Invalid | Removing   the newest spec is invalid: the previous desired
                                                state, if any, is still enforced
    Removing ─> Removed
    any but Removed ─> Starting                 after an unexpected error: start over from the
                                                journal, exactly as after a crash

A new generation received outside the host's maintenance windows (the Assignment's
``spec.maintenance``, by the host's clock) changes no phase: it is ``held`` until a window
opens, and what was enforced goes on. With ``driftCorrection: Report``, drift checks outside
the windows only report (``_drift_mode``); a timer at each window edge switches the mode and,
at an opening, corrects what drifted.

``Worker._enter`` is the only way to change the phase, and refuses what the table does not
allow. Inputs (the Assignment seen, deleted, a Secret changed, drift found) land in an inbox
that keeps only the newest Assignment, and one loop handles them in order.

A run: validate the spec (nothing touches the OS if it is invalid); journal the desired state
as not completed (system-agent's lesson: a crash then means a re-run, never a false success);
apply with the engine; journal it completed; write the final status, only if it changed. A
generation older than one already acted on (same uid) is never applied.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from pydantic import ValidationError

from transom.agent import source_check, window_gate
from transom.agent import status as st
from transom.agent.assignment_audit import AssignmentAudit
from transom.agent.events import AgentEvents
from transom.agent.probes.context import ProbeContext
from transom.agent.probes.gate import Gate
from transom.agent.probes.session import probe_until_settled, readiness_status
from transom.agent.reboot_lease import RebootLease
from transom.agent.removal import removal_resources
from transom.agent.secrets import secret_names
from transom.agent.status_push import StatusPusher, StatusWriter
from transom.agent.window_gate import WindowGate
from transom.api.assignment import AssignmentSpec, AssignmentStatus, revision_text
from transom.api.conditions import (
    APPLY_FAILED,
    DRIFT_CORRECTED,
    DRIFT_DETECTED,
    INVALID_SPEC,
    PROBE_FAILED,
    READY,
    RECONCILING,
    ROLLED_BACK,
    ROLLING_BACK,
    SUCCEEDED,
    WAITING_FOR_WINDOW,
    find_condition,
)
from transom.api.configuration import Mode, RemovalPolicy
from transom.api.errors import SpecError, from_pydantic
from transom.api.provenance import UNVERIFIED_SOURCE
from transom.api.readiness import (
    Readiness,
    ReadinessState,
    ReadinessStatus,
    RollbackState,
    RollbackStatus,
)
from transom.api.windows import Verdict as WindowVerdict
from transom.engine.converge import Engine, Plan
from transom.engine.drift import DriftMonitor
from transom.engine.journal import AssignmentOrigin, Journal, JournalEntry, JournalFormatError
from transom.engine.reboot import RebootCoordinator
from transom.engine.result import RunReport
from transom.kube.client import NETWORK_ERRORS, ApiError
from transom.providers.windows.facade import WindowsFacade

if TYPE_CHECKING:
    from transom.agent.metrics import AgentMetrics

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: After an unexpected error, the worker waits this long before starting over.
RETRY_SECONDS = 1.0


class Phase(StrEnum):
    STARTING = "Starting"
    IDLE = "Idle"
    APPLYING = "Applying"
    ENFORCING = "Enforcing"
    INVALID = "Invalid"
    PROBING = "Probing"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    REMOVING = "Removing"
    REMOVED = "Removed"


_ALIVE = frozenset(Phase) - {Phase.REMOVED}
_NEW_SPEC = frozenset({Phase.STARTING, Phase.APPLYING, Phase.INVALID, Phase.REMOVING})
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.STARTING: frozenset(
        {Phase.STARTING, Phase.IDLE, Phase.APPLYING, Phase.ENFORCING, Phase.ROLLED_BACK}
    ),
    Phase.IDLE: _NEW_SPEC,
    Phase.APPLYING: frozenset({Phase.STARTING, Phase.ENFORCING, Phase.PROBING}),
    # Probing again: a restart cut the probes short, and the API's status says so.
    Phase.ENFORCING: _NEW_SPEC | {Phase.PROBING},
    Phase.INVALID: _NEW_SPEC,
    Phase.PROBING: _NEW_SPEC | {Phase.ENFORCING, Phase.ROLLING_BACK},
    # Enforcing: the earlier generation could not even be planned here any more.
    Phase.ROLLING_BACK: frozenset({Phase.STARTING, Phase.ROLLED_BACK, Phase.ENFORCING}),
    Phase.ROLLED_BACK: _NEW_SPEC,
    Phase.REMOVING: frozenset({Phase.STARTING, Phase.REMOVED}),
    Phase.REMOVED: frozenset(),
}
assert all(Phase.STARTING in TRANSITIONS[p] for p in _ALIVE)
#: Phases in which the host enforces a finished run, so drift checks run.
_ENFORCED = frozenset({Phase.ENFORCING, Phase.INVALID, Phase.PROBING, Phase.ROLLED_BACK})


class InvalidTransitionError(RuntimeError):
    pass


class AssignmentKey(NamedTuple):
    """Which object (a re-created Assignment has a new uid) and which generation of it."""

    uid: str
    generation: int

    @classmethod
    def of(cls, obj: Obj) -> AssignmentKey:
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("uid", "")), int(meta.get("generation", 0)))


class HostApi(StatusWriter, Protocol):
    """What a worker asks of the API server, all in its own host namespace."""

    async def record_event(
        self, about: Obj, *, warning: bool, reason: str, action: str, note: str
    ) -> None:
        """An Event about the Assignment; best effort, never raises for the API's sake."""

    async def refresh_secrets(self, names: Collection[str]) -> None:
        """Fetch the Secrets a run needs; raises ApiError or a network error."""


#: Builds the drift monitor of a plan; it calls back with each check's report.
MonitorFactory = Callable[[Engine, Plan, Mode, Callable[[RunReport], None]], DriftMonitor]


@dataclass(frozen=True)
class WorkerOptions:
    #: A run still going after this long is reported "in progress" in the status.
    in_progress_delay_seconds: float = 2.0
    #: How long "in progress" may take to reach the API before the run starts anyway.
    in_progress_timeout_seconds: float = 10.0
    backoff_max_seconds: float = 30.0


@dataclass(frozen=True)
class _ProbeJob:
    """The probing of one finished run: which, and what to do when it settles."""

    token: int
    readiness: Readiness
    rollback: bool
    obj: Obj
    #: The Assignment's metadata.generation, and the Configuration's generation and revision.
    generation: int
    source_generation: int
    revision: str


@dataclass
class _Inbox:
    """Inputs not handled yet. Only the newest Assignment matters, so it replaces older ones."""

    seen: Obj | None = None
    from_list: bool = False
    deleted: bool = False
    #: Run the spec again even though it was applied (a Secret it uses changed).
    rerun: bool = False
    check: bool = False
    drift: list[tuple[DriftMonitor, RunReport]] = field(default_factory=list)
    #: What the probing task found, by job token.
    probed: list[tuple[int, Gate]] = field(default_factory=list)
    #: A maintenance-window edge may have passed: look at the windows again.
    window: bool = False

    def empty(self) -> bool:
        return not (
            self.seen or self.deleted or self.check or self.drift or self.probed or self.window
        )


class Worker:
    """Everything about one Assignment: runs, drift, status. Work is serialised per worker."""

    def __init__(
        self,
        name: str,
        *,
        engine: Engine,
        journal: Journal,
        api: HostApi,
        options: WorkerOptions | None = None,
        audit: AssignmentAudit | None = None,
        events: AgentEvents | None = None,
        reboots: RebootCoordinator | None = None,
        reboot_lease: RebootLease | None = None,
        monitors: MonitorFactory | None = None,
        metrics: AgentMetrics | None = None,
        facade: WindowsFacade | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self.journal = journal
        self.api = api
        self.options = options or WorkerOptions()
        self.audit = audit
        #: The host's Event Log (Windows): policy denials are told there too.
        self.events = events or AgentEvents(None)
        self.reboots = reboots
        #: The host's reboot lease, released once back from a reboot it was granted for.
        self.reboot_lease = reboot_lease
        self._release_when_reported = False
        self.monitors = monitors
        self.metrics = metrics
        self.pusher = StatusPusher(name, api, backoff_max_seconds=self.options.backoff_max_seconds)
        self.phase = Phase.STARTING
        #: Unexpected errors survived by starting over (a healthy worker has none).
        self.errors = 0
        # What is enforced: the journal's last entry, its plan and mode, and its Assignment.
        self.entry: JournalEntry | None = None
        self.plan: Plan | None = None
        self.mode = Mode.APPLY_AND_AUTO_CORRECT
        self.applied: AssignmentOrigin | None = None
        #: The newest Assignment generation acted on: run to the end, or found invalid.
        self.acted: AssignmentKey | None = None
        #: The Assignment as last seen, for Events.
        self.current: Obj | None = None
        #: Drifted resources last announced by an Event, so persistent drift is told once.
        self.reported_drift: set[str] = set()
        self.monitor: DriftMonitor | None = None
        #: Windows: the service and eventLog probes ask it; None elsewhere.
        self.facade = facade
        self.probe_job: _ProbeJob | None = None
        self._probing: asyncio.Task[Gate] | None = None
        self._probe_tokens = 0
        self._back_from_reboot = False
        #: The maintenance windows of the generation enforced (None: it follows none).
        self.gate: WindowGate | None = None
        #: A new generation received outside the host's window, waiting for it.
        self.held: AssignmentKey | None = None
        #: The drift mode checks last ran in, so the opening of a window corrects at once.
        self._drift_mode_now: Mode | None = None
        self._window_timer: asyncio.TimerHandle | None = None
        self._inbox = _Inbox()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> Worker:
        self.tasks = [
            asyncio.create_task(self._loop(), name=f"assignment {self.name}"),
            asyncio.create_task(self.pusher.run(), name=f"status {self.name}"),
        ]
        return self

    @property
    def done(self) -> bool:
        return self.phase is Phase.REMOVED or all(t.done() for t in self.tasks)

    async def close(self) -> None:
        self._disarm()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._stop_probing()
        await self._stop_monitor()

    async def settled(self) -> None:
        """Wait until every input so far is handled (or the worker is gone); the status may
        still be on its way (``pusher.flushed()``)."""
        while not self.done and not (self._idle.is_set() and self._inbox.empty()):
            idle = asyncio.create_task(self._idle.wait())
            await asyncio.wait([idle, *self.tasks[:1]], return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()

    # -- inputs (event loop) ----------------------------------------------------------------

    def offer(self, obj: Obj, *, from_list: bool) -> None:
        inbox = self._inbox
        inbox.seen, inbox.from_list, inbox.deleted = obj, from_list, False
        self._poke()

    def delete(self) -> None:
        self._inbox.deleted = True
        self._poke()

    def secret_changed(self, name: str) -> None:
        if self.current is None or self.plan is None:
            return
        if name in secret_names(self.plan.resources):
            self._inbox.rerun = True
            if self._inbox.seen is None:
                self.offer(self.current, from_list=False)

    def drift_found(self, monitor: DriftMonitor, report: RunReport) -> None:
        self._inbox.drift.append((monitor, report))
        self._poke()

    def check_now(self) -> None:
        """Check the whole desired state now, as the periodic drift check does."""
        self._inbox.check = True
        self._poke()

    def _poke(self) -> None:
        self._idle.clear()
        self._wake.set()

    # -- the machine ------------------------------------------------------------------------

    def _enter(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise InvalidTransitionError(f"assignment {self.name}: {self.phase} -> {phase}")
        log.debug("assignment %s: %s -> %s", self.name, self.phase, phase)
        self.phase = phase

    async def _loop(self) -> None:
        while True:
            try:
                if self.phase is Phase.STARTING:
                    await self._resume()
                while self._inbox.empty():
                    self._idle.set()
                    await self._wake.wait()
                    self._wake.clear()
                if await self._handle_inbox():
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("assignment %s: unexpected error; starting over", self.name)
                await self._stop_probing()
                await self._stop_monitor()
                self._enter(Phase.STARTING)
                await asyncio.sleep(RETRY_SECONDS)

    async def _handle_inbox(self) -> bool:
        """Handle what came in; True once the Assignment is removed."""
        inbox = self._inbox
        if inbox.deleted:
            await self._remove()
            return True
        seen = inbox.seen
        if seen is not None:
            await self._seen(seen, from_list=inbox.from_list)
            if inbox.seen is seen:  # kept until handled, so an error retries it
                inbox.seen = None
        while inbox.drift:
            monitor, report = inbox.drift.pop(0)
            if monitor is self.monitor:
                await self._checked(report)
        while inbox.probed:
            token, gate = inbox.probed.pop(0)
            job = self.probe_job
            if job is not None and token == job.token and self.phase is Phase.PROBING:
                await self._probed(job, gate)
        if inbox.check:
            inbox.check = False
            if self.plan is not None and self.phase in _ENFORCED:
                await self._checked(
                    await asyncio.to_thread(self.engine.check, self.plan, self._drift_mode())
                )
        if inbox.window:
            inbox.window = False
            await self._window_edge()
        return False

    async def _resume(self) -> None:
        """Enforce what was journaled before this start, API or not."""
        await self._stop_monitor()
        self.entry, self.plan, self.applied, self.acted = None, None, None, None
        self.gate = None
        try:
            entry = await asyncio.to_thread(self.journal.load)
        except JournalFormatError as exc:
            log.error("assignment %s: %s; waiting for the API's copy", self.name, exc)
            entry = None
        if entry is None:
            self._enter(Phase.IDLE)
            return
        if self.audit is not None:
            self.audit.set_origin(entry.origin)
        try:
            plan = self.engine.plan(entry.resources)
        except SpecError as exc:
            log.error("assignment %s: journaled state invalid here: %s", self.name, exc)
            self._enter(Phase.IDLE)
            return
        self.entry, self.plan, self.mode, self.applied = entry, plan, entry.mode, entry.origin
        self.gate = await asyncio.to_thread(window_gate.load, self.journal.path.parent)
        if self.audit is not None:
            await asyncio.to_thread(self.audit.recover, self.engine, plan)
        rebooted = self.reboots is not None and await asyncio.to_thread(self.reboots.resume)
        self._release_when_reported = rebooted and RebootCoordinator.lease_required(entry)
        #: The readiness probes run again once the API's copy is adopted.
        self._back_from_reboot = rebooted
        if entry.completed and entry.origin is not None:
            self.acted = AssignmentKey(entry.origin.uid, entry.origin.generation)
        if entry.completed and not rebooted:
            self._enter(Phase.ROLLED_BACK if entry.rolled_back_to else Phase.ENFORCING)
            await self._checked(
                await asyncio.to_thread(self.engine.check, plan, self._drift_mode())
            )
        else:
            # Cut short by a crash, or the reboot a change asked for happened: apply again
            # (what waited for the reboot is verified, its dependents run). The status
            # follows once the API shows the Assignment.
            self._enter(Phase.APPLYING)
            if rebooted:
                self.entry = await asyncio.to_thread(self.journal.load)
            await asyncio.to_thread(self.engine.apply, plan)
            self._enter(Phase.ENFORCING)
        await self._start_monitor()
        self._arm()

    async def _seen(self, obj: Obj, *, from_list: bool) -> None:
        key = AssignmentKey.of(obj)
        api_status = _status_of(obj)
        self.current = obj
        rerun, self._inbox.rerun = self._inbox.rerun, False
        acted = self.acted
        if acted is not None and key.uid == acted.uid and key.generation < acted.generation:
            log.info(
                "assignment %s: generation %d is older than %d, acted on; ignored",
                self.name,
                key.generation,
                acted.generation,
            )
            return
        if key == acted and not rerun:
            if self.pusher.wanted is not None:
                # Our own status echoing back, or a re-list after a reconnect: push what the
                # API missed, if anything.
                if from_list and not st.same(api_status, self.pusher.wanted):
                    self.pusher.repush()
                return
            if _finished(api_status, key.generation) and self.phase in (
                Phase.ENFORCING,
                Phase.ROLLED_BACK,
            ):
                await self._adopt(obj, api_status)
                return
        await self._run(obj, key, api_status)

    async def _adopt(self, obj: Obj, api_status: AssignmentStatus) -> None:
        """Applied before this start (the journal says so) and the API knows it: a no-op
        check, not a re-run; status is written only if the check found something. Probes run
        again when a restart cut them short (deadline included) and after the reboot a change
        waited for; the reboot lease is given back once they settle."""
        assert self.plan is not None
        self.pusher.adopt(api_status)
        came_back, self._back_from_reboot = self._back_from_reboot, False
        readiness = api_status.readiness
        spec = AssignmentSpec.model_validate(obj.get("spec") or {})
        probe = (
            self.phase is Phase.ENFORCING
            and spec.readiness is not None
            and api_status.rollback is None
            and (came_back or (readiness is not None and not readiness.settled))
        )
        status = api_status
        if api_status.reboot_pending and self.entry is not None and self.entry.reboot is None:
            status = status.model_copy(update={"reboot_pending": False})
        if probe and spec.readiness is not None:
            # Said before the check that follows, which would otherwise report Ready.
            first = ReadinessStatus(
                state=ReadinessState.PENDING,
                message=f"running {len(spec.readiness.probes)} probe(s) again",
            )
            generation = AssignmentKey.of(obj).generation
            status = status.with_probes(first, None, generation, spec.source.revision)
        if status is not api_status:
            await self.pusher.want(status, wait_seconds=self.options.in_progress_timeout_seconds)
        if probe:
            self._start_probing(obj, spec, AssignmentKey.of(obj).generation)
        else:
            await self._release_reboot_lease()
        await self._checked(
            await asyncio.to_thread(self.engine.check, self.plan, self._drift_mode())
        )

    async def _release_reboot_lease(self) -> None:
        """Back from a granted reboot, re-applied and reported: the budget gets its slot back
        (the status first, so the controller never sees a free slot and a pending reboot)."""
        if self._release_when_reported and self.reboot_lease is not None:
            self._release_when_reported = False
            await self.reboot_lease.release()

    async def _run(self, obj: Obj, key: AssignmentKey, api_status: AssignmentStatus) -> None:
        generation = key.generation
        try:
            spec = AssignmentSpec.model_validate(obj.get("spec") or {})
            plan = self.engine.plan(spec.resources, "spec.resources")
        except ValidationError as exc:
            await self._stop_probing()
            await self._invalid(obj, key, api_status, SpecError(from_pydantic("spec", exc)))
            return
        except SpecError as exc:
            await self._stop_probing()
            await self._invalid(obj, key, api_status, exc)
            return
        refusal = source_check.refusal(self.engine.policy, spec.source)
        if refusal:
            await self._stop_probing()
            await self._refuse(obj, key, api_status, refusal)
            return
        if await self._hold(obj, key, spec, api_status):
            return  # the generation enforced until now goes on, its probes included
        await self._stop_probing()  # the last run's probes end with the run of a new spec
        self._enter(Phase.APPLYING)
        revision = spec.source.revision
        self.reported_drift = set()
        await self._stop_monitor()
        self.plan, self.mode = plan, spec.mode
        self.gate = WindowGate.of(spec.maintenance)
        await asyncio.to_thread(window_gate.save, self.journal.path.parent, self.gate)
        origin = AssignmentOrigin(
            uid=key.uid,
            generation=generation,
            removal_policy=spec.removal_policy,
            source=spec.source,
            reboot_lease=spec.reboot_lease,
        )
        record = (spec.resources, spec.mode, spec.reboot_policy)
        await asyncio.to_thread(self.journal.record, *record, origin=origin, completed=False)
        if self.audit is not None:
            self.audit.set_origin(origin)
        base = self.pusher.wanted or api_status
        # "In progress" is news only for runs that take a while: status stays truthful without
        # it (observedGeneration moves only with the final status, and the journal above makes
        # a crash re-run), and skipping it for quick runs saves a third of a fleet's writes.
        announce = asyncio.create_task(self._announce(st.in_progress(base, generation, revision)))
        try:
            await self.api.refresh_secrets(secret_names(spec.resources))
        except (ApiError, *NETWORK_ERRORS) as exc:
            log.warning("assignment %s: secrets not refreshed, using cached: %s", self.name, exc)
        try:
            report = await asyncio.to_thread(self.engine.apply, plan)
        finally:
            announce.cancel()
        if self.metrics is not None:
            self.metrics.applied(report)
        self.events.denied(self.name, report)
        entry = await asyncio.to_thread(self.journal.record, *record, origin=origin)
        self.entry, self.applied, self.acted = entry, origin, key
        if self.audit is not None:
            self.audit.changed()
        # Watch before reporting: once the status says Ready, a change must reach a notifier.
        await self._start_monitor()
        self._arm()
        await self._report_run(obj, spec, report, self.pusher.wanted or base, generation)

    async def _report_run(
        self,
        obj: Obj,
        spec: AssignmentSpec,
        report: RunReport,
        base: AssignmentStatus,
        generation: int,
    ) -> None:
        """The finished run's status (before a reboot it allows), and its Event."""
        assert self.entry is not None
        revision = spec.source.revision
        final = st.applied(base, generation, revision, report)
        pending = report.reboot_required or self.entry.reboot is not None
        # Probes judge a host that converged; one waiting for a reboot is probed after it,
        # and is not Ready before.
        converged = final.verdict().ready
        probing = spec.readiness is not None and not pending and converged
        if spec.readiness is not None and converged:
            first = ReadinessStatus(
                state=ReadinessState.PENDING,
                message="waiting for the reboot; the probes run after it"
                if pending
                else f"applied; running {len(spec.readiness.probes)} probe(s)",
            )
            final = st.applied(base, generation, revision, report, readiness=first)
        elif converged:
            await asyncio.to_thread(self.journal.mark_ready)
        if pending:
            final = final.model_copy(update={"reboot_pending": True})
        self._enter(Phase.PROBING if probing else Phase.ENFORCING)
        if self.reboots is not None:
            # The status reaches the API before the host goes down for a reboot; the policy
            # may allow one now that an earlier run asked for.
            wait = self.options.in_progress_timeout_seconds if pending else None
            await self.pusher.want(final, wait_seconds=wait)
            decision = await asyncio.to_thread(self.reboots.after_run, report, spec.reboot_policy)
            log.info("assignment %s: reboot %s", self.name, decision.value)
        else:
            await self.pusher.want(final)
        if probing:
            self._start_probing(obj, spec, generation)
        if not pending:
            await self._release_reboot_lease()
        if probing or st.is_ready(final):
            # A success (or a run now probing) is in the status: revision, results, readiness.
            # The controller records one Event per Configuration for the whole rollout; a
            # failure, which the rollout policy bounds, gets its own Event on the host.
            return
        ready = find_condition(final.conditions, READY)
        await self.api.record_event(
            obj,
            warning=True,
            reason=APPLY_FAILED,
            action="Apply",
            note=f"{revision_text(generation, revision)}: {ready.message if ready else ''}",
        )

    async def _invalid(
        self, obj: Obj, key: AssignmentKey, api_status: AssignmentStatus, error: SpecError
    ) -> None:
        self._enter(Phase.INVALID)
        self.acted, self.held = key, None
        await self.pusher.want(st.invalid(self.pusher.wanted or api_status, key.generation, error))
        await self.api.record_event(
            obj, warning=True, reason=INVALID_SPEC, action="Validate", note=str(error)
        )

    async def _refuse(
        self, obj: Obj, key: AssignmentKey, api_status: AssignmentStatus, message: str
    ) -> None:
        self._enter(Phase.INVALID)
        self.acted, self.held = key, None
        status = source_check.refused(self.pusher.wanted or api_status, key.generation, message)
        self.events.refused(self.name, message)
        await self.pusher.want(status)
        await self.api.record_event(
            obj, warning=True, reason=UNVERIFIED_SOURCE, action="Verify", note=message
        )

    async def _checked(self, report: RunReport) -> None:
        """What a drift check found: audit, status (only if it changed) and Events."""
        if self.reboots is not None and self.entry is not None:
            # A reboot waiting for its window is taken at the first check inside it.
            await asyncio.to_thread(self.reboots.tick, self.entry.reboot_policy)
        if self.metrics is not None:
            self.metrics.checked(report, self.reported_drift)
        if self.audit is not None:
            # Corrections are recorded around the change itself; drift only reported here.
            await asyncio.to_thread(self.audit.record_drift, report, self.reported_drift)
        outstanding, corrected = st.drift_summary(report)
        failed = [o for o in report.results if o.failed]
        obj, base, applied = self.current, self.pusher.wanted, self.applied
        if base is None or obj is None or applied is None or self.acted is None:
            return  # offline and no status yet: the run after reconnect reports it
        was_clean = all(r.in_desired_state for r in base.results)
        if not (outstanding or corrected or failed) and was_clean:
            return  # converged, as reported: nothing to say, nothing to write
        generation, revision = applied.generation, applied.source.revision
        status = st.checked(base, generation, revision, report)
        if self.phase is Phase.INVALID or self.held is not None:
            # The newest spec is invalid, or waits for its window; a check of the previous one
            # must not make it look Ready.
            status = status.model_copy(update={"conditions": base.conditions})
        await self.pusher.want(status)
        note = revision_text(generation, revision)
        if outstanding and set(outstanding) != self.reported_drift:
            await self.api.record_event(
                obj,
                warning=True,
                reason=DRIFT_DETECTED,
                action="DriftCheck",
                note=f"{note}: drifted: {', '.join(outstanding)}{self._deferred_text()}",
            )
        self.reported_drift = set(outstanding)
        if corrected:
            await self.api.record_event(
                obj,
                warning=False,
                reason=DRIFT_CORRECTED,
                action="DriftCheck",
                note=f"{note}: corrected: {', '.join(corrected)}",
            )

    async def _remove(self) -> None:
        self._disarm()
        await self._stop_probing()
        self._enter(Phase.REMOVING)
        await self._stop_monitor()
        entry = self.entry
        if entry is None:
            try:
                entry = await asyncio.to_thread(self.journal.load)
            except JournalFormatError as exc:
                log.error("assignment %s: %s", self.name, exc)
        policy = entry.origin.removal_policy if entry and entry.origin else RemovalPolicy.ORPHAN
        if entry is not None and policy is RemovalPolicy.DELETE:
            report = await asyncio.to_thread(self.engine.apply, removal_resources(entry.resources))
            log.info("assignment %s removed (Delete): %s", self.name, report.summary())
        else:
            log.info("assignment %s removed (Orphan): resources left as they are", self.name)
        await asyncio.to_thread(shutil.rmtree, self.journal.path.parent, True)
        self._enter(Phase.REMOVED)
        for task in self.tasks[1:]:
            task.cancel()  # the status pusher: there is no object left to write to

    # -- readiness probes and rollback -------------------------------------------------------

    def _start_probing(self, obj: Obj, spec: AssignmentSpec, generation: int) -> None:
        """Probe in a task of its own, so a new spec is not held up; what it finds comes back
        through the inbox, handled in order with everything else."""
        assert spec.readiness is not None
        if self.phase is not Phase.PROBING:
            self._enter(Phase.PROBING)
        self._probe_tokens += 1
        job = self.probe_job = _ProbeJob(
            token=self._probe_tokens,
            readiness=spec.readiness,
            rollback=spec.rollback.on_failure,
            obj=obj,
            generation=generation,
            source_generation=spec.source.generation,
            revision=spec.source.revision,
        )
        ctx = ProbeContext(self.engine.policy, self.facade, applied_at=time.time())

        def found(gate: Gate) -> None:
            self._inbox.probed.append((job.token, gate))
            self._poke()

        self._probing = asyncio.create_task(
            probe_until_settled(job.readiness, ctx, found), name=f"probes {self.name}"
        )

    async def _stop_probing(self) -> None:
        task, self._probing, self.probe_job = self._probing, None, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _probed(self, job: _ProbeJob, gate: Gate) -> None:
        base = self.pusher.wanted
        assert base is not None
        readiness = readiness_status(gate, time.monotonic())
        status = base.with_probes(readiness, None, job.generation, job.revision)
        if not gate.settled:
            await self.pusher.want(status)
            return
        self.probe_job, self._probing = None, None
        await self._release_reboot_lease()  # back from a reboot: the probes said their word
        note = f"{revision_text(job.source_generation, job.revision)}: {readiness.message}"
        if gate.state is ReadinessState.READY:
            self._enter(Phase.ENFORCING)
            await asyncio.to_thread(self.journal.mark_ready)
            await self.pusher.want(status)
            await self.api.record_event(
                job.obj, warning=False, reason=SUCCEEDED, action="Probe", note=note
            )
            return
        target = await asyncio.to_thread(self.journal.last_ready) if job.rollback else None
        if (
            target is None
            or target.origin is None
            or target.origin.source.generation == job.source_generation
        ):
            if job.rollback:
                note += "; no earlier Ready generation on this host to roll back to"
            self._enter(Phase.ENFORCING)
            await self.pusher.want(status)
            await self.api.record_event(
                job.obj, warning=True, reason=PROBE_FAILED, action="Probe", note=note
            )
            return
        await self._roll_back(job, readiness, target)

    async def _roll_back(
        self, job: _ProbeJob, readiness: ReadinessStatus, target: JournalEntry
    ) -> None:
        """Re-apply the last desired state that was Ready here, from the journal alone."""
        assert target.origin is not None and self.applied is not None
        started = time.monotonic()
        self._enter(Phase.ROLLING_BACK)
        source = target.origin.source
        rollback = RollbackStatus(
            state=RollbackState.ROLLING_BACK,
            from_generation=job.source_generation,
            to_generation=source.generation,
            to_revision=source.revision,
            message=readiness.message,
        )
        base = self.pusher.wanted
        assert base is not None
        await self.pusher.want(base.with_probes(readiness, rollback, job.generation, job.revision))
        back_to = revision_text(source.generation, source.revision)
        await self.api.record_event(
            job.obj,
            warning=True,
            reason=ROLLING_BACK,
            action="Rollback",
            note=f"{revision_text(job.source_generation, job.revision)} failed its probes; "
            f"rolling back to {back_to}: {readiness.message}",
        )
        try:
            plan = self.engine.plan(target.resources)
        except SpecError as exc:
            log.error("assignment %s: cannot roll back to %s: %s", self.name, back_to, exc)
            self._enter(Phase.ENFORCING)
            status = base.with_probes(readiness, None, job.generation, job.revision)
            await self.pusher.want(status)
            return
        await self._stop_monitor()
        # A rollback is not held by the windows: it undoes a change that started in one.
        self.plan, self.mode = plan, target.mode
        if self.audit is not None:
            self.audit.set_origin(target.origin)
        # The failed generation stays the one acted on (the journal's origin), so neither a
        # restart nor the API's copy runs it again; the resources are the earlier ones.
        record = (target.resources, target.mode, target.reboot_policy)
        await asyncio.to_thread(
            self.journal.record,
            *record,
            origin=self.applied,
            completed=False,
            rolled_back_to=target.origin,
        )
        report = await asyncio.to_thread(self.engine.apply, plan)
        self.entry = await asyncio.to_thread(
            self.journal.record, *record, origin=self.applied, rolled_back_to=target.origin
        )
        if self.audit is not None:
            self.audit.changed()
        await self._start_monitor()
        done = rollback.model_copy(
            update={
                "state": RollbackState.ROLLED_BACK,
                "succeeded": not any(o.failed for o in report.results),
            }
        )
        final = st.applied(
            base, job.generation, job.revision, report, readiness=readiness, rollback=done
        )
        self._enter(Phase.ROLLED_BACK)
        await self.pusher.want(final)
        seconds = time.monotonic() - started
        log.info(
            "assignment %s: rolled back to %s in %.2f s after the probes failed",
            self.name,
            back_to,
            seconds,
        )
        await self.api.record_event(
            job.obj,
            warning=True,
            reason=ROLLED_BACK,
            action="Rollback",
            note=f"rolled back to {back_to} in {seconds:.2f} s: {report.summary()}",
        )

    # -- drift monitor ----------------------------------------------------------------------

    async def _start_monitor(self) -> None:
        if self.monitors is None or self.plan is None:
            return
        await self._stop_monitor()
        loop = asyncio.get_running_loop()
        holder: list[DriftMonitor] = []

        def on_report(report: RunReport) -> None:
            loop.call_soon_threadsafe(self.drift_found, holder[0], report)

        monitor = self.monitors(self.engine, self.plan, self._drift_mode(), on_report)
        holder.append(monitor)
        self.monitor = monitor
        monitor.start()

    async def _stop_monitor(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            await asyncio.to_thread(monitor.stop)

    # -- maintenance windows ----------------------------------------------------------------

    def _drift_mode(self) -> Mode:
        """The mode drift is checked in now: the spec's, except that ApplyAndAutoCorrect only
        reports outside the host's windows when its driftCorrection says Report."""
        mode = window_gate.effective_mode(self.gate, self.mode, _now())
        if self.monitor is not None and self.monitor.mode is not mode:
            self.monitor.set_mode(mode)
        self._drift_mode_now = mode
        return mode

    def _deferred_text(self) -> str:
        if self.gate is None:
            return ""
        mode, opens = self.gate.drift_mode(self.mode, _now())
        if mode is self.mode:
            return ""
        when = f" (next opens {window_gate.rfc3339(opens)})" if opens else ""
        return f"; not corrected outside the host's maintenance windows{when}"

    async def _hold(
        self, obj: Obj, key: AssignmentKey, spec: AssignmentSpec, api_status: AssignmentStatus
    ) -> bool:
        """True when a new generation must wait for the host's window (by its own clock);
        its status then says so, and when the next window opens. A generation this host
        already started (the journal says so: a crash or a reboot cut it short) goes on."""
        gate = WindowGate.of(spec.maintenance)
        started = self.applied is not None and (self.applied.uid, self.applied.generation) == key
        verdict = None if gate is None or started else gate.may_start(_now())
        if verdict is None or verdict.open:
            self.held = None
            return False
        first = self.held != key
        self.held = key
        base = self.pusher.wanted or api_status
        source = spec.source
        status = window_gate.waiting(
            base, key.generation, source.generation, source.revision, verdict
        )
        await self.pusher.want(status)
        self._arm(verdict)
        if first:
            ready = find_condition(status.conditions, READY)
            message = ready.message if ready is not None else ""
            log.info("assignment %s: %s", self.name, message)
            await self.api.record_event(
                obj, warning=False, reason=WAITING_FOR_WINDOW, action="Apply", note=message
            )
        return True

    def _arm(self, held: WindowVerdict | None = None) -> None:
        """Wake at the next window edge that matters: a held generation's opening, or a
        change of the drift mode (each at most RECHECK_SECONDS away)."""
        self._disarm()
        now = _now()
        delays = [window_gate.next_look(self.gate, self.mode, now)]
        if held is not None:
            delays.append(window_gate.wake_after(held, now))
        known = [d for d in delays if d is not None]
        if not known:
            return
        loop = asyncio.get_running_loop()
        # A little past the edge, so the wall clock is surely beyond it when we look.
        self._window_timer = loop.call_later(min(known) + 0.05, self._window_passed)

    def _disarm(self) -> None:
        if self._window_timer is not None:
            self._window_timer.cancel()
            self._window_timer = None

    def _window_passed(self) -> None:
        self._window_timer = None
        self._inbox.window = True
        self._poke()

    async def _window_edge(self) -> None:
        """A window edge passed: a held generation may start, and drift found outside the
        window is corrected as soon as one opens."""
        reporting = self._drift_mode_now not in (None, self.mode)
        mode = self._drift_mode()
        if reporting and mode is self.mode and self.plan is not None and self.phase in _ENFORCED:
            log.info("assignment %s: maintenance window open: correcting drift", self.name)
            await self._checked(await asyncio.to_thread(self.engine.check, self.plan, mode))
        current = self.current
        if self.held is not None and current is not None and AssignmentKey.of(current) == self.held:
            await self._seen(current, from_list=False)
            if self.held is not None:
                return  # still held: _hold armed the timer again
        self._arm()

    async def _announce(self, status: AssignmentStatus) -> None:
        await asyncio.sleep(self.options.in_progress_delay_seconds)
        await self.pusher.want(status, wait_seconds=self.options.in_progress_timeout_seconds)


def _now() -> datetime:
    return datetime.now(UTC)


def _status_of(obj: Obj) -> AssignmentStatus:
    """The status as the API has it; one nobody could have written is read as empty."""
    try:
        return AssignmentStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        return AssignmentStatus()


def _finished(status: AssignmentStatus, generation: int) -> bool:
    """The API's status says the run of ``generation`` finished."""
    reconciling = find_condition(status.conditions, RECONCILING)
    return status.observed_generation == generation and not (
        reconciling is not None and reconciling.status == "True"
    )
