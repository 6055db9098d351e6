"""The agent loop: watch the host's Assignments, converge the host, report back.

One watch on the host's own namespace (list, then watch from the list's resourceVersion with
bookmarks; re-list on 410 Gone), one worker per Assignment, one Lease renewed every few
seconds. Idle, the Lease renewals are the only requests: no polling.

A run goes: validate the spec (nothing touches the OS if it is invalid); journal the desired
state; commit "in progress" to the status (system-agent's lesson: a crash then means a re-run,
never a false success); apply with the engine; write the final status, only if it changed.
Between runs a drift monitor checks the host and reports or corrects drift. When the API is
unreachable the journal and the monitor keep enforcing the last desired state; on reconnect a
converged host costs one no-op check and no status write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from transom import __version__
from transom.agent import status as st
from transom.agent.events import AgentEvents
from transom.agent.rotation import CertificateRotator
from transom.agent.secrets import SecretCache, secret_names
from transom.api.assignment import AssignmentSpec, AssignmentStatus
from transom.api.conditions import (
    APPLY_FAILED,
    DRIFT_CORRECTED,
    DRIFT_DETECTED,
    RECONCILING,
    SUCCEEDED,
    find_condition,
)
from transom.api.configuration import Mode, RemovalPolicy
from transom.api.errors import SpecError, from_pydantic
from transom.api.names import LEASE_NAME, host_namespace, host_user
from transom.api.resources import Ensure, Resource, ResourceProperties
from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditObserver,
    AuditTrail,
    ChangeSource,
    Checkpointer,
    EventLogSink,
)
from transom.engine.converge import Engine, Plan
from transom.engine.drift import DEFAULT_INTERVAL_SECONDS, DriftMonitor, Notifier
from transom.engine.journal import Journal, JournalEntry
from transom.engine.policy import PERMISSIVE, HostPolicy
from transom.engine.provider import Provider
from transom.engine.reboot import RebootCoordinator, Rebooter
from transom.engine.result import RunReport
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import ASSIGNMENTS, EVENTS, HOSTS, LEASES, SECRETS

log = logging.getLogger(__name__)

ASSIGNMENTS_DIR = "assignments"
AUDIT_DIR = "audit"
#: A run still going after this long is reported "in progress" in the Assignment's status.
IN_PROGRESS_DELAY_SECONDS = 2.0
AUDIT_KEY = "audit.key"
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
Obj = dict[str, Any]


@dataclass(frozen=True)
class AgentOptions:
    lease_duration_seconds: int = 40
    renew_interval_seconds: float = 10.0
    #: Full drift check period; OS notifications catch most drift long before it.
    drift_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    #: False for large simulations: no monitor thread per Assignment.
    drift_monitor: bool = True
    #: Server-side watch timeout; each renewal of the watch is one request.
    watch_timeout_seconds: int = 1800
    backoff_max_seconds: float = 30.0
    #: How long "in progress" may take to reach the API before the run starts anyway.
    in_progress_timeout_seconds: float = 10.0
    #: Record every change in the hash-chained audit log and publish signed checkpoints.
    audit: bool = True


def host_info() -> dict[str, str]:
    if platform.system() == "Windows":
        release, version, _, _ = platform.win32_ver()
        return {"osName": f"Windows {release}".strip(), "osBuild": version}
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        name = platform.system()
    return {"osName": name, "osBuild": platform.release()}


def removal_resources(resources: Sequence[Resource]) -> list[Resource]:
    """The ``ensure: absent`` twins of resources, dependents first. Types without an absent
    state (Command) are left alone."""
    out: list[Resource] = []
    for r in reversed(resources):
        absent = _absent_twin(r.properties)
        if absent is not None:
            out.append(Resource(name=r.name, properties=absent))
    return out


def _absent_twin(props: ResourceProperties) -> ResourceProperties | None:
    """The same object with ensure: absent: its required fields, plus the optional ones its
    identity names (an environment file, a registry view), whichever validates first and
    still names the same object."""
    cls = type(props)
    identity = props.identity()
    required = {n: getattr(props, n) for n, f in cls.model_fields.items() if f.is_required()}
    named = {
        n: v
        for n in cls.model_fields
        if isinstance(v := getattr(props, n), str) and v and v in identity
    }
    for candidate in ({**named, **required}, required):
        try:
            absent = cls.model_validate({**candidate, "ensure": Ensure.ABSENT})
        except ValidationError:
            continue
        if absent.identity() == identity:
            return absent
    return None


@dataclass
class _Watched:
    """One watched collection: where it is, where we are in it, who gets what."""

    path: str
    on_list: Callable[[list[Obj]], None]
    on_event: Callable[[str, Obj], None]
    rv: str | None = None


class Backoff:
    def __init__(self, maximum: float) -> None:
        self.maximum = maximum
        self.delay = 0.5

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.maximum)

    def reset(self) -> None:
        self.delay = 0.5


class Worker:
    """Everything about one Assignment: runs, drift, status. Work is serialised per worker."""

    def __init__(self, agent: Agent, name: str) -> None:
        self.agent = agent
        self.name = name
        self.journal = Journal(agent.state_dir / ASSIGNMENTS_DIR / name)
        # An engine per Assignment, so the audit observer names the right source even when
        # one Assignment's drift check runs while another applies.
        self.observer = (
            AuditObserver(agent.audit, ChangeSource(agent.host, host_user(agent.host)))
            if agent.audit is not None
            else None
        )
        self.engine = Engine(
            agent.providers, policy=agent.policy, secrets=agent.secrets, observer=self.observer
        )
        self.reboots = (
            RebootCoordinator(self.journal, agent.rebooter) if agent.rebooter is not None else None
        )
        self.obj: Obj | None = None
        self.from_list = False
        self.deleted = False
        #: (uid, generation) of the spec acted on, and the status that produced.
        self.processed: tuple[str, int] | None = None
        self.desired_status: AssignmentStatus | None = None
        self.plan: Plan | None = None
        self.mode = Mode.APPLY_AND_AUTO_CORRECT
        self.monitor: DriftMonitor | None = None
        self.entry: JournalEntry | None = None
        #: The Assignment as last seen, for Events.
        self.current: Obj | None = None
        #: Run the current spec again even though it was applied (a Secret it uses changed).
        self.rerun = False
        #: The newest spec was invalid: the previous desired state is still enforced.
        self.spec_invalid = False
        #: Drifted resources last announced by an Event, so persistent drift is told once.
        self.reported_drift: set[str] = set()
        self._wake = asyncio.Event()
        self._drift: list[tuple[DriftMonitor, RunReport]] = []
        self._push = asyncio.Event()
        self._pushed = asyncio.Event()
        self.tasks = [
            asyncio.create_task(self._loop(), name=f"assignment {name}"),
            asyncio.create_task(self._pusher(), name=f"status {name}"),
        ]

    # -- inputs (event loop) ----------------------------------------------------------------

    def offer(self, obj: Obj, *, from_list: bool) -> None:
        self.obj, self.from_list, self.deleted = obj, from_list, False
        self._wake.set()

    def delete(self) -> None:
        self.deleted = True
        self._wake.set()

    def secret_changed(self, name: str) -> None:
        if self.current is None or self.plan is None:
            return
        if name in secret_names(self.plan.resources):
            self.rerun = True
            self.offer(self.current, from_list=False)

    def _on_drift(self, monitor: DriftMonitor, report: RunReport) -> None:
        self._drift.append((monitor, report))
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        await self._resume_from_journal()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self.deleted:
                    await self._remove()
                    return
                obj = self.obj
                if obj is not None:
                    await self._handle(obj, from_list=self.from_list)
                    if self.obj is obj:  # kept until handled, so an error retries it
                        self.obj = None
                while self._drift:
                    monitor, report = self._drift.pop(0)
                    if monitor is self.monitor:
                        await self._handle_check(report)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("assignment %s: unexpected error; will retry", self.name)
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _resume_from_journal(self) -> None:
        """Enforce what was journaled before this start, API or not."""
        entry = await asyncio.to_thread(self.journal.load)
        if entry is None:
            return
        self.entry = entry
        source = entry.source
        self._audit_source(source)
        try:
            self.plan = self.engine.plan(entry.resources)
        except SpecError:
            return
        await asyncio.to_thread(self._recover_intents, self.plan)
        self.mode = entry.mode
        rebooted = self.reboots is not None and await asyncio.to_thread(self.reboots.resume)
        if source.get("completed") and not rebooted:
            self.processed = (str(source.get("uid")), int(source.get("assignmentGeneration", 0)))
            report = await asyncio.to_thread(self.engine.check, self.plan, self.mode)
            await self._handle_check(report)
        elif source.get("completed"):
            # The reboot a change asked for happened: apply again, so what waited for it is
            # verified (and its dependents run); the status follows via the API.
            self.processed = (str(source.get("uid")), int(source.get("assignmentGeneration", 0)))
            self.entry = await asyncio.to_thread(self.journal.load)
            await asyncio.to_thread(self.engine.apply, self.plan)
        else:
            # Interrupted mid-run: finish it from the journal; status follows once the API
            # shows the Assignment again.
            await asyncio.to_thread(self.engine.apply, self.plan)
        await self._start_monitor()

    async def _handle(self, obj: Obj, *, from_list: bool) -> None:
        meta = obj["metadata"]
        key = (str(meta.get("uid")), int(meta.get("generation", 0)))
        api_status = AssignmentStatus.model_validate(obj.get("status") or {})
        reconciling = find_condition(api_status.conditions, RECONCILING)
        api_done = api_status.observed_generation == key[1] and not (
            reconciling is not None and reconciling.status == "True"
        )
        self.current = obj
        if self.rerun:
            self.rerun = False
            await self._run(obj, key, api_status)
            return
        if self.processed == key and self.desired_status is not None:
            # Our own status echoing back, or a re-list after a reconnect: push what the API
            # missed, if anything.
            if from_list and not st.same(api_status, self.desired_status):
                self._push.set()
            return
        if self.processed == key and api_done and self.plan is not None:
            # Applied before this start (the journal says so) and the API knows it: a no-op
            # check, not a re-run; status is written only if the check found something.
            self.desired_status = api_status
            if api_status.reboot_pending and self.entry is not None and self.entry.reboot is None:
                await self._set_status(api_status.model_copy(update={"reboot_pending": False}))
            report = await asyncio.to_thread(self.engine.check, self.plan, self.mode)
            await self._handle_check(report)
            await self._start_monitor()
            return
        await self._run(obj, key, api_status)

    async def _run(self, obj: Obj, key: tuple[str, int], api_status: AssignmentStatus) -> None:
        generation = key[1]
        try:
            spec = AssignmentSpec.model_validate(obj.get("spec") or {})
            plan = self.engine.plan(spec.resources, "spec.resources")
        except ValidationError as exc:
            await self._invalid(obj, key, api_status, SpecError(from_pydantic("spec", exc)))
            return
        except SpecError as exc:
            await self._invalid(obj, key, api_status, exc)
            return
        revision = spec.source.revision
        self.spec_invalid = False
        self.reported_drift = set()
        await self._stop_monitor()
        self.plan, self.mode = plan, spec.mode
        source = {
            **spec.source.model_dump(mode="json", by_alias=True, exclude_none=True),
            "uid": key[0],
            "assignmentGeneration": generation,
            "removalPolicy": spec.removal_policy.value,
        }
        await asyncio.to_thread(
            self.journal.record,
            spec.resources,
            spec.mode,
            spec.reboot_policy,
            {**source, "completed": False},
        )
        self._audit_source(source)
        base = self.desired_status or api_status
        # "In progress" is news only for runs that take a while: status stays truthful without
        # it (observedGeneration moves only with the final status, and the journal above makes
        # a crash re-run), and skipping it for quick runs saves a third of a fleet's writes.
        announce = asyncio.create_task(self._announce(st.in_progress(base, generation, revision)))
        try:
            await self.agent.secrets.refresh(
                self.agent.kube, self.agent.namespace, secret_names(spec.resources)
            )
        except (ApiError, *_NETWORK_ERRORS) as exc:
            log.warning("assignment %s: secrets not refreshed, using cached: %s", self.name, exc)
        try:
            report = await asyncio.to_thread(self.engine.apply, plan)
        finally:
            announce.cancel()
        self.agent.events.denied(self.name, report)
        self.entry = await asyncio.to_thread(
            self.journal.record,
            spec.resources,
            spec.mode,
            spec.reboot_policy,
            {**source, "completed": True},
        )
        self.processed = key
        self.agent.audit_kick.set()
        final = st.applied(self.desired_status or base, generation, revision, report)
        pending = report.reboot_required or self.entry.reboot is not None
        if pending:
            final = final.model_copy(update={"reboot_pending": True})
        if self.reboots is not None:
            # The status reaches the API before the host goes down for a reboot; the policy
            # may allow one now that an earlier run asked for.
            await self._set_status(final, wait=pending)
            decision = await asyncio.to_thread(self.reboots.after_run, report, spec.reboot_policy)
            log.info("assignment %s: reboot %s", self.name, decision.value)
        else:
            await self._set_status(final)
        ok = st.is_ready(final)
        ready = find_condition(final.conditions, "Ready")
        await self.agent.emit(
            obj,
            warning=not ok,
            reason=SUCCEEDED if ok else APPLY_FAILED,
            action="Apply",
            note=f"{st.revision_text(generation, revision)}: "
            f"{report.summary() if ok else ready.message if ready else ''}",
        )
        await self._start_monitor()

    async def _invalid(
        self, obj: Obj, key: tuple[str, int], api_status: AssignmentStatus, error: SpecError
    ) -> None:
        self.processed = key
        self.spec_invalid = True
        await self._set_status(st.invalid(self.desired_status or api_status, key[1], error))
        await self.agent.emit(
            obj, warning=True, reason="InvalidSpec", action="Validate", note=str(error)
        )

    def _recover_intents(self, plan: Plan) -> None:
        """Account for changes a crash left between the OS and the audit log: each open intent
        of this Configuration is closed with the resource's state now (succeeded, not applied
        or unknown), before anything is applied again."""
        trail = self.agent.audit
        if trail is None or self.observer is None:
            return
        config = self.observer.source.configuration
        for intent in trail.pending():
            if intent.configuration != config or intent.planned == AuditAction.REBOOT.value:
                continue
            try:
                current = self.engine.observed(plan, intent.resource)
            except Exception as exc:  # recovery must not stop the agent
                trail.recover(intent, {}, error=f"state unreadable: {type(exc).__name__}")
                continue
            if current is None:
                trail.recover(intent, {}, error="resource no longer in the desired state")
            else:
                trail.recover(intent, current)
            log.warning(
                "audit: recorded a change interrupted by a crash: %s %s",
                intent.type,
                intent.resource,
            )

    def _audit_source(self, source: Mapping[str, Any]) -> None:
        if self.observer is None:
            return
        conf = source.get("configuration") or {}
        kust = source.get("kustomization") or {}
        self.observer.source = ChangeSource(
            host=self.agent.host,
            identity=host_user(self.agent.host),
            configuration=f"{conf.get('namespace', '')}/{conf.get('name', '')}",
            generation=int(source.get("generation", 0)),
            revision=str(source.get("revision", "")),
            kustomization=f"{kust.get('namespace', '')}/{kust.get('name', '')}" if kust else "",
        )

    async def _handle_check(self, report: RunReport) -> None:
        if self.reboots is not None and self.entry is not None:
            # A reboot waiting for its window is taken at the first check inside it.
            await asyncio.to_thread(self.reboots.tick, self.entry.reboot_policy)
        if self.observer is not None and self.agent.audit is not None:
            # Corrections are recorded around the change itself; drift only reported is
            # recorded here.
            trail, audit_source = self.agent.audit, self.observer.source
            for outcome in report.results:
                if outcome.name not in self.reported_drift:  # persistent drift: once
                    await asyncio.to_thread(trail.record_drift, audit_source, outcome)
            self.agent.audit_kick.set()
        outstanding, corrected = st.drift_summary(report)
        failed = [o for o in report.results if o.failed]
        obj, base = self.current, self.desired_status
        if base is None or obj is None or self.processed is None:
            return  # offline and no status yet: the run after reconnect reports it
        was_clean = all(r.in_desired_state for r in base.results)
        if not (outstanding or corrected or failed) and was_clean:
            return  # converged, as reported: nothing to say, nothing to write
        source = (self.entry.source if self.entry else {}) or {}
        generation = int(source.get("assignmentGeneration", self.processed[1]))
        revision = str(source.get("revision", ""))
        status = st.checked(base, generation, revision, report)
        if self.spec_invalid:
            # The newest spec is invalid; a check of the previous one must not make it look
            # Ready.
            status = status.model_copy(update={"conditions": base.conditions})
        await self._set_status(status)
        note = st.revision_text(generation, revision)
        if outstanding and set(outstanding) != self.reported_drift:
            await self.agent.emit(
                obj,
                warning=True,
                reason=DRIFT_DETECTED,
                action="DriftCheck",
                note=f"{note}: drifted: {', '.join(outstanding)}",
            )
        self.reported_drift = set(outstanding)
        if corrected:
            await self.agent.emit(
                obj,
                warning=False,
                reason=DRIFT_CORRECTED,
                action="DriftCheck",
                note=f"{note}: corrected: {', '.join(corrected)}",
            )

    # -- drift monitor ----------------------------------------------------------------------

    async def _start_monitor(self) -> None:
        if not self.agent.options.drift_monitor or self.plan is None:
            return
        await self._stop_monitor()
        loop = asyncio.get_running_loop()
        holder: list[DriftMonitor] = []

        def on_report(report: RunReport) -> None:
            loop.call_soon_threadsafe(self._on_drift, holder[0], report)

        monitor = DriftMonitor(
            self.engine,
            self.plan,
            self.mode,
            on_report,
            notifier=self.agent.notifier_factory() if self.agent.notifier_factory else None,
            interval=self.agent.options.drift_interval_seconds,
        )
        holder.append(monitor)
        self.monitor = monitor
        monitor.start()

    async def _stop_monitor(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            await asyncio.to_thread(monitor.stop)

    # -- removal ----------------------------------------------------------------------------

    async def _remove(self) -> None:
        await self._stop_monitor()
        entry = self.entry or await asyncio.to_thread(self.journal.load)
        if entry is not None and entry.source.get("removalPolicy") == RemovalPolicy.DELETE.value:
            absent = removal_resources(entry.resources)
            report = await asyncio.to_thread(self.engine.apply, absent)
            log.info("assignment %s removed (Delete): %s", self.name, report.summary())
        else:
            log.info("assignment %s removed (Orphan): resources left as they are", self.name)
        await asyncio.to_thread(shutil.rmtree, self.journal.path.parent, True)
        self.tasks[1].cancel()

    # -- status -----------------------------------------------------------------------------

    async def _announce(self, status: AssignmentStatus) -> None:
        await asyncio.sleep(IN_PROGRESS_DELAY_SECONDS)
        await self._set_status(status, wait=True)

    async def _set_status(self, status: AssignmentStatus, *, wait: bool = False) -> None:
        if self.desired_status is not None and st.same(status, self.desired_status):
            return
        self.desired_status = status
        self._pushed.clear()
        self._push.set()
        if wait:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.agent.options.in_progress_timeout_seconds):
                    await self._pushed.wait()

    async def _pusher(self) -> None:
        """Pushes the latest desired status until the API has it; coalesces, retries."""
        backoff = Backoff(self.agent.options.backoff_max_seconds)
        while True:
            await self._push.wait()
            self._push.clear()
            status = self.desired_status
            if status is None:
                continue
            try:
                await self.agent.kube.patch(
                    ASSIGNMENTS.path(self.agent.namespace, self.name, "status"),
                    {"status": st.wire(status)},
                )
                backoff.reset()
                if status is self.desired_status:
                    self._pushed.set()
            except ApiError as exc:
                if exc.status == 404:
                    continue  # deleted meanwhile
                log.warning("assignment %s: status not written: %s", self.name, exc)
                await backoff.sleep()
                self._push.set()
            except _NETWORK_ERRORS as exc:
                log.debug("assignment %s: status not written yet: %s", self.name, exc)
                await backoff.sleep()
                self._push.set()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._stop_monitor()


class Agent:
    """One host's agent. ``await agent.run()`` until cancelled."""

    def __init__(
        self,
        host: str,
        kube: Kube,
        *,
        providers: Mapping[str, Provider[Any]],
        state_dir: Path,
        policy: HostPolicy = PERMISSIVE,
        options: AgentOptions | None = None,
        notifier_factory: Callable[[], Notifier | None] | None = None,
        rotator: CertificateRotator | None = None,
        rebooter: Rebooter | None = None,
        event_log: EventLogSink | None = None,
    ) -> None:
        self.host = host
        #: The Windows Event Log (None elsewhere): audit records and the agent's own events.
        self.events = AgentEvents(event_log)
        self.rebooter = rebooter
        self.namespace = host_namespace(host)
        self.kube = kube
        self.state_dir = state_dir
        self.options = options or AgentOptions()
        self.notifier_factory = notifier_factory
        self.rotator = rotator
        self.secrets = SecretCache()
        self.providers = dict(providers)
        self.policy = policy
        self.audit: AuditTrail | None = None
        self.checkpointer: Checkpointer | None = None
        if self.options.audit:
            log = AuditLog(state_dir / AUDIT_DIR)
            self.checkpointer = Checkpointer(log, AuditKey.load_or_create(state_dir / AUDIT_KEY))
            self.audit = AuditTrail(log, checkpointer=self.checkpointer, event_log=event_log)
        #: Set after changes: the audit loop signs and publishes a checkpoint when due.
        self.audit_kick = asyncio.Event()
        self.workers: dict[str, Worker] = {}
        self.lease_renewals = 0
        #: Set once the first list of Assignments has been handed to the workers.
        self.synced = asyncio.Event()
        self._watch_tasks: dict[str, asyncio.Task[None]] = {}
        if rotator is not None:
            rotator.on_rotated = lambda _cert: self.reconnect()

    async def run(self) -> None:
        if self.audit is not None:
            # A torn last line from a crash was quarantined when the log opened: chain a note.
            self.audit.record_log_repair(ChangeSource(self.host, host_user(self.host)))
        (self.state_dir / ASSIGNMENTS_DIR).mkdir(parents=True, exist_ok=True)
        for d in sorted((self.state_dir / ASSIGNMENTS_DIR).iterdir()):
            if d.is_dir():
                self._worker(d.name)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._lease_loop())
                tg.create_task(self._report_host())
                if self.checkpointer is not None:
                    tg.create_task(self._audit_loop(self.checkpointer))
                tg.create_task(
                    self._watch_loop(
                        _Watched(ASSIGNMENTS.path(self.namespace), self._sync, self._on_assignment)
                    )
                )
                tg.create_task(
                    self._watch_loop(
                        _Watched(SECRETS.path(self.namespace), lambda _items: None, self._on_secret)
                    )
                )
                if self.rotator is not None:
                    tg.create_task(self.rotator.run())
        finally:
            await asyncio.gather(*(w.close() for w in self.workers.values()))

    def halt(self) -> None:
        """The agent is stopping: each engine finishes the resource it is on, starts no other."""
        for worker in self.workers.values():
            worker.engine.halt()

    def _worker(self, name: str) -> Worker:
        worker = self.workers.get(name)
        if worker is None or all(t.done() for t in worker.tasks):
            worker = self.workers[name] = Worker(self, name)
        return worker

    # -- assignments ------------------------------------------------------------------------

    def reconnect(self) -> None:
        """Restart the watches: after a certificate rotation an old connection would otherwise
        hang on a closed session instead of ending."""
        for task in self._watch_tasks.values():
            task.cancel()

    async def _watch_loop(self, watched: _Watched) -> None:
        backoff = Backoff(self.options.backoff_max_seconds)
        while True:
            task = asyncio.create_task(self._watch_once(watched, backoff))
            self._watch_tasks[watched.path] = task
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                # Only the watch was cancelled (reconnect): resume from where it was.
            except ApiError as exc:
                if exc.status == 410:
                    watched.rv = None
                    continue
                log.warning("watching %s: %s", watched.path, exc)
                await backoff.sleep()
            except _NETWORK_ERRORS as exc:
                log.debug("watching %s: %s", watched.path, exc)
                await backoff.sleep()

    async def _watch_once(self, watched: _Watched, backoff: Backoff) -> None:
        if watched.rv is None:
            listed = await self.kube.list(watched.path)
            watched.rv = listed["metadata"]["resourceVersion"]
            watched.on_list(listed.get("items") or [])
        async for event in self.kube.watch(
            watched.path,
            resource_version=watched.rv,
            timeout_seconds=self.options.watch_timeout_seconds,
        ):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    watched.rv = None  # too old: list again
                    return
                raise ApiError(int(obj.get("code", 500)), obj)
            watched.rv = obj.get("metadata", {}).get("resourceVersion", watched.rv)
            backoff.reset()
            if kind != "BOOKMARK":
                watched.on_event(str(kind), obj)

    def _on_assignment(self, kind: str, obj: Obj) -> None:
        name = obj.get("metadata", {}).get("name", "")
        if kind in ("ADDED", "MODIFIED"):
            self._worker(name).offer(obj, from_list=False)
        elif kind == "DELETED" and name in self.workers:
            self.workers[name].delete()

    def _on_secret(self, kind: str, obj: Obj) -> None:
        """A Secret an Assignment uses changed: run that Assignment again."""
        name = obj.get("metadata", {}).get("name", "")
        for worker in self.workers.values():
            worker.secret_changed(name)

    def _sync(self, items: list[Obj]) -> None:
        seen = set()
        for obj in items:
            name = obj["metadata"]["name"]
            seen.add(name)
            self._worker(name).offer(obj, from_list=True)
        # Deleted while we were not watching: apply the removal policy now.
        for name, worker in list(self.workers.items()):
            if name not in seen:
                worker.delete()
        self.synced.set()

    # -- lease, host, events ----------------------------------------------------------------

    async def _lease_loop(self) -> None:
        lease: Obj | None = None
        path = LEASES.path(self.namespace, LEASE_NAME)
        offline = False
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                lease = await self._renew(lease, path)
                self.lease_renewals += 1
                if offline:
                    # Back from an outage: a watch on a connection that died silently would
                    # wait for its read timeout; start a fresh one now.
                    offline = False
                    self.reconnect()
            except ApiError as exc:
                lease = None  # conflict or gone: read it again next time
                log.warning("lease not renewed: %s", exc)
            except _NETWORK_ERRORS as exc:
                offline = True
                log.debug("lease not renewed: %s", exc)
            # A fixed period, however slow the apiserver answers.
            await asyncio.sleep(
                max(0.0, started + self.options.renew_interval_seconds - loop.time())
            )

    async def _renew(self, lease: Obj | None, path: str) -> Obj:
        now = st.micro_time()
        spec = {
            "holderIdentity": self.host,
            "leaseDurationSeconds": self.options.lease_duration_seconds,
            "renewTime": now,
        }
        if lease is None:
            lease = await self.kube.get_or_none(path)
            if lease is None:
                return await self.kube.create(
                    LEASES.path(self.namespace),
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                        "spec": {**spec, "acquireTime": now},
                    },
                )
        lease.setdefault("spec", {}).update(spec)
        return await self.kube.replace(path, lease)

    async def _report_host(self) -> None:
        body = {
            "status": {
                **host_info(),
                "agentVersion": __version__,
                "identity": host_user(self.host),
                "namespace": self.namespace,
            }
        }
        backoff = Backoff(300.0)
        while True:
            try:
                await self.kube.patch(HOSTS.path(name=self.host, subresource="status"), body)
                return
            except (ApiError, *_NETWORK_ERRORS) as exc:
                log.info("host status not written yet: %s", exc)
                await backoff.sleep()

    async def _audit_loop(self, checkpointer: Checkpointer) -> None:
        """Sign checkpoints when due and publish the latest in Host status: the hub's
        witness of this host's log. Idle, it waits for a change: no requests."""
        assert self.audit is not None
        published = None
        while True:
            latest = checkpointer.latest
            retry: float | None = None
            if latest is not None and latest != published:
                try:
                    await self.kube.patch(
                        HOSTS.path(name=self.host, subresource="status"),
                        {
                            "status": {
                                "auditCheckpoint": latest.to_api().model_dump(
                                    mode="json", by_alias=True
                                )
                            }
                        },
                    )
                    published = latest
                except (ApiError, *_NETWORK_ERRORS) as exc:
                    log.debug("audit checkpoint not published yet: %s", exc)
                    retry = self.options.backoff_max_seconds
            waits = [x for x in (checkpointer.seconds_until_due(), retry) if x is not None]
            timeout = min(waits) if waits else None
            self.audit_kick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.audit_kick.wait()
            await asyncio.to_thread(self.audit.maybe_checkpoint)

    async def emit(self, obj: Obj, *, warning: bool, reason: str, action: str, note: str) -> None:
        body = st.event(self.host, obj, warning=warning, reason=reason, action=action, note=note)
        try:
            await self.kube.create(EVENTS.path(self.namespace), body)
        except ApiError as exc:
            log.warning("event not recorded: %s", exc)
        except _NETWORK_ERRORS as exc:
            log.debug("event not recorded: %s", exc)
