"""Controller shards: the host hash, the flags, the policy split and the one status rule."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.controller.fleets import GENERATION, fleets
from transom.api import conditions as c
from transom.api import kstatus, names
from transom.api.configuration import ConfigurationStatus, ShardStatus
from transom.controller import shards
from transom.controller.hostview import HostView
from transom.controller.rollout import RebootLimits, Wait, plan
from transom.controller.shards import Shard
from transom.controller.status import aggregate

host_names = st.from_regex(names.HOST_NAME_RE, fullmatch=True)


def judged(status: ConfigurationStatus) -> kstatus.Status:
    obj = {
        "kind": "Configuration",
        "metadata": {"generation": GENERATION},
        "status": status.model_dump(mode="json", by_alias=True),
    }
    return kstatus.compute(obj).status


def untimed(status: ConfigurationStatus) -> dict[str, object]:
    """The status but its conditions' lastTransitionTime (the clock's, not the rule's)."""
    out = status.model_dump(mode="json", by_alias=True)
    for cond in out["conditions"]:
        cond.pop("lastTransitionTime")
    return out


# -- which shard a host is in ---------------------------------------------------------------


@given(host_names, st.integers(1, 64))
def test_shard_of_is_in_range_and_stable(host: str, count: int) -> None:
    k = names.shard_of(host, count)
    assert 0 <= k < count
    assert names.shard_of(host, count) == k


def test_shard_of_is_the_same_in_every_process() -> None:
    """Not Python's salted hash(): another interpreter with another hash seed agrees."""
    hosts = [f"web{i:02d}" for i in range(40)]
    here = [names.shard_of(h, 7) for h in hosts]
    code = f"from transom.api import names; print([names.shard_of(h, 7) for h in {hosts!r}])"
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        assert out.strip() == str(here)
    # Pinned: a change to the hash would move the hosts of a running fleet between shards.
    hosts4 = ("web01", "web02", "web03", "db01", "db02", "a")
    assert [names.shard_of(h, 4) for h in hosts4] == [0, 0, 3, 0, 2, 2]


def test_shard_of_spreads_hosts() -> None:
    counts = [0, 0, 0, 0]
    for i in range(4000):
        counts[names.shard_of(f"host-{i}", 4)] += 1
    assert min(counts) > 800, counts  # roughly a quarter each


# -- the flags ------------------------------------------------------------------------------


def test_no_flags_or_one_shard_is_unsharded() -> None:
    assert shards.check(None, None) is None
    assert shards.check(None, 1) is None
    assert shards.check(0, 1) is None


@pytest.mark.parametrize(
    ("key", "count", "says"),
    [
        (1, None, "--shard-key needs --shards"),
        (None, 3, "needs --shard-key K, K in 0..2"),
        (3, 3, "--shard-key must be in 0..2 for --shards 3, got 3"),
        (-1, 3, "--shard-key must be in 0..2"),
        (0, 0, "--shards must be between 1 and 64, got 0"),
        (0, 65, "--shards must be between 1 and 64, got 65"),
        (1, 1, "--shard-key must be 0 with --shards 1, got 1"),
    ],
)
def test_bad_flags_are_refused_with_what_is_allowed(
    key: int | None, count: int | None, says: str
) -> None:
    with pytest.raises(shards.ShardError, match=says.replace(".", r"\.")):
        shards.check(key, count)


def test_a_shard_names_its_lease_label_and_field_manager() -> None:
    s = shards.check(2, 3)
    assert s == Shard(2, 3)
    assert s.selector == "transom.dev/shard=2"
    assert s.lease_name() == "transom-controller-shard-2"
    assert s.lease_name(0) == "transom-controller-shard-0"
    assert s.field_manager == "transom-controller-shard-2"


# -- the rollout policy across shards -------------------------------------------------------


@given(st.integers(0, 100), st.integers(2, 16))
def test_an_absolute_limit_is_split_exactly(value: int, count: int) -> None:
    parts = [Shard(k, count).share(value) for k in range(count)]
    assert sum(parts) == value  # type: ignore[arg-type]
    assert max(parts) - min(parts) <= 1  # type: ignore[operator]


