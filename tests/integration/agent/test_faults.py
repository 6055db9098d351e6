"""Faults: kill -9 mid-apply, an apiserver restart, a cut-off agent; and the idle API load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from transom.agent.runner import AgentOptions
from transom.api import kstatus, names
from transom.dev.controlplane import ControlPlane
from transom.engine.audit import AuditAction, AuditLog, read_records, verify
from transom.kube.client import ApiError

from .conftest import (
    Agents,
    Proxy,
    StandIn,
    condition,
    eventually,
    file_resource,
    host_name,
)

pytestmark = pytest.mark.controlplane
T = TypeVar("T")


async def retried(call: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    """An admin call that may meet a connection the restarted apiserver dropped."""

    async def attempt() -> T | None:
        try:
            return await call()
        except (OSError, ApiError) as exc:
            raise AssertionError(str(exc)) from exc
        except Exception as exc:  # aiohttp's disconnect errors
            raise AssertionError(repr(exc)) from exc

    return await eventually(attempt, timeout=timeout)


async def converged(standin: StandIn, host: str, generation: int, timeout: float = 30) -> Any:
    async def check() -> dict[str, Any] | None:
        obj = await standin.assignment(host)
        ok = (
            obj["metadata"]["generation"] == generation
            and obj["status"].get("observedGeneration") == generation
            and kstatus.compute(obj).status is kstatus.Status.CURRENT
        )
        return obj if ok else None

    return await retried(check, timeout)


async def test_kill_9_mid_apply_then_restart_converges(
    agents: Agents, standin: StandIn, controlplane: ControlPlane
) -> None:
    identity = await agents.enroll(host_name("kill"))
    host = identity.config.host
    state, root = agents.tmp / host / "state", agents.tmp / host / "root"
    root.mkdir(parents=True)
    runs = root / "runs"
    policy = agents.tmp / host / "policy.json"
    policy.write_text(json.dumps({"pathRoots": [str(root)], "allowScripts": True}))
    resources = [
        file_resource("first", root / "first.txt", "1"),
        {
            "name": "slow",
            "dependsOn": ["first"],
            "command": {
                "test": f"test -f {root}/done",
                "set": f"echo run >> {runs}; sleep 3; touch {root}/done",
                "workingDirectory": str(root),
            },
        },
        {**file_resource("last", root / "last.txt", "3"), "dependsOn": ["slow"]},
    ]
    cmd = [
        sys.executable,
        "-m",
        "transom.cli.main",
        "agent",
        "run",
        f"--state-dir={state}",
        f"--root={root}",
        # The Command runs a script: the host's admin must allow that in a policy file.
        f"--policy={policy}",
        "--renew-interval=1",
    ]
    log = (agents.tmp / "agent.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        await standin.assign(host, resources)

        async def in_progress() -> bool:
            obj = await standin.assignment(host)
            reconciling = condition(obj, "Reconciling")
            return runs.exists() and reconciling is not None and reconciling["status"] == "True"

        await eventually(in_progress, timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

        # Truthful after the crash: still in progress, never a false success.
        await asyncio.sleep(4)
        obj = await standin.assignment(host)
        assert obj["status"]["observedGeneration"] == -1
        assert kstatus.compute(obj).status is kstatus.Status.IN_PROGRESS
        assert not (root / "last.txt").exists()

        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        obj = await converged(standin, host, 1)
        assert (root / "last.txt").read_text() == "3"
        assert {r["name"] for r in obj["status"]["results"] if r["inDesiredState"]} == {
            "first",
            "slow",
            "last",
        }
        # The change the kill interrupted is accounted for in the audit chain, not lost.
        records = list(read_records(state / "audit"))
        recovered = [r for r in records if r.action is AuditAction.RECOVERED]
        assert [r.resource for r in recovered] == ["slow"]
        assert AuditLog(state / "audit").open_intents() == []
        assert verify(state / "audit").ok
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def test_apiserver_restart_then_converges(
    agents: Agents, standin: StandIn, controlplane: ControlPlane
) -> None:
    a = await agents.start(
        await agents.enroll(host_name("apirs")),
        options=AgentOptions(renew_interval_seconds=1.0, backoff_max_seconds=2.0),
    )
    await standin.assign(a.host, [file_resource("f", a.root / "f.txt", "1")])
    await converged(standin, a.host, 1)

    # From this thread: the control plane's processes die with the thread that started them
    # (PR_SET_PDEATHSIG), so a worker thread must not start the new apiserver.
    controlplane.restart_apiserver(1.0)

    await retried(
        lambda: standin.assign(a.host, [file_resource("f", a.root / "f.txt", "2")], generation=2)
    )
    await converged(standin, a.host, 2)
    assert (a.root / "f.txt").read_text() == "2"


async def test_cut_off_agent_keeps_enforcing_and_catches_up(
    agents: Agents, standin: StandIn, controlplane: ControlPlane
) -> None:
    proxy = Proxy(controlplane.apiserver_port)
    await proxy.start()
    identity = await agents.enroll(host_name("cut"))
    a = await agents.start(
        identity,
        options=AgentOptions(renew_interval_seconds=0.5, backoff_max_seconds=1.0),
        server=f"https://127.0.0.1:{proxy.port}",
    )
    target = a.root / "app.conf"
    await standin.assign(a.host, [file_resource("conf", target, "v1\n")])
    await converged(standin, a.host, 1)

    await proxy.cut()
    # Offline: drift is still corrected from the journaled desired state.
    target.write_text("tampered\n")

    async def corrected() -> bool:
        return target.read_text() == "v1\n"

    await eventually(corrected, timeout=10)

    # A new generation while the host is away: the status says so, truthfully.
    await standin.assign(a.host, [file_resource("conf", target, "v2\n")], generation=2)
    await asyncio.sleep(2)
    obj = await standin.assignment(a.host)
    assert obj["status"]["observedGeneration"] == 1
    assert kstatus.compute(obj).status is kstatus.Status.IN_PROGRESS
    assert target.read_text() == "v1\n"
    renewals = a.agent.lease_renewals

    await proxy.start()
    obj = await converged(standin, a.host, 2)
    assert target.read_text() == "v2\n"
    assert a.agent.lease_renewals > renewals
    await proxy.cut()


async def test_idle_api_load_is_only_lease_renewals(agents: Agents, standin: StandIn) -> None:
    a = await agents.start(
        await agents.enroll(host_name("idle")),
        options=AgentOptions(renew_interval_seconds=0.5),
    )
    await standin.assign(a.host, [file_resource("f", a.root / "f.txt", "1")])
    await converged(standin, a.host, 1)
    await asyncio.sleep(1.0)  # the last status write and event settle

    a.kube.requests.clear()
    await asyncio.sleep(5.0)
    lease = f"PUT /apis/coordination.k8s.io/v1/namespaces/{names.host_namespace(a.host)}/leases/"
    requests = dict(a.kube.requests)
    assert set(requests) == {lease + names.LEASE_NAME}, requests
    assert 8 <= requests[lease + names.LEASE_NAME] <= 11


async def test_restart_on_converged_host_writes_nothing(agents: Agents, standin: StandIn) -> None:
    identity = await agents.enroll(host_name("rst"))
    a = await agents.start(identity)
    target = a.root / "f.txt"
    await standin.assign(a.host, [file_resource("f", target, "1")])
    before = await converged(standin, a.host, 1)
    mtime = target.stat().st_mtime_ns
    await a.stop()

    b = await agents.start(identity)
    await b.agent.synced.wait()
    await asyncio.sleep(2.0)
    after = await standin.assignment(b.host)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert target.stat().st_mtime_ns == mtime
    writes = [k for k in b.kube.requests if "/assignments/" in k and not k.startswith("GET")]
    assert not writes, dict(b.kube.requests)
