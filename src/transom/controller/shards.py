"""Controller shards: which hosts a controller owns, and one Configuration status from all.

With ``--shards N --shard-key K`` a controller owns the Hosts labelled ``transom.dev/shard=K``
(a Host without the label belongs to the shard of its name's hash until an admin labels it
otherwise), their Assignments and Leases. Every shard reads every Configuration and writes
only its own entry of ``status.shards`` (server-side apply under its own field manager); the
rest of the status is computed from all entries by `combine`, one pure rule, so whichever
shard writes it writes the same thing. A shard is alive while its leader Lease is held:
liveness costs no write per Configuration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from transom.api import conditions as c
from transom.api import names
from transom.api.configuration import (
    MAX_FAILING_HOSTS,
    MAX_SHARDS,
    ConfigurationStatus,
    Rollout,
    ShardStatus,
)
from transom.api.wire import API_VERSION
from transom.controller import liveness, rollout
from transom.controller.status import (
    in_progress_conditions,
    names_text,
    stalled_conditions,
    succeeded_conditions,
    suspended_conditions,
)
from transom.kube.client import Obj
from transom.kube.kinds import CONFIGURATIONS

if TYPE_CHECKING:
    from transom.controller.cache import Writer


class ShardError(ValueError):
    """--shards / --shard-key out of range: the message says which and what is allowed."""


@dataclass(frozen=True)
class Shard:
    key: int
    count: int
    #: Where the shards' leader Leases are, and their name before "-shard-K".
    lease_namespace: str = names.CONTROLLER_NAMESPACE
    lease_base: str = names.CONTROLLER_LEADER_LEASE

    @property
    def selector(self) -> str:
        return f"{names.LABEL_SHARD}={self.key}"

    @property
    def labels(self) -> dict[str, str]:
        return {names.LABEL_SHARD: str(self.key)}

    @property
    def field_manager(self) -> str:
        return f"{names.MANAGED_BY}-shard-{self.key}"

    def lease_name(self, key: int | None = None) -> str:
        return f"{self.lease_base}-shard-{self.key if key is None else key}"

    def default_owner(self, host: str) -> bool:
        """Whether an unlabelled Host falls to this shard."""
        return names.shard_of(host, self.count) == self.key

    def share(self, value: int | str) -> int | str:
        """This shard's part of an absolute maxUnavailable or maxFailures: split evenly, the
        remainder to the lowest shards. A percentage applies to each shard's own hosts."""
        if isinstance(value, str):
            return value
        return value // self.count + (1 if self.key < value % self.count else 0)


def check(key: int | None, count: int | None) -> Shard | None:
    """The shard from the flags; None (unsharded) when neither is given or N is 1."""
    if count is None and key is None:
        return None
    if count is None:
        raise ShardError("--shard-key needs --shards N (the number of shards)")
    if not 1 <= count <= MAX_SHARDS:
        raise ShardError(f"--shards must be between 1 and {MAX_SHARDS}, got {count}")
    if count == 1:
        if key not in (None, 0):
            raise ShardError(f"--shard-key must be 0 with --shards 1, got {key}")
        return None
    if key is None:
        raise ShardError(f"--shards {count} needs --shard-key K, K in 0..{count - 1}")
    if not 0 <= key < count:
        raise ShardError(f"--shard-key must be in 0..{count - 1} for --shards {count}, got {key}")
    return Shard(key, count)


#: How long past its leader Lease's term a shard still counts as alive: its standby takes
#: the Lease over within a retry period of a clean stop and a lease duration of a crash, so a
#: failover (or a rolling update) does not show as a missing shard.
SHARD_GRACE_SECONDS = 15.0


def alive(
    shard: Shard, leases: Mapping[int, Obj | None], now: dt.datetime | None = None
) -> frozenset[int]:
    """The shards with a live leader: this one, and those whose Lease was renewed within its
    term and the grace (held, or released that recently)."""
    at = now or dt.datetime.now(dt.UTC)
    return frozenset(
        {shard.key}
        | {
            k
            for k in range(shard.count)
            if liveness.renewed_within(leases.get(k), SHARD_GRACE_SECONDS, at)
        }
    )


# -- one shard's entry ----------------------------------------------------------------------


