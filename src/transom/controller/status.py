"""A Configuration's status from what its hosts report, in Flux's and kstatus's terms.

observedGeneration moves to the new generation only when every selected host has applied
it, or the rollout has halted: until then kstatus (and so Flux's health check) sees the
Configuration InProgress, and a halted rollout is Stalled, which Flux reports at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from transom.api import conditions as c
from transom.api.configuration import MAX_FAILING_HOSTS, ConfigurationStatus, FailingHost
from transom.api.gates import ApprovalRecord
from transom.controller.hostview import HostView
from transom.controller.rollout import Plan, Wait


def names_text(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def aggregate(
    previous: ConfigurationStatus,
    generation: int,
    revision: str,
    hosts: Sequence[HostView],
    plan: Plan,
    *,
    suspended: bool = False,
    approvals: Sequence[ApprovalRecord] = (),
    rebooting: int | None = None,
) -> ConfigurationStatus:
    desired = len(hosts)
    updated = [h for h in hosts if h.at(generation)]
    ready = [h for h in hosts if h.succeeded(generation)]
    failed = [h for h in hosts if h.failed(generation)]
    offline = [h.name for h in hosts if not h.online]
    drifted = [h.name for h in hosts if h.drifted]
    failing = _failing(failed, offline, plan)
    rev = f" ({revision})" if revision else ""
    conds = list(previous.conditions)
    observed = previous.observed_generation

    waits = list(plan.waits)
    opens = [w.until for w in waits if w.reason == c.WAITING_FOR_WINDOW and w.until is not None]
    next_window = _rfc3339(min(opens)) if opens else ""

    if plan.halted:
        reason, stall, message = _halted(generation, rev, failed, plan)
        observed = generation
        conds = stalled_conditions(conds, stall, reason, message, generation)
    elif suspended and len(ready) < desired:
        message = f"suspended: {len(ready)}/{desired} hosts run generation {generation}{rev}"
        conds = suspended_conditions(conds, message, generation)
    elif len(ready) + len(failed) == desired:
        observed = generation
        if desired == 0:
            message = "no hosts selected"
            reason = c.NO_HOSTS_SELECTED
        else:
            message = f"{len(ready)}/{desired} hosts applied generation {generation}{rev}"
            if failed:
                failed_names = names_text([h.name for h in failed])
                message += f"; {len(failed)} failed within maxFailures: {failed_names}"
            if drifted:
                message += f"; drift on {names_text(drifted)}"
            if offline:
                message += f"; unreachable now: {names_text(offline)}"
            reason = c.SUCCEEDED
        conds = succeeded_conditions(conds, reason, message, generation)
    else:
        waiting = [h.name for h in hosts if not h.done(generation)]
        missing = [n for n in waiting if n in offline]
        message = (
            f"{len(ready)}/{desired} hosts applied generation {generation}{rev}; "
            f"waiting for {names_text(waiting)}"
        )
        if missing:
            message += f"; unreachable: {names_text(missing)}"
        message += "".join(f"; {wait_text(w)}" for w in waits)
        reason = _progress_reason(generation, hosts, waits, all_missing=missing == waiting)
        conds = in_progress_conditions(conds, reason, message, generation)

    return previous.model_copy(
        update={
            "observed_generation": observed,
            "conditions": conds,
            "revision": revision,
            "desired": desired,
            "updated": len(updated),
            "ready": len(ready),
            "failed": len(failed),
            "drifted": len(drifted),
            "unavailable": len(plan.unavailable),
            "summary": f"{len(ready)}/{desired}",
            "failing_hosts": failing[:MAX_FAILING_HOSTS],
            "approvals": list(approvals)[-16:],
            "next_window": next_window,
            "rebooting": len(plan.rebooting) if rebooting is None else rebooting,
        }
    )


def _failing(failed: Sequence[HostView], offline: Sequence[str], plan: Plan) -> list[FailingHost]:
    """Hosts past their reboot deadline, failed hosts, then offline ones."""
    failing = [
        FailingHost(
            host=h.name,
            resource=h.failure.resource,
            reason=h.failure.reason,
            message=h.failure.message[:1024],
        )
        for h in failed
        if h.failure is not None
    ] + [
        FailingHost(host=name, reason=c.HOSTS_UNREACHABLE, message="host agent is offline")
        for name in offline
        if name not in plan.overdue
    ]
    failing = [
        FailingHost(
            host=name,
            reason=c.REBOOT_DEADLINE_EXCEEDED,
            message="holds its reboot lease and is not back within the reboot deadline",
        )
        for name in plan.overdue
    ] + failing
    return failing


def _progress_reason(
    generation: int, hosts: Sequence[HostView], waits: Sequence[Wait], *, all_missing: bool
) -> str:
    updating = [
        h
        for h in hosts
        if h.online and h.at(generation) and not h.done(generation) and not h.waiting_for_window
    ]
    if waits and not updating:
        # Nothing moves until the gate opens: say which gate, as Reconciling (kstatus
        # InProgress), so Flux waits up to its own timeout rather than failing.
        return waits[0].reason
    if all_missing:
        return c.HOSTS_UNREACHABLE
    return c.ROLLOUT_IN_PROGRESS


def _halted(
    generation: int, rev: str, failed: Sequence[HostView], plan: Plan
) -> tuple[str, str, str]:
    """Ready's reason, Stalled's reason and their message for a halted rollout."""
    if plan.overdue:
        message = (
            f"rollout of generation {generation}{rev} halted: host(s) "
            f"{names_text(list(plan.overdue))} took their reboot lease and are not back within "
            "the reboot deadline; they keep the lease until their agent releases it"
        )
        return c.REBOOT_DEADLINE_EXCEEDED, c.REBOOT_DEADLINE_EXCEEDED, message
    rolled_back = [h for h in failed if h.rolled_back]
    first = (rolled_back or failed)[0]
    assert first.failure is not None
    detail = (
        f"host {first.name}: resource {first.failure.resource}: {first.failure.message}"
        if first.failure.resource
        else f"host {first.name}: {first.failure.message}"
    )
    if rolled_back:
        # Named by the hosts' own reason: RollingBack until each is back, then RolledBack.
        message = (
            f"rollout of generation {generation}{rev} halted: "
            f"{names_text([h.name for h in rolled_back])} rolled back; {detail}"
        )
        return first.failure.reason, first.failure.reason, message
    reason = c.PROBE_FAILED if first.failure.reason == c.PROBE_FAILED else c.APPLY_FAILED
    message = (
        f"rollout of generation {generation}{rev} halted: {len(failed)} host(s) "
        f"failed, {plan.max_failures} tolerated; {detail}"
    )
    return reason, c.ROLLOUT_HALTED if reason == c.APPLY_FAILED else reason, message


#: Reasons of a rollout held by a gate, not by its hosts.
GATE_REASONS = frozenset(
    {c.WAITING_FOR_APPROVAL, c.WAITING_FOR_WINDOW, c.PAUSED, c.HALTED_IN_OTHER_SHARD}
)


# -- the four shapes of a Configuration's conditions (unsharded and combined status alike) ----


def stalled_conditions(
    conds: list[c.Condition], stall: str, reason: str, message: str, generation: int
) -> list[c.Condition]:
    """Halted: Stalled (which clears Reconciling) and not Ready."""
    conds = c.set_condition(conds, c.STALLED, "True", stall, message, generation=generation)
    return c.set_condition(conds, c.READY, "False", reason, message, generation=generation)


def suspended_conditions(
    conds: list[c.Condition], message: str, generation: int
) -> list[c.Condition]:
    """Suspended before every host got the generation: neither reconciling nor stalled."""
    conds = c.remove_condition(c.remove_condition(conds, c.RECONCILING), c.STALLED)
    return c.set_condition(conds, c.READY, "False", c.SUSPENDED, message, generation=generation)


def succeeded_conditions(
    conds: list[c.Condition], reason: str, message: str, generation: int
) -> list[c.Condition]:
    """Every host done: Ready, nothing reconciling or stalled."""
    conds = c.remove_condition(c.remove_condition(conds, c.RECONCILING), c.STALLED)
    return c.set_condition(conds, c.READY, "True", reason, message, generation=generation)


def in_progress_conditions(
    conds: list[c.Condition], reason: str, message: str, generation: int
) -> list[c.Condition]:
    """Rolling out: Reconciling with why it waits; Ready False says Progressing unless a gate
    holds it (kstatus InProgress either way)."""
    conds = c.set_condition(conds, c.RECONCILING, "True", reason, message, generation=generation)
    ready = reason if reason in GATE_REASONS else c.PROGRESSING
    return c.set_condition(conds, c.READY, "False", ready, message, generation=generation)


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_text(w: Wait) -> str:
    """A wait as status and Events say it."""
    if w.reason == c.WAITING_FOR_APPROVAL:
        return (
            f"partition {w.partition} waits for approval of this generation "
            f"(`transom approve` with --partition {w.partition})"
        )
    if w.reason == c.HALTED_IN_OTHER_SHARD:
        return f"holding: the rollout of this generation halted in shard {w.partition}"
    if w.reason == c.PAUSED:
        until = f" until {_rfc3339(w.until)}" if w.until is not None else ""
        return f"partition {w.partition} paused{until}"
    opens = f"; next opens {_rfc3339(w.until)}" if w.until is not None else "; none opens soon"
    return f"{names_text(list(w.hosts))} wait for their maintenance window{opens}"


def stalled(
    previous: ConfigurationStatus, generation: int, reason: str, message: str
) -> ConfigurationStatus:
    """Terminal problems with the Configuration itself (invalid spec, conflicts)."""
    conds = stalled_conditions(previous.conditions, reason, reason, message, generation)
    return previous.model_copy(update={"observed_generation": generation, "conditions": conds})
