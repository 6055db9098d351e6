"""What a held rollout looks like in the Configuration's status and to kstatus (Flux waits,
never fails, at a gate), and which partition `transom approve` picks."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.controller.fleets import GENERATION, view
from transom.api import conditions as c
from transom.api import kstatus
from transom.api.configuration import ConfigurationSpec, ConfigurationStatus
from transom.api.gates import ApprovalRecord
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