def own(previous: ConfigurationStatus, shard: Shard | None) -> ConfigurationStatus:
    """What a shard's rollout starts from: the stored status, but its own entry's
    observedGeneration (the top-level one waits for every shard)."""
    if shard is None:
        return previous
    mine = next((e for e in previous.shards if e.shard == shard.key), None)
    return previous.model_copy(
        update={"observed_generation": mine.observed_generation if mine else -1}
    )


def entry(key: int, generation: int, local: ConfigurationStatus) -> ShardStatus:
    """A shard's entry, from the status its own hosts give (status.aggregate)."""
    ready = c.find_condition(local.conditions, c.READY)
    # Reconciling says why a rollout waits (a gate, unreachable hosts); Ready only Progressing.
    why = c.find_condition(local.conditions, c.RECONCILING) or ready
    return ShardStatus(
        shard=key,
        generation=generation,
        observed_generation=local.observed_generation,
        revision=local.revision,
        hosts=local.desired,
        updated=local.updated,
        ready=local.ready,
        failed=local.failed,
        drifted=local.drifted,
        unavailable=local.unavailable,
        rebooting=local.rebooting,
        stalled=c.find_condition(local.conditions, c.STALLED) is not None,
        reason=why.reason if why else "",
        message=(ready.message if ready else "")[:1024],
        next_window=local.next_window,
        failing_hosts=local.failing_hosts,
    )


def _done(e: ShardStatus | None, generation: int) -> bool:
    return (
        e is not None
        and e.observed_generation == generation
        and not e.stalled
        and e.reason in (c.SUCCEEDED, c.NO_HOSTS_SELECTED)
    )


def limits(shard: Shard | None, policy: Rollout) -> tuple[int | str, int | str]:
    """maxUnavailable and maxFailures for this shard's hosts (all of them unsharded)."""
    if shard is None:
        return policy.max_unavailable, policy.max_failures
    return shard.share(policy.max_unavailable), shard.share(policy.max_failures)


def reboot_share(
    shard: Shard | None, limits: rollout.RebootLimits | None
) -> rollout.RebootLimits | None:
    """The reboot budget (maxRebooting) for this shard's hosts, split as maxUnavailable is."""
    if shard is None or limits is None:
        return limits
    return replace(limits, max_rebooting=shard.share(limits.max_rebooting))


def held(
    plan: rollout.Plan, shard: Shard | None, entries: Sequence[ShardStatus], generation: int
) -> rollout.Plan:
    """No new host gets a generation another shard's rollout halted on: a halt anywhere
    halts all shards, as one halted host does unsharded."""
    if shard is None:
        return plan
    for e in sorted(entries, key=lambda e: e.shard):
        other = e.shard != shard.key and e.shard < shard.count
        if other and e.stalled and e.observed_generation == generation:
            wait = rollout.Wait(reason=c.HALTED_IN_OTHER_SHARD, partition=str(e.shard))
            return replace(plan, assign=(), waits=(*plan.waits, wait))
    return plan


# -- the one rule for the whole Configuration ---------------------------------------------


