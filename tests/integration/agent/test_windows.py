"""Maintenance windows on the host, with the real controller and a real agent: a host that was
offline through its window, and got its Assignment there, does not start it when it comes
back after the window (WaitingForWindow, with the next opening, on the Assignment and on the
Configuration) but at the next window; and with driftCorrection Report, drift outside the
windows is reported and left alone, then corrected when the next one opens."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from transom.api import conditions as c
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, HOSTS, LEASES, NAMESPACES

from .conftest import Agents, condition, eventually

pytestmark = pytest.mark.controlplane

#: How long each window stays open: the controller must assign inside the first, and the
#: agent apply inside the second, on a loaded machine.
OPEN_SECONDS = 10


def at(moment: datetime) -> str:
    """A six-field cron schedule (seconds first) matching ``moment`` once, in UTC."""
    return f"{moment.second} {moment.minute} {moment.hour} {moment.day} {moment.month} *"


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


async def test_an_offline_host_back_after_its_window_waits_and_drift_waits_too(
    controller: Controller, kube: Kube, controlplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    app = f"win{secrets.token_hex(3)}"
    host = f"{app}-0"
    token = await create_token(kube, [host], labels={"app": app})
    agents = Agents(None, controlplane, tmp_path)  # the controller approves, no stand-in
    identity = await agents.enroll(host, token=token.value)
    root = tmp_path / "root"
    motd = root / "motd"
    ns = names.host_namespace(host)
    path = ASSIGNMENTS.path(ns, names.assignment_name(namespace, "web"))
    try:
        # The agent runs long enough to renew its Lease, then stops: the controller still sees
        # the host online when it writes the Assignment, in the window, and the host is away.
        running = await agents.start(identity, root=root)
        await eventually(lambda: kube.get_or_none(LEASES.path(ns, names.LEASE_NAME)), timeout=30)
        await running.stop()
        start = datetime.now(UTC).replace(microsecond=0)
        first = start - timedelta(seconds=1)  # open now: the controller assigns at once
        second = start + timedelta(seconds=OPEN_SECONDS + 6)
        third = second + timedelta(seconds=OPEN_SECONDS + 6)
        conf: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Configuration",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "hostSelector": {"matchLabels": {"app": app}},
                "resources": [{"name": "motd", "file": {"path": str(motd), "content": "hi\n"}}],
                "rollout": {"maxUnavailable": "100%"},
                "maintenanceWindows": [
                    {"name": w, "schedule": at(t), "duration": f"{OPEN_SECONDS}s"}
                    for w, t in (("first", first), ("second", second), ("third", third))
                ],
                "driftCorrection": {"outsideWindows": "Report"},
            },
        }
        await kube.create(CONFIGURATIONS.path(namespace), conf)
        assignment = await eventually(lambda: kube.get_or_none(path), timeout=30)
        assert datetime.now(UTC) < first + timedelta(seconds=OPEN_SECONDS), "assigned too late"
        assert assignment["spec"]["maintenance"]["driftCorrection"] == "Report"

        # Back after the window: it waits for the next one instead of applying.
        await until(first + timedelta(seconds=OPEN_SECONDS, milliseconds=200))
        await agents.start(identity, root=root)

        async def waiting() -> dict[str, Any] | None:
            obj = await kube.get(path)
            ready = condition(obj, "Ready")
            return obj if ready and ready["reason"] == c.WAITING_FOR_WINDOW else None

        held = await eventually(waiting, timeout=30)
        assert held["status"]["nextWindow"] == rfc3339(second)
        assert "outside its Allow windows" in (condition(held, "Ready") or {})["message"]
        assert not motd.exists()

        async def configuration_waits() -> dict[str, Any] | None:
            obj = await kube.get(CONFIGURATIONS.path(namespace, "web"))
            ready = condition(obj, "Ready")
            return obj if ready and ready["reason"] == c.WAITING_FOR_WINDOW else None

        obj = await eventually(configuration_waits, timeout=30)
        assert obj["status"]["nextWindow"] == rfc3339(second)
        assert kstatus.compute(obj).status is kstatus.Status.IN_PROGRESS
        while datetime.now(UTC) < second - timedelta(seconds=0.5):
            assert not motd.exists()
            await asyncio.sleep(0.2)

        # The next window opens: the agent starts by itself (nothing was written to it).
        async def applied() -> bool:
            obj = await kube.get(path)
            ready = condition(obj, "Ready")
            return bool(ready and ready["status"] == "True")

        await eventually(applied, timeout=30)
        assert motd.read_text() == "hi\n"
        assert datetime.now(UTC) < second + timedelta(seconds=OPEN_SECONDS), "applied too late"
        assert (await kube.get(path))["status"].get("nextWindow", "") == ""

        # Outside the windows again, drift is reported and left as it is.
        await until(second + timedelta(seconds=OPEN_SECONDS, milliseconds=200))
        motd.write_text("tampered\n")

        async def drifted() -> dict[str, Any] | None:
            obj = await kube.get(path)
            ready = condition(obj, "Ready")
            return obj if ready and ready["reason"] == c.DRIFT_DETECTED else None

        found = await eventually(drifted, timeout=30)
        assert found["status"]["drifted"] == 1
        while datetime.now(UTC) < third - timedelta(seconds=0.5):
            assert motd.read_text() == "tampered\n"
            await asyncio.sleep(0.2)

        # The third window opens: corrected at its opening.
        async def corrected() -> bool:
            return motd.read_text() == "hi\n"

        await eventually(corrected, timeout=30)

        # The event follows the correction (posted after the file is written): wait for it.
        async def reported() -> list[dict[str, Any]] | None:
            listed = await kube.list(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
            events: list[dict[str, Any]] = listed["items"]
            reasons = {e.get("reason") for e in events}
            return events if {c.WAITING_FOR_WINDOW, c.DRIFT_CORRECTED} <= reasons else None

        events = await eventually(reported, timeout=30)
        notes = [e.get("note", "") for e in events if e.get("reason") == c.DRIFT_DETECTED]
        assert any("not corrected outside the host's maintenance windows" in n for n in notes)
    finally:
        await agents.stop_all()
        await kube.delete(HOSTS.path(name=host))
        await kube.delete(NAMESPACES.path(name=ns))
