"""The engine: validate a whole document, then test, what-if or apply it in dependency order.

Build one Engine per host with the providers of its platform (kind -> Provider) and keep it:
it remembers the secret values it has seen, so later runs redact them too, and it holds the
flapping history. Runs are serialised, so a drift check and a new apply never interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from transom.api.conditions import (
    DENIED_BY_HOST_POLICY,
    DEPENDENCY_NOT_READY,
    DRIFT_CORRECTED,
    DRIFT_DETECTED,
    FLAPPING,
    NOT_CONVERGED,
    PROVIDER_FAILED,
    REBOOT_PENDING,
)
from transom.api.errors import FieldError, SpecError
from transom.api.modes import Mode
from transom.api.resources import Ensure, Resource, ResourceProperties
from transom.engine.atomicfile import DirectorySyncs
from transom.engine.diff import compare, desired_state
from transom.engine.flapping import FlapGuard
from transom.engine.graph import check_acyclic, topological_order
from transom.engine.policy import PERMISSIVE, HostPolicy
from transom.engine.provider import Change, Context, Provider, ProviderError, SecretResolver, State
from transom.engine.redact import REDACTED, NoSecrets, RedactingResolver, Redactor, SecretSealer
from transom.engine.result import Action, DiffEntry, ResourceOutcome, RunReport, Status

if TYPE_CHECKING:
    from logging import Logger


def log() -> Logger:
    """The engine's logger. Imported when first needed: a run in which every resource is in
    its desired state logs nothing, and `transom apply` then never pays for ``logging``."""
    import logging  # noqa: PLC0415

    return logging.getLogger(__name__)


#: Called after each resource: the outcome, how many are done, how many in all.
ProgressCallback = Callable[[ResourceOutcome, int, int], None]


class ChangeObserver(Protocol):
    """Told around every change the engine makes to the OS (the audit trail's write-ahead
    intent and its outcome). States are in wire keys and already redacted; with a sealer,
    secret properties are sealed (keyed digests) rather than redacted."""

    def before_set(self, resource: Resource, before: State, desired: State, *, drift: bool) -> Any:
        """Called before set; raising stops the change. Returns a token for after_set."""

    def after_set(
        self,
        token: Any,
        resource: Resource,
        after: State | None,
        *,
        error: str = "",
        reboot_required: bool = False,
    ) -> None:
        """Called after set and its verification; ``after`` is None when set raised."""


@dataclass(frozen=True)
class Step:
    resource: Resource
    desired: State
    provider: Provider[Any]


@dataclass(frozen=True)
class Plan:
    """A validated document in dependency order; build once, run many times."""

    steps: tuple[Step, ...]

    @property
    def resources(self) -> tuple[Resource, ...]:
        return tuple(s.resource for s in self.steps)


class Engine:
    def __init__(
        self,
        providers: Mapping[str, Provider[Any]],
        *,
        policy: HostPolicy = PERMISSIVE,
        secrets: SecretResolver | None = None,
        flap_guard: FlapGuard | None = None,
        observer: ChangeObserver | None = None,
        sealer: SecretSealer | None = None,
    ) -> None:
        # Kept as given: a platform's providers are built when a document first needs one.
        self.providers = providers
        self.observer = observer
        #: Seals secret properties in the states the observer records (see _recorded).
        self.sealer = sealer
        self.policy = policy
        self.redactor = Redactor()
        self.flap_guard = flap_guard or FlapGuard()
        self._secrets = RedactingResolver(secrets or NoSecrets(), self.redactor)
        self._lock = threading.RLock()
        self._secret_props: dict[type[ResourceProperties], frozenset[str]] = {}
        #: Resources whose change waits for a reboot: not set again until then.
        self._awaiting_reboot: set[str] = set()
        self._halted = threading.Event()

    # -- validation -----------------------------------------------------------------------

    def plan(self, resources: Sequence[Resource] | Plan, path: str = "resources") -> Plan:
        """Check the whole document before anything runs: no cycle, a provider for every
        type, no two resources managing one object. Raises SpecError naming resource and
        field."""
        if isinstance(resources, Plan):
            return resources
        check_acyclic(resources, path)
        errors: list[FieldError] = []
        owners: dict[str, int] = {}
        for i, r in enumerate(resources):
            if r.kind not in self.providers:
                errors.append(
                    FieldError(
                        f"{path}[{i}].{r.member}",
                        f"resource type {r.kind} is not supported on this host "
                        f"(supported: {', '.join(sorted(self.providers))})",
                    )
                )
            identity = r.properties.identity()
            if identity in owners:
                first = owners[identity]
                errors.append(
                    FieldError(
                        f"{path}[{i}]",
                        f"{r.name!r} manages the same object ({identity}) as "
                        f"{resources[first].name!r} ({path}[{first}])",
                    )
                )
            owners.setdefault(identity, i)
        if errors:
            raise SpecError(errors)
        return Plan(
            tuple(
                Step(r, desired_state(r.properties), self.providers[r.kind])
                for r in topological_order(resources)
            )
        )

    # -- stopping -------------------------------------------------------------------------

    def halt(self) -> None:
        """Stop for good (the agent is stopping): a run in progress finishes the resource it
        is on and starts no other; later runs do nothing. Thread-safe."""
        self._halted.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the run in progress to end; True when none is."""
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return False
        self._lock.release()
        return True

    # -- runs -----------------------------------------------------------------------------

    def test(
        self, resources: Sequence[Resource] | Plan, *, on_result: ProgressCallback | None = None
    ) -> RunReport:
        """Compare every resource with the host; change nothing."""
        return self._run(self.plan(resources), Action.TEST, on_result=on_result)

    def apply(
        self,
        resources: Sequence[Resource] | Plan,
        *,
        what_if: bool = False,
        on_result: ProgressCallback | None = None,
    ) -> RunReport:
        """Converge the host; with ``what_if``, only report what would change."""
        action = Action.WHAT_IF if what_if else Action.APPLY
        return self._run(self.plan(resources), action, on_result=on_result)

    def check(
        self,
        resources: Sequence[Resource] | Plan,
        mode: Mode,
        *,
        only: Collection[str] | None = None,
    ) -> RunReport:
        """A drift check (what the drift monitor runs): ApplyAndAutoCorrect corrects drift,
        with flapping protection; the other modes only report it. ``only`` limits the check
        to resources by name (those a change notification pointed at)."""
        action = Action.APPLY if mode is Mode.APPLY_AND_AUTO_CORRECT else Action.TEST
        return self._run(self.plan(resources), action, only=only, drift=True)

    def _run(
        self,
        plan: Plan,
        action: Action,
        *,
        only: Collection[str] | None = None,
        drift: bool = False,
        on_result: ProgressCallback | None = None,
    ) -> RunReport:
        with self._lock:
            started = perf_counter()
            # Atomic writes leave their directory fsyncs here: one per directory per run.
            syncs = DirectorySyncs()
            ctx = Context(secrets=self._secrets, syncs=syncs)
            steps = [s for s in plan.steps if only is None or s.resource.name in only]
            outcomes: dict[str, ResourceOutcome] = {}
            try:
                for step in steps:
                    if self._halted.is_set():
                        log().info(
                            "stopping: %d of %d resources not started",
                            len(steps) - len(outcomes),
                            len(steps),
                        )
                        break
                    outcome = self._step(step, action, ctx, outcomes, drift)
                    outcomes[step.resource.name] = outcome
                    if outcome.status is not Status.OK:
                        log().info(
                            "%s %s: %s %s",
                            outcome.kind,
                            outcome.name,
                            outcome.status,
                            outcome.message,
                        )
                    if on_result is not None:
                        on_result(outcome, len(outcomes), len(steps))
            finally:
                # Before the run reports a change done, the change is durable.
                undurable = _flush(syncs)
            if undurable is not None:
                outcomes = {n: _not_durable(o, undurable) for n, o in outcomes.items()}
            return RunReport(
                action=action,
                results=tuple(outcomes.values()),
                duration_ms=(perf_counter() - started) * 1000,
                drift_check=drift,
            )

    def observed(self, plan: Plan, name: str) -> State | None:
        """The current state of one planned resource as it is recorded (see _recorded), e.g. to
        account for a change a crash left unrecorded; None if the plan has no such resource."""
        step = next((s for s in plan.steps if s.resource.name == name), None)
        if step is None:
            return None
        with self._lock:
            ctx = Context(secrets=self._secrets)
            return self._recorded(step.resource, step.provider.get(step.resource.properties, ctx))

    def _step(
        self,
        step: Step,
        action: Action,
        ctx: Context,
        done: Mapping[str, ResourceOutcome],
        drift: bool,
    ) -> ResourceOutcome:
        started = perf_counter()
        r = step.resource

        def outcome(status: Status, in_desired_state: bool, **kw: Any) -> ResourceOutcome:
            if "message" in kw:
                kw["message"] = self.redactor.text(kw["message"])
            return ResourceOutcome(
                name=r.name,
                kind=r.kind,
                status=status,
                in_desired_state=in_desired_state,
                duration_ms=(perf_counter() - started) * 1000,
                **kw,
            )

        blocker = next(
            (done[d] for d in r.depends_on if d in done and _blocks(done[d], action)), None
        )
        if blocker is not None:
            return outcome(
                Status.SKIPPED,
                False,
                skipped=True,
                # Waiting for a reboot is not a failure, and neither is waiting behind one.
                reason=REBOOT_PENDING if blocker.reason == REBOOT_PENDING else DEPENDENCY_NOT_READY,
                message=f"skipped: dependency {blocker.name!r} {_blocked_because(blocker)}",
            )
        denial = self.policy.denial(r.properties, step.provider.touches(r.properties))
        if denial is not None:
            return outcome(Status.DENIED, False, reason=DENIED_BY_HOST_POLICY, message=denial)
        provider = step.provider
        try:
            actual = provider.get(r.properties, ctx)
            changes = compare(step.desired, actual, provider)
            if not changes:
                self._awaiting_reboot.discard(_key(r))
                return outcome(Status.OK, True)
            if r.properties.ensure is not Ensure.ABSENT:
                # Making the object present needs its Secrets: what-if and test fail where
                # apply would, and apply fails before a change is begun.
                for ref in r.properties.secret_refs():
                    ctx.secrets.resolve(ref.name, ref.key)
            diff = self._redacted(r.properties, changes)
            if action is not Action.APPLY:
                return outcome(
                    _looked_status(action, drift),
                    False,
                    drifted=drift,
                    reason=DRIFT_DETECTED,
                    message=f"differs: {', '.join(changes)}",
                    diff=diff,
                )
            return self._correct(
                step, actual, changes, ctx, drift=drift, outcome=outcome, diff=diff
            )
        except ProviderError as exc:
            return outcome(Status.FAILED, False, reason=exc.reason, message=str(exc))
        except Exception as exc:  # a provider bug or OS error fails one resource, not the run
            return outcome(
                Status.FAILED, False, reason=PROVIDER_FAILED, message=f"{type(exc).__name__}: {exc}"
            )

    def _correct(
        self,
        step: Step,
        actual: State,
        changes: Mapping[str, Change],
        ctx: Context,
        *,
        drift: bool,
        outcome: Callable[..., ResourceOutcome],
        diff: tuple[DiffEntry, ...],
    ) -> ResourceOutcome:
        """Set what differs (or delete what should be absent), then verify; with flapping
        protection on drift corrections and no repeat of a change that waits for a reboot."""
        r, provider = step.resource, step.provider
        key = _key(r)
        if key in self._awaiting_reboot:
            return outcome(
                Status.REBOOT_PENDING,
                False,
                drifted=drift,
                reason=REBOOT_PENDING,
                message="changed; takes effect after a reboot",
                diff=diff,
                reboot_required=True,
            )
        held_back = self.flap_guard.flapping(key) if drift else None
        if held_back is not None:
            return outcome(
                Status.FLAPPING, False, drifted=True, reason=FLAPPING, message=held_back, diff=diff
            )
        token = None
        if self.observer is not None:
            # Write-ahead: if the observer cannot record the change, it is not made.
            token = self.observer.before_set(
                r, self._recorded(r, actual), self._recorded(r, step.desired), drift=drift
            )
        try:
            if step.desired.get("ensure") == Ensure.ABSENT.value:
                result = provider.delete(r.properties, ctx)
            else:
                result = provider.set(r.properties, changes, ctx)
            if drift:
                self.flap_guard.record(key)
            after = provider.get(r.properties, ctx)
            if self.observer is not None and ctx.syncs is not None:
                # The observer's record of a change must not outlive the change in a crash.
                ctx.syncs.flush()
        except Exception as exc:
            if self.observer is not None:
                self.observer.after_set(token, r, None, error=self.redactor.text(str(exc)))
            raise
        # Verify: a set that did not converge must not be reported as done.
        left = compare(step.desired, after, provider)
        if self.observer is not None:
            error = "" if not left or result.reboot_required else "still differs after set"
            self.observer.after_set(
                token,
                r,
                self._recorded(r, after),
                error=error,
                reboot_required=result.reboot_required,
            )
        if left and result.reboot_required:
            # This process ends with the reboot, and with it this memory.
            self._awaiting_reboot.add(key)
            return outcome(
                Status.REBOOT_PENDING,
                False,
                changed=True,
                drifted=drift,
                reason=REBOOT_PENDING,
                message=result.message or "takes effect after a reboot",
                diff=diff,
                reboot_required=True,
            )
        if left:
            return outcome(
                Status.FAILED,
                False,
                changed=True,
                drifted=drift,
                reason=NOT_CONVERGED,
                message=f"still differs after set: {', '.join(left)}",
                diff=diff,
            )
        return outcome(
            Status.CHANGED,
            True,
            changed=True,
            drifted=drift,
            reason=DRIFT_CORRECTED if drift else "",
            message=result.message,
            diff=diff,
            reboot_required=result.reboot_required,
        )

    def _shown(self, r: Resource, state: State) -> State:
        """A state as it may be shown or recorded: secret properties and values redacted."""
        secret = self._secret_wire_names(type(r.properties))
        return {k: REDACTED if k in secret else self.redactor.value(v) for k, v in state.items()}

    def _recorded(self, r: Resource, state: State) -> State:
        """A state as the observer records it: as shown, but with secret properties sealed,
        so a change to one changes the audit digest without the digest revealing it."""
        if self.sealer is None:
            return self._shown(r, state)
        secret = self._secret_wire_names(type(r.properties))
        return {
            k: self.sealer.seal(v) if k in secret else self.redactor.value(v)
            for k, v in state.items()
        }

    def _redacted(
        self, props: ResourceProperties, changes: Mapping[str, Change]
    ) -> tuple[DiffEntry, ...]:
        secret = self._secret_wire_names(type(props))
        return tuple(
            DiffEntry(c.prop, REDACTED, REDACTED)
            if c.prop in secret
            else DiffEntry(c.prop, self.redactor.value(c.actual), self.redactor.value(c.desired))
            for c in changes.values()
        )

    def _secret_wire_names(self, cls: type[ResourceProperties]) -> frozenset[str]:
        names = self._secret_props.get(cls)
        if names is None:
            names = frozenset(
                n
                for f in cls.secret_fields
                for n in (f, cls.model_fields[f].alias or f if f in cls.model_fields else f)
            )
            self._secret_props[cls] = names
        return names


