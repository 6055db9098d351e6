"""A change that needs a reboot: reported, rebooted per policy, re-applied after the reboot."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from transom.api import kstatus
from transom.api.resources.files import FileProperties
from transom.engine.provider import Change, Context, SetOutcome
from transom.providers.posix import posix_providers
from transom.providers.posix.files import FileProvider

from .conftest import Agents, StandIn, eventually, file_resource, host_name

pytestmark = pytest.mark.controlplane


class NeedsReboot(FileProvider):
    """A File whose every change asks for a reboot, like a driver or a system DLL."""

    kind: ClassVar[str] = "File"

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        super().set(desired, changes, ctx)
        return SetOutcome(reboot_required=True, message="takes effect after a reboot")


class FakeRebooter:
    def __init__(self) -> None:
        self.boot = "boot-1"
        self.reasons: list[str] = []

    def boot_id(self) -> str:
        return self.boot

    def reboot(self, reason: str) -> None:
        self.reasons.append(reason)


async def test_reboot_if_needed_then_resume(agents: Agents, standin: StandIn) -> None:
    identity = await agents.enroll(host_name("boot"))
    rebooter = FakeRebooter()
    providers: dict[str, Any] = {**posix_providers(), "File": NeedsReboot()}
    a = await agents.start(identity, providers=providers, rebooter=rebooter)
    await standin.assign(a.host, [file_resource("driver", a.root / "driver.sys", "v1")])

    async def pending() -> bool:
        obj = await standin.assignment(a.host)
        return bool(obj["status"].get("rebootPending"))

    await eventually(pending, timeout=20)  # policy Never: reported, not rebooted
    assert not rebooter.reasons
    spec_patch = {"rebootPolicy": {"mode": "IfNeeded"}}
    obj = await standin.assignment(a.host)
    await standin.kube.patch(
        f"/apis/transom.dev/v1alpha1/namespaces/{obj['metadata']['namespace']}"
        f"/assignments/{obj['metadata']['name']}",
        {"spec": spec_patch},
    )

    async def rebooted() -> bool:
        return bool(rebooter.reasons)

    await eventually(rebooted, timeout=20)
    assert "driver" in rebooter.reasons[0]
    obj = await standin.assignment(a.host)

    # The host comes back: a new boot, a new agent process on the same state directory.
    await a.stop()
    rebooter.boot = "boot-2"
    b = await agents.start(identity, providers=providers, rebooter=rebooter)

    async def cleared() -> bool:
        worker = b.agent.workers.get(obj["metadata"]["name"])
        entry = worker.journal.load() if worker else None
        return entry is not None and entry.reboot is None

    await eventually(cleared, timeout=20)

    async def reported() -> dict[str, Any] | None:
        obj = await standin.assignment(b.host)
        return None if obj["status"].get("rebootPending") else obj

    obj = await eventually(reported, timeout=20)
    assert kstatus.compute(obj).status is kstatus.Status.CURRENT
    assert len(rebooter.reasons) == 1


async def test_after_the_reboot_the_probes_run_before_the_host_is_ready(
    agents: Agents, standin: StandIn
) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    identity = await agents.enroll(host_name("probe"))
    rebooter = FakeRebooter()
    providers: dict[str, Any] = {**posix_providers(), "File": NeedsReboot()}
    a = await agents.start(identity, providers=providers, rebooter=rebooter)
    obj = await standin.assign(a.host, [file_resource("driver", a.root / "driver.sys", "v1")])
    path = (
        f"/apis/transom.dev/v1alpha1/namespaces/{obj['metadata']['namespace']}"
        f"/assignments/{obj['metadata']['name']}"
    )
    readiness = {
        "probes": [{"name": "svc", "tcp": {"host": "127.0.0.1", "port": port}}],
        "periodSeconds": 1,
        "minReadySeconds": 2,
        "progressDeadlineSeconds": 30,
    }
    await standin.kube.patch(
        path, {"spec": {"rebootPolicy": {"mode": "IfNeeded"}, "readiness": readiness}}
    )

    async def rebooted() -> bool:
        return bool(rebooter.reasons)

    await eventually(rebooted, timeout=20)
    await a.stop()
    rebooter.boot = "boot-2"
    b = await agents.start(identity, providers=providers, rebooter=rebooter)

    seen: list[str] = []

    async def ready() -> dict[str, Any] | None:
        obj = await standin.assignment(b.host)
        status = obj.get("status") or {}
        state = (status.get("readiness") or {}).get("state", "")
        if not status.get("rebootPending"):
            seen.append(state)
        if state in ("", "Pending", "Soaking"):
            # Before the reboot and while probing, never Ready.
            assert kstatus.compute(obj).status is not kstatus.Status.CURRENT, status
        done = kstatus.compute(obj).status is kstatus.Status.CURRENT
        return obj if done else None

    async with server:
        obj = await eventually(ready, timeout=30, interval=0.05)
    # Back from the reboot, the host is probed (and soaks) before it counts as Ready.
    assert obj["status"]["readiness"]["state"] == "Ready"
    assert "Pending" in seen or "Soaking" in seen
    assert len(rebooter.reasons) == 1
