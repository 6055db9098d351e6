"""What a held rollout looks like in the Configuration's status and to kstatus (Flux waits,
never fails, at a gate), and which partition `transom approve` picks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tests.unit.controller.fleets import GENERATION, view
from transom.api import conditions as c
from transom.api import kstatus
from transom.api.configuration import ConfigurationSpec, ConfigurationStatus
from transom.api.gates import ApprovalRecord
from transom.api.windows import Verdict
from transom.controller.approvals import ApprovalError, choose
from transom.controller.rollout import RebootLimits, Stage, plan
from transom.controller.status import aggregate

NOW = 1_800_000_000.0


def judged(status: ConfigurationStatus) -> kstatus.Status:
    obj = {
        "metadata": {"generation": GENERATION},
        "status": status.model_dump(mode="json", by_alias=True),
    }
    return kstatus.compute(obj).status


def test_waiting_for_approval_is_in_progress_with_the_reason_and_the_record() -> None:
    hosts = [
        dataclasses.replace(view("a", True, "ready"), finished_at=NOW - 5),
        view("b", True, "old"),
    ]
    stages = [Stage("canary", frozenset({"a"})), Stage("rest", frozenset({"b"}), True)]
    p = plan(GENERATION, hosts, stages, 1, 0, now=NOW)
    record = ApprovalRecord(partition="canary", generation=GENERATION, approver="alice")
    status = aggregate(ConfigurationStatus(), GENERATION, "", hosts, p, approvals=[record])
    ready = c.find_condition(status.conditions, c.READY)
    assert ready is not None and ready.reason == c.WAITING_FOR_APPROVAL
    assert "partition rest waits for approval" in ready.message
    assert judged(status) is kstatus.Status.IN_PROGRESS
    assert status.approvals == [record]


def test_a_reboot_past_its_deadline_fails_the_rollout_naming_the_host() -> None:
    hosts = [dataclasses.replace(view("a", True, "applying"), reboot_since=NOW - 100)]
    p = plan(GENERATION, hosts, [], 1, 0, now=NOW, reboot=RebootLimits(1, 60))
    status = aggregate(ConfigurationStatus(), GENERATION, "", hosts, p)
    stalled = c.find_condition(status.conditions, c.STALLED)
    assert stalled is not None and stalled.reason == c.REBOOT_DEADLINE_EXCEEDED
    assert "a" in stalled.message
    assert status.failing_hosts[0].host == "a"
    assert status.rebooting == 1
    assert judged(status) is kstatus.Status.FAILED


def spec(*approvals: str) -> ConfigurationSpec:
    return ConfigurationSpec.model_validate(
        {
            "hostSelector": {"matchLabels": {"role": "web"}},
            "resources": [{"name": "d", "directory": {"path": "/srv/d"}}],
            "rollout": {
                "partitions": [
                    {"name": n, "hostSelector": {"matchLabels": {"wave": n}}, "approval": a}
                    for n, a in zip(("one", "two", "three"), approvals, strict=False)
                ]
            },
        }
    )


def test_approve_picks_the_first_gated_partition_still_waiting() -> None:
    s = spec("Automatic", "Manual", "Manual")
    assert choose(s, set(), None) == "two"
    assert choose(s, {"two"}, None) == "three"
    assert choose(s, set(), "three") == "three"
    with pytest.raises(ApprovalError, match="does not need approval; these do: two, three"):
        choose(s, set(), "one")
    with pytest.raises(ApprovalError, match="every partition needing approval is approved"):
        choose(s, {"two", "three"}, None)
    with pytest.raises(ApprovalError, match="no partition"):
        choose(spec("Automatic"), set(), None)


def test_a_host_whose_agent_holds_the_generation_for_its_window_waits_for_it() -> None:
    """Assigned while the controller's clock said open (the host was offline, or the clocks
    disagree), held by the agent: WaitingForWindow, not RolloutInProgress, with the opening."""
    opens = datetime.fromtimestamp(NOW + 600, UTC)
    held = dataclasses.replace(view("a", True, "applying"), waiting_for_window=True)
    hosts = [held, view("b", True, "ready")]
    closed = Verdict(open=False, opens_at=opens, reason="outside its Allow windows")
    p = plan(GENERATION, hosts, [], 1, 0, now=NOW, windows={"a": closed})
    assert p.assign == () and [(w.reason, w.hosts) for w in p.waits] == [
        (c.WAITING_FOR_WINDOW, ("a",))
    ]
    status = aggregate(ConfigurationStatus(), GENERATION, "", hosts, p)
    ready = c.find_condition(status.conditions, c.READY)
    assert ready is not None and ready.reason == c.WAITING_FOR_WINDOW
    assert "a wait for their maintenance window" in ready.message
    assert status.next_window == opens.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert judged(status) is kstatus.Status.IN_PROGRESS
    # The same host merely applying is a rollout in progress.
    busy = [view("a", True, "applying"), view("b", True, "ready")]
    p = plan(GENERATION, busy, [], 1, 0, now=NOW, windows={"a": closed})
    ready = c.find_condition(
        aggregate(ConfigurationStatus(), GENERATION, "", busy, p).conditions, c.READY
    )
    assert ready is not None and ready.reason == c.PROGRESSING
