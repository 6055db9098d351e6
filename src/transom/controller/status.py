"""A Configuration's status from what its hosts report, in Flux's and kstatus's terms.

observedGeneration moves to the new generation only when every selected host has applied
it, or the rollout has halted: until then kstatus (and so Flux's health check) sees the
Configuration InProgress, and a halted rollout is Stalled, which Flux reports at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from transom.api import conditions as c
from transom.api.configuration import MAX_FAILING_HOSTS, ConfigurationStatus, FailingHost
from transom.controller.hostview import HostView
from transom.controller.rollout import Plan


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _halted(failed: Sequence[HostView], generation: int, rev: str, plan: Plan) -> tuple[str, str]:
    """Why the rollout halted, naming the first host (a rolled-back one first)."""
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
        return first.failure.reason, (
            f"rollout of generation {generation}{rev} halted: "
            f"{_names([h.name for h in rolled_back])} rolled back; {detail}"
        )
    reason = c.PROBE_FAILED if first.failure.reason == c.PROBE_FAILED else c.APPLY_FAILED
    return reason, (
        f"rollout of generation {generation}{rev} halted: {len(failed)} host(s) "
        f"failed, {plan.max_failures} tolerated; {detail}"
    )


def aggregate(
    previous: ConfigurationStatus,
    generation: int,
    revision: str,
    hosts: Sequence[HostView],
    plan: Plan,
    *,
    suspended: bool = False,
) -> ConfigurationStatus:
    desired = len(hosts)
    updated = [h for h in hosts if h.at(generation)]
    ready = [h for h in hosts if h.succeeded(generation)]
    failed = [h for h in hosts if h.failed(generation)]
    offline = [h.name for h in hosts if not h.online]
    drifted = [h.name for h in hosts if h.drifted]
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
    ]
    rev = f" ({revision})" if revision else ""
    conds = list(previous.conditions)
    observed = previous.observed_generation

    if plan.halted:
        reason, message = _halted(failed, generation, rev, plan)
        observed = generation
        conds = c.set_condition(
            conds,
            c.STALLED,
            "True",
            c.ROLLOUT_HALTED if reason == c.APPLY_FAILED else reason,
            message,
            generation=generation,
        )
        conds = c.set_condition(conds, c.READY, "False", reason, message, generation=generation)
    elif suspended and len(ready) < desired:
        message = f"suspended: {len(ready)}/{desired} hosts run generation {generation}{rev}"
        conds = c.remove_condition(c.remove_condition(conds, c.RECONCILING), c.STALLED)
        conds = c.set_condition(
            conds, c.READY, "False", c.SUSPENDED, message, generation=generation
        )
    elif len(ready) + len(failed) == desired:
        observed = generation
        if desired == 0:
            message = "no hosts selected"
            reason = c.NO_HOSTS_SELECTED
        else:
            message = f"{len(ready)}/{desired} hosts applied generation {generation}{rev}"
            if failed:
                message += (
                    f"; {len(failed)} failed within maxFailures: {_names([h.name for h in failed])}"
                )
            if drifted:
                message += f"; drift on {_names(drifted)}"
            if offline:
                message += f"; unreachable now: {_names(offline)}"
            reason = c.SUCCEEDED
        conds = c.remove_condition(c.remove_condition(conds, c.RECONCILING), c.STALLED)
        conds = c.set_condition(conds, c.READY, "True", reason, message, generation=generation)
    else:
        waiting = [h.name for h in hosts if not h.done(generation)]
        missing = [n for n in waiting if n in offline]
        message = (
            f"{len(ready)}/{desired} hosts applied generation {generation}{rev}; "
            f"waiting for {_names(waiting)}"
        )
        if missing:
            message += f"; unreachable: {_names(missing)}"
        reason = (
            c.HOSTS_UNREACHABLE
            if missing and len(missing) == len(waiting)
            else c.ROLLOUT_IN_PROGRESS
        )
        conds = c.set_condition(
            conds, c.RECONCILING, "True", reason, message, generation=generation
        )
        conds = c.set_condition(
            conds, c.READY, "False", c.PROGRESSING, message, generation=generation
        )

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
        }
    )


def stalled(
    previous: ConfigurationStatus, generation: int, reason: str, message: str
) -> ConfigurationStatus:
    """Terminal problems with the Configuration itself (invalid spec, conflicts)."""
    conds = c.set_condition(
        previous.conditions, c.STALLED, "True", reason, message, generation=generation
    )
    conds = c.set_condition(conds, c.READY, "False", reason, message, generation=generation)
    return previous.model_copy(update={"observed_generation": generation, "conditions": conds})