@given(st.integers(1, 100), st.integers(2, 16))
def test_a_percentage_applies_to_each_shard(percent: int, count: int) -> None:
    assert {Shard(k, count).share(f"{percent}%") for k in range(count)} == {f"{percent}%"}


def test_the_reboot_budget_is_split_as_max_unavailable_is() -> None:
    limits = RebootLimits(max_rebooting=3, deadline_seconds=600.0)
    assert shards.reboot_share(None, limits) is limits
    assert shards.reboot_share(Shard(0, 2), None) is None
    parts = [shards.reboot_share(Shard(k, 2), limits) for k in range(2)]
    assert [p.max_rebooting for p in parts if p is not None] == [2, 1]
    assert all(p is not None and p.deadline_seconds == 600.0 for p in parts)
    percent = RebootLimits(max_rebooting="10%", deadline_seconds=60.0)
    assert shards.reboot_share(Shard(1, 4), percent) == percent


def _halted_entry(shard: int, generation: int = GENERATION) -> ShardStatus:
    return ShardStatus(
        shard=shard,
        generation=generation,
        observed_generation=generation,
        stalled=True,
        reason=c.APPLY_FAILED,
        message="halted",
    )


def test_a_halt_in_another_shard_holds_this_one() -> None:
    hosts = [HostView(name="a", online=True)]
    p = plan(GENERATION, hosts, [], 1, 0)
    assert p.assign == ("a",)
    held = shards.held(p, Shard(0, 2), [_halted_entry(1)], GENERATION)
    assert held.assign == ()
    assert held.waits[-1] == Wait(reason=c.HALTED_IN_OTHER_SHARD, partition="1")
    # Its own entry, an older generation's halt, a shard beyond N, or no sharding: no hold.
    for entries, shard in [
        ([_halted_entry(0)], Shard(0, 2)),
        ([_halted_entry(1, GENERATION - 1)], Shard(0, 2)),
        ([_halted_entry(5)], Shard(0, 2)),
        ([_halted_entry(1)], None),
    ]:
        assert shards.held(p, shard, entries, GENERATION).assign == ("a",)


# -- the one rule for the Configuration's status -------------------------------------------


@st.composite
def sharded_fleets(draw: st.DrawFn) -> tuple[int, list[list[HostView]]]:
    count = draw(st.integers(2, 4))
    hosts = draw(fleets())
    split: list[list[HostView]] = [[] for _ in range(count)]
    for h in hosts:
        split[names.shard_of(h.name, count)].append(h)
    return count, split


def _entries(
    count: int, split: list[list[HostView]], previous: ConfigurationStatus
) -> list[ShardStatus]:
    """Each shard's entry as its controller computes it: its own hosts, its share of the
    policy (maxUnavailable 1, maxFailures 0)."""
    out = []
    for k in range(count):
        shard = Shard(k, count)
        own = shards.own(previous, shard)
        p = plan(GENERATION, split[k], [], shard.share(1), shard.share(0))
        out.append(shards.entry(k, GENERATION, aggregate(own, GENERATION, "", split[k], p)))
    return out


@given(sharded_fleets(), st.randoms())
def test_all_shards_alive_give_what_one_controller_gives(
    fleet: tuple[int, list[list[HostView]]], rnd: object
) -> None:
    count, split = fleet
    previous = ConfigurationStatus()
    entries = _entries(count, split, previous)
    combined = shards.combine(previous, GENERATION, count, entries, range(count))
    hosts = sorted((h for part in split for h in part), key=lambda h: h.name)
    whole = aggregate(previous, GENERATION, "", hosts, plan(GENERATION, hosts, [], 1, 0))
    assert judged(combined) == judged(whole)
    assert (combined.desired, combined.ready, combined.failed, combined.updated) == (
        whole.desired,
        whole.ready,
        whole.failed,
        whole.updated,
    )
    # The order entries are read in does not matter: every shard writes the same status.
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert untimed(shards.combine(previous, GENERATION, count, shuffled, range(count))) == (
        untimed(combined)
    )
    # And writing it again changes nothing (no two shards flapping it).
    again = shards.combine(combined, GENERATION, count, entries, range(count))
    assert again == combined