def _flush(syncs: DirectorySyncs) -> OSError | None:
    try:
        syncs.flush()
    except OSError as exc:
        log().warning("fsync of %s failed: %s", exc.filename, exc)
        return exc
    return None


def _not_durable(outcome: ResourceOutcome, error: OSError) -> ResourceOutcome:
    """A change made but perhaps not kept by a crash: failed, so the next run checks again."""
    if not outcome.changed:
        return outcome
    return replace(
        outcome,
        status=Status.FAILED,
        in_desired_state=False,
        reason=PROVIDER_FAILED,
        message=f"changed, but not made durable: fsync of {error.filename}: {error.strerror}",
    )


def _key(r: Resource) -> str:
    """One resource across runs and documents: flapping and reboot memory are kept by it."""
    return f"{r.name}|{r.properties.identity()}"


def _looked_status(action: Action, drift: bool) -> Status:
    if drift:
        return Status.DRIFTED
    return Status.WOULD_CHANGE if action is Action.WHAT_IF else Status.DIFFERS


def _blocks(dependency: ResourceOutcome, action: Action) -> bool:
    """Whether a dependency's outcome keeps its dependents from running. When applying, a
    dependency must be in its desired state; when only looking, it must not have failed."""
    if action is Action.APPLY:
        return not dependency.in_desired_state
    return dependency.failed or dependency.skipped


def _blocked_because(dependency: ResourceOutcome) -> str:
    return {
        Status.FAILED: "failed",
        Status.DENIED: "was denied by host policy",
        Status.SKIPPED: "was skipped",
        Status.REBOOT_PENDING: "waits for a reboot",
        Status.FLAPPING: "is flapping",
    }.get(dependency.status, "is not in its desired state")
