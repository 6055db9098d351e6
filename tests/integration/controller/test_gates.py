"""Gates against the real apiserver and controller: an approval gate held until an operator
approves (a viewer's approval and a forged approver refused with 403, by RBAC and by the
admission policy), and maintenance windows (nothing before a window opens, everything after;
a Deny window inside an Allow window wins)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.controller.conftest import (
    Fleet,
    configuration,
    eventually,
    get_configuration,
)
from transom.api import conditions as c
from transom.api import kstatus, rbac
from transom.api.approval import approval_name
from transom.api.wire import API_VERSION
from transom.dev import pki
from transom.dev.controlplane import ControlPlane, kubeconfig_dict
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import APPROVALS, CONFIGURATIONS, EVENTS, path_of

pytestmark = pytest.mark.controlplane

OPERATORS, VIEWERS = "gates:operators", "gates:viewers"


def ready_reason(
    kube: Kube, namespace: str, name: str, reason: str
) -> Callable[[], Awaitable[dict[str, Any] | None]]:
    """For eventually(): the Configuration once its Ready condition has ``reason``."""

    async def check() -> dict[str, Any] | None:
        obj = await get_configuration(kube, namespace, name)
        conds = (obj.get("status") or {}).get("conditions") or []
        ok = any(x["type"] == "Ready" and x["reason"] == reason for x in conds)
        return obj if ok else None

    return check


def ready(conf: dict[str, Any]) -> dict[str, Any]:
    return next(x for x in conf["status"]["conditions"] if x["type"] == "Ready")


class Person:
    def __init__(self, cp: ControlPlane, directory: Path, user: str, group: str) -> None:
        pair = pki.issue(cp.ca, directory, user, user, organizations=(group,))
        self.user = user
        self.kubeconfig = directory / f"{user}.kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig_dict(cp.url, cp.ca.cert, pair, user)))
        self.kube = Kube(KubeConfig.from_file(self.kubeconfig))

    def transom(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "transom.cli.main", *args, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )


@pytest.fixture
async def people(
    kube: Kube, controlplane: ControlPlane, tmp_path: Path
) -> AsyncIterator[tuple[Person, Person]]:
    suffix = tmp_path.name[-12:].lower().replace("_", "-")
    bindings = [
        rbac.group_binding(rbac.OPERATOR_ROLE_NAME, OPERATORS, f"gates-ops-{suffix}"),
        rbac.group_binding(rbac.VIEWER_ROLE_NAME, VIEWERS, f"gates-viewers-{suffix}"),
    ]
    for obj in bindings:
        await kube.apply(path_of(obj), obj)
    alice = Person(controlplane, tmp_path, "alice", OPERATORS)
    victor = Person(controlplane, tmp_path, "victor", VIEWERS)
    yield alice, victor
    for p in (alice, victor):
        await p.kube.close()
    for obj in bindings:
        await kube.delete(path_of(obj))


async def assigned(fleet: Fleet, hosts: list[str], key: tuple[str, str]) -> list[str]:
    return [h for h in hosts if await fleet.assignment(h, key)]


async def test_an_approval_gate_holds_until_an_operator_approves(
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    people: tuple[Person, Person],
    controlplane: ControlPlane,
) -> None:
    alice, victor = people
    role = fleet.prefix
    hosts = [await fleet.add(i, {"role": role, "ring": "0" if i == 0 else "1"}) for i in range(3)]
    key = (namespace, "web")
    rollout = {
        "maxUnavailable": "100%",
        "partitions": [
            {"name": "canary", "hostSelector": {"matchLabels": {"ring": "0"}}},
            {
                "name": "rest",
                "hostSelector": {"matchLabels": {"ring": "1"}},
                "approval": "Manual",
            },
        ],
    }
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("web", namespace, {"role": role}, rollout=rollout),
    )
    await eventually(lambda: fleet.assignment(hosts[0], key))
    await fleet.report(hosts[0], key, ok=True)

    async def waiting() -> dict[str, Any] | None:
        conf = await get_configuration(kube, namespace, "web")
        conds = conf["status"].get("conditions", [])
        cond: dict[str, Any] = next((x for x in conds if x["type"] == "Ready"), {})
        return conf if cond.get("reason") == c.WAITING_FOR_APPROVAL else None

    conf = await eventually(waiting)
    # Flux waits: InProgress, not Failed; the message says what to do.
    assert kstatus.compute(conf).status is kstatus.Status.IN_PROGRESS
    assert "partition rest waits for approval" in ready(conf)["message"]
    await asyncio.sleep(1.0)
    assert await assigned(fleet, hosts, key) == [hosts[0]]
    shown = subprocess.run(
        [sys.executable, "-m", "transom.cli.main", "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "KUBECONFIG": str(controlplane.kubeconfig)},
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"{namespace}/web: {c.WAITING_FOR_APPROVAL}: " in shown.stdout

    # A viewer may not approve: RBAC says 403, and the CLI says so in words.
    denied = victor.transom("approve", "web", "-n", namespace)
    assert denied.returncode == 1, denied
    assert "may not approve" in denied.stderr and "transom-operator" in denied.stderr
    assert "Traceback" not in denied.stderr
    generation = conf["metadata"]["generation"]
    forged: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Approval",
        "metadata": {"name": approval_name("web", generation, "rest")},
        "spec": {
            "configuration": "web",
            "generation": generation,
            "partition": "rest",
            "approver": "alice",
        },
    }
    with pytest.raises(ApiError) as info:
        await victor.kube.create(APPROVALS.path(namespace), forged)
    assert info.value.status == 403
    # An operator may approve, but only in their own name: admission refuses a forged one.
    forged["spec"]["approver"] = "bob"
    with pytest.raises(ApiError) as info:
        await alice.kube.create(APPROVALS.path(namespace), forged)
    assert info.value.status == 403 and "spec.approver must be the requesting user" in str(
        info.value
    )
    await asyncio.sleep(0.5)
    assert await assigned(fleet, hosts, key) == [hosts[0]]

    done = alice.transom("approve", "web", "-n", namespace, "--reason", "CHG-1234")
    assert done.returncode == 0, done.stderr
    assert "approved partition rest" in done.stdout and "as alice" in done.stdout
    await eventually(lambda: _all(fleet, hosts, key))
    again = alice.transom("approve", "web", "-n", namespace, "--partition", "rest")
    assert again.returncode == 1 and "already approved by alice" in again.stderr

    for h in hosts[1:]:
        await fleet.report(h, key, ok=True)

    async def current() -> dict[str, Any] | None:
        conf = await get_configuration(kube, namespace, "web")
        return conf if kstatus.compute(conf).status is kstatus.Status.CURRENT else None

    conf = await eventually(current)
    records = conf["status"]["approvals"]
    assert [(r["partition"], r["approver"]) for r in records] == [("rest", "alice")]
    events = await kube.list(EVENTS.path(namespace))
    notes = [e.get("note", "") for e in events["items"] if e.get("reason") == c.APPROVED]
    assert any("approved by alice" in n for n in notes), notes
    waits = [e for e in events["items"] if e.get("reason") == c.WAITING_FOR_APPROVAL]
    assert waits


async def _all(fleet: Fleet, hosts: list[str], key: tuple[str, str]) -> bool:
    return len(await assigned(fleet, hosts, key)) == len(hosts)


def _at(moment: datetime) -> str:
    """A six-field cron schedule (seconds first) matching ``moment`` once, in UTC."""
    return f"{moment.second} {moment.minute} {moment.hour} {moment.day} {moment.month} *"


async def test_nothing_starts_before_a_window_opens_and_everything_after(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    hosts = [await fleet.add(i, {"role": role}) for i in range(3)]
    key = (namespace, "web")
    opens = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    conf = configuration("web", namespace, {"role": role}, rollout={"maxUnavailable": "100%"})
    conf["spec"]["maintenanceWindows"] = [
        {"name": "tonight", "schedule": _at(opens), "duration": "10m", "timeZone": "UTC"}
    ]
    await kube.create(CONFIGURATIONS.path(namespace), conf)

    obj = await eventually(ready_reason(kube, namespace, "web", c.WAITING_FOR_WINDOW))
    assert kstatus.compute(obj).status is kstatus.Status.IN_PROGRESS
    assert obj["status"]["nextWindow"] == opens.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Sampled until the window opens: no host gets the generation before it.
    while datetime.now(UTC) < opens - timedelta(seconds=0.5):
        assert await assigned(fleet, hosts, key) == []
        await asyncio.sleep(0.2)
    await eventually(lambda: _all(fleet, hosts, key), timeout=15)


async def test_a_deny_window_inside_an_allow_window_wins(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    hosts = [await fleet.add(i, {"role": role}) for i in range(2)]
    key = (namespace, "web")
    conf = configuration("web", namespace, {"role": role}, rollout={"maxUnavailable": "100%"})
    conf["spec"]["maintenanceWindows"] = [
        # Open all day, every day, in Berlin; a freeze of the same hour inside it.
        {"name": "daily", "schedule": "0 0 * * *", "duration": "24h", "timeZone": "Europe/Berlin"},
        {"name": "freeze", "type": "Deny", "schedule": "* * * * *", "duration": "2m"},
    ]
    await kube.create(CONFIGURATIONS.path(namespace), conf)

    obj = await eventually(ready_reason(kube, namespace, "web", c.WAITING_FOR_WINDOW))
    assert "wait for their maintenance window" in ready(obj)["message"]
    await asyncio.sleep(1.5)
    assert await assigned(fleet, hosts, key) == []
    # The freeze lifted (the Deny window removed in Git): the Allow window lets them go.
    await kube.patch(
        CONFIGURATIONS.path(namespace, "web"),
        {"spec": {"maintenanceWindows": conf["spec"]["maintenanceWindows"][:1]}},
    )
    await eventually(lambda: _all(fleet, hosts, key))


async def test_a_pause_holds_the_next_partition_then_lets_it_go(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    hosts = [await fleet.add(i, {"role": role, "ring": "0" if i == 0 else "1"}) for i in range(3)]
    key = (namespace, "web")
    rollout = {
        "maxUnavailable": "100%",
        "partitions": [
            {"name": "canary", "hostSelector": {"matchLabels": {"ring": "0"}}},
            {"name": "rest", "hostSelector": {"matchLabels": {"ring": "1"}}, "pauseSeconds": 5},
        ],
    }
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("web", namespace, {"role": role}, rollout=rollout),
    )
    await eventually(lambda: fleet.assignment(hosts[0], key))
    await fleet.report(hosts[0], key, ok=True)
    canary = await fleet.assignment(hosts[0], key)
    assert canary is not None
    finished = datetime.strptime(canary["status"]["lastApplyTime"], "%Y-%m-%dT%H:%M:%SZ")
    ends = finished.replace(tzinfo=UTC) + timedelta(seconds=5)

    obj = await eventually(ready_reason(kube, namespace, "web", c.PAUSED))
    assert kstatus.compute(obj).status is kstatus.Status.IN_PROGRESS
    # The pause counts from the canary's finish, and the status says when it ends.
    assert (
        f"partition rest paused until {ends.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        in (ready(obj)["message"])
    )
    # Sampled through the pause: the next partition gets nothing.
    while datetime.now(UTC) < ends - timedelta(seconds=0.5):
        assert await assigned(fleet, hosts, key) == [hosts[0]]
        await asyncio.sleep(0.2)
    # Then it gets the generation, with nothing to poke the controller but its own timer.
    await eventually(lambda: _all(fleet, hosts, key), timeout=15)
    events = await kube.list(EVENTS.path(namespace))
    notes = [e.get("note", "") for e in events["items"] if e.get("reason") == c.PAUSED]
    assert any("partition rest paused until" in n for n in notes), notes


async def test_each_host_gets_the_windows_it_follows_and_the_switch_in_its_assignment(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    web = await fleet.add(0, {"role": role, "tier": "web"})
    db = await fleet.add(1, {"role": role, "tier": "db"})
    key = (namespace, "web")
    conf = configuration("web", namespace, {"role": role}, rollout={"maxUnavailable": "100%"})
    conf["spec"]["maintenanceWindows"] = [
        {"name": "daily", "schedule": "0 0 * * *", "duration": "24h"},
        {
            "name": "db-nights",
            "type": "Deny",
            "schedule": "0 0 1 1 *",
            "duration": "1h",
            "hostSelector": {"matchLabels": {"tier": "db"}},
        },
    ]
    conf["spec"]["driftCorrection"] = {"outsideWindows": "Report"}
    conf["spec"]["rebootPolicy"] = {"mode": "IfNeeded"}
    conf["spec"]["reboot"] = {"maxRebooting": 1, "expectedDuration": "10m"}
    await kube.create(CONFIGURATIONS.path(namespace), conf)
    await eventually(lambda: _all(fleet, [web, db], key))
    got = {h: (await fleet.assignment(h, key) or {})["spec"]["maintenance"] for h in (web, db)}
    assert [w["name"] for w in got[web]["windows"]] == ["daily"]
    assert [w["name"] for w in got[db]["windows"]] == ["daily", "db-nights"]
    assert all("hostSelector" not in w for m in got.values() for w in m["windows"])
    assert {m["driftCorrection"] for m in got.values()} == {"Report"}
    assert {m["startRoomSeconds"] for m in got.values()} == {600}


async def test_report_without_windows_is_refused_by_the_apiserver(
    kube: Kube, namespace: str
) -> None:
    conf = configuration("lonely", namespace, {"role": "none"})
    conf["spec"]["driftCorrection"] = {"outsideWindows": "Report"}
    with pytest.raises(ApiError) as info:
        await kube.create(CONFIGURATIONS.path(namespace), conf)
    assert info.value.status == 422
    assert "Report needs maintenanceWindows" in str(info.value)