def combine(
    previous: ConfigurationStatus,
    generation: int,
    count: int,
    entries: Sequence[ShardStatus],
    alive: Collection[int],
    *,
    lease_name: str = names.CONTROLLER_LEADER_LEASE + "-shard-{}",
) -> ConfigurationStatus:
    """The Configuration's status from every shard's entry: a pure function of the entries
    (their order aside), which shards are alive and the previous conditions, so every shard
    computes the same. observedGeneration reaches the generation only when every shard has
    (or one halted); a shard without a live leader is named, Reconciling (kstatus
    InProgress), never Ready."""
    by_shard = {e.shard: e for e in sorted(entries, key=lambda e: e.shard) if e.shard < count}
    present = [by_shard[k] for k in sorted(by_shard)]
    desired = sum(e.hosts for e in present)
    ready = sum(e.ready for e in present)
    failed = sum(e.failed for e in present)
    revision = next((e.revision for e in present if e.revision), "")
    rev = f" ({revision})" if revision else ""
    applied = f"{ready}/{desired} hosts applied generation {generation}{rev}"
    missing = [k for k in range(count) if k not in alive]
    stalled = [e for e in present if e.stalled and e.observed_generation == generation]
    conds = list(previous.conditions)
    observed = previous.observed_generation

    if stalled:
        first = stalled[0]
        message = f"shard {first.shard}: {first.message}"
        if len(stalled) > 1:
            message += f"; also halted in shard(s) {', '.join(str(e.shard) for e in stalled[1:])}"
        observed = generation
        conds = stalled_conditions(conds, first.reason, first.reason, message, generation)
    elif missing:
        leases = ", ".join(lease_name.format(k) for k in missing)
        message = (
            f"shard(s) {', '.join(map(str, missing))} missing: no controller holds lease(s) "
            f"{leases}, so their hosts do not progress; {applied}"
        )
        conds = c.set_condition(
            conds, c.RECONCILING, "True", c.SHARD_MISSING, message, generation=generation
        )
        conds = c.set_condition(
            conds, c.READY, "False", c.SHARD_MISSING, message, generation=generation
        )
    elif all(_done(by_shard.get(k), generation) for k in range(count)):
        observed = generation
        reason = c.NO_HOSTS_SELECTED if desired == 0 else c.SUCCEEDED
        message = "no hosts selected" if desired == 0 else applied
        failing = [h.host for e in present for h in e.failing_hosts]
        if failed:
            message += f"; {failed} failed within maxFailures: {names_text(failing)}"
        conds = succeeded_conditions(conds, reason, message, generation)
    else:
        waiting = [k for k in range(count) if not _done(by_shard.get(k), generation)]
        current = {k: e for k, e in by_shard.items() if e.generation == generation}
        parts = [
            f"shard {k}: {current[k].message}"
            if k in current
            else f"shard {k}: has not reported generation {generation} yet"
            for k in waiting
        ]
        message = f"{applied}; " + "; ".join(parts)
        lead = current.get(waiting[0])
        reason = lead.reason if lead is not None and lead.reason else c.ROLLOUT_IN_PROGRESS
        if reason == c.SUSPENDED:
            conds = suspended_conditions(conds, message, generation)
        else:
            if reason in (c.SUCCEEDED, c.NO_HOSTS_SELECTED, c.PROGRESSING):
                reason = c.ROLLOUT_IN_PROGRESS
            conds = in_progress_conditions(conds, reason, message, generation)

    windows = [e.next_window for e in present if e.next_window]
    return previous.model_copy(
        update={
            "observed_generation": observed,
            "conditions": conds,
            "revision": revision,
            "desired": desired,
            "updated": sum(e.updated for e in present),
            "ready": ready,
            "failed": failed,
            "drifted": sum(e.drifted for e in present),
            "unavailable": sum(e.unavailable for e in present),
            "rebooting": sum(e.rebooting for e in present),
            "summary": f"{ready}/{desired}",
            "failing_hosts": [h for e in present for h in e.failing_hosts][:MAX_FAILING_HOSTS],
            "next_window": min(windows) if windows else "",
        }
    )


# -- writing --------------------------------------------------------------------------------


async def publish(
    writer: Writer,
    conf: Obj,
    local: ConfigurationStatus,
    shard: Shard,
    alive_now: Collection[int],
) -> tuple[Obj, ConfigurationStatus]:
    """Write this shard's entry when it changed, then compute the whole status from the
    entries as the apiserver now has them. Returns the Configuration as written and the
    combined status (the caller writes its top-level fields)."""
    generation = int(conf["metadata"].get("generation", 1))
    mine = entry(shard.key, generation, local)
    stored = ConfigurationStatus.model_validate(conf.get("status") or {})
    if next((e for e in stored.shards if e.shard == shard.key), None) != mine:
        meta = conf["metadata"]
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Configuration",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": {"shards": [mine.model_dump(mode="json", by_alias=True)]},
        }
        conf = await writer.apply(
            CONFIGURATIONS, body, subresource="status", field_manager=shard.field_manager
        )
        stored = ConfigurationStatus.model_validate(conf.get("status") or {})
    entries = [e for e in stored.shards if e.shard != shard.key] + [mine]
    combined = combine(
        stored,
        generation,
        shard.count,
        entries,
        alive_now,
        lease_name=shard.lease_base + "-shard-{}",
    )
    # Approvals are the Configuration's, the same in every shard: this shard's reading.
    return conf, combined.model_copy(update={"approvals": local.approvals})