@given(sharded_fleets(), st.data())
def test_observed_generation_waits_for_every_shard(
    fleet: tuple[int, list[list[HostView]]], data: st.DataObject
) -> None:
    count, split = fleet
    entries = _entries(count, split, ConfigurationStatus())
    reported = data.draw(st.lists(st.sampled_from(entries), unique_by=lambda e: e.shard))
    combined = shards.combine(ConfigurationStatus(), GENERATION, count, reported, range(count))
    done = len(reported) == count and all(
        e.observed_generation == GENERATION and not e.stalled for e in reported
    )
    halted = any(e.stalled for e in reported)
    assert (combined.observed_generation == GENERATION) == (done or halted)
    if len(reported) < count and not halted:
        assert judged(combined) is kstatus.Status.IN_PROGRESS
        silent = min(set(range(count)) - {e.shard for e in reported})
        ready = c.find_condition(combined.conditions, c.READY)
        assert ready is not None
        assert f"shard {silent}: has not reported generation {GENERATION}" in ready.message


@given(sharded_fleets(), st.data())
def test_a_shard_without_a_leader_is_named_and_never_ready(
    fleet: tuple[int, list[list[HostView]]], data: st.DataObject
) -> None:
    count, split = fleet
    entries = _entries(count, split, ConfigurationStatus())
    dead = data.draw(st.sets(st.integers(0, count - 1), min_size=1))
    alive = set(range(count)) - dead
    combined = shards.combine(ConfigurationStatus(), GENERATION, count, entries, alive)
    if any(e.stalled for e in entries):
        assert judged(combined) is kstatus.Status.FAILED  # a halt is reported at once
        return
    assert judged(combined) is kstatus.Status.IN_PROGRESS
    assert combined.observed_generation != GENERATION
    ready = c.find_condition(combined.conditions, c.READY)
    assert ready is not None
    assert ready.status == "False"
    assert ready.reason == c.SHARD_MISSING
    listed = ", ".join(str(k) for k in sorted(dead))
    assert f"shard(s) {listed} missing" in ready.message
    assert f"transom-controller-shard-{min(dead)}" in ready.message


def test_entries_beyond_the_shard_count_are_ignored() -> None:
    """After --shards shrinks, an old shard's entry stays in status.shards but counts for
    nothing."""
    ready = ShardStatus(
        shard=0,
        generation=GENERATION,
        observed_generation=GENERATION,
        hosts=2,
        ready=2,
        updated=2,
        reason=c.SUCCEEDED,
        message="2/2",
    )
    stale = _halted_entry(3)
    combined = shards.combine(ConfigurationStatus(), GENERATION, 1, [ready, stale], {0})
    assert judged(combined) is kstatus.Status.CURRENT
    assert combined.desired == 2


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--shards", "2"], "error: --shards 2 needs --shard-key K, K in 0..1"),
        (["--shards", "2", "--shard-key", "2", "--leader-elect"], "--shard-key must be in 0..1"),
        (["--shards", "2", "--shard-key", "0"], "error: --shards 2 needs --leader-elect"),
    ],
)
def test_the_command_refuses_bad_shard_flags_before_connecting(
    flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from transom.cli.main import main

    code = main(["controller", "run", "--kubeconfig", "/nonexistent/kubeconfig", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert "Traceback" not in err


def _lease(holder: str, renewed: dt.datetime, duration: int) -> dict[str, object]:
    stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "spec": {"holderIdentity": holder, "renewTime": stamp, "leaseDurationSeconds": duration}
    }


@given(st.integers(0, 120_000), st.booleans())
def test_a_shard_is_missing_only_past_its_lease_term_and_the_grace(
    ago_ms: int, released: bool
) -> None:
    """A failover (the standby takes over within a lease duration) never shows as a missing
    shard; a shard nobody leads for longer does."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    # A clean stop leaves holder "" and a 1 s duration; a crash leaves the lease as it was.
    duration = 1 if released else 15
    ago = dt.timedelta(milliseconds=ago_ms)
    lease = _lease("" if released else "pod-a", now - ago, duration)
    alive = shards.alive(Shard(0, 3), {1: lease, 2: None}, now=now)
    assert 0 in alive  # this shard, always
    assert 2 not in alive  # never had a leader
    assert (1 in alive) == (ago.total_seconds() <= duration + shards.SHARD_GRACE_SECONDS)
