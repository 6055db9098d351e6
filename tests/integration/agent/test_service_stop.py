"""The agent process as a service manager stops it (SIGTERM; the Windows service's stop sets
the same event): the resource in progress finishes, nothing starts after it, the last records
are signed in a final checkpoint that reaches Host status, and the Lease is released. And a
restarted agent ends the change process a killed one left running before running it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from transom.api import names
from transom.engine.audit import AuditAction, AuditLog, load_checkpoints, read_records
from transom.kube.kinds import HOSTS, LEASES

from .conftest import Agents, StandIn, condition, eventually, file_resource, host_name

pytestmark = pytest.mark.controlplane


def agent_command(state: Path, root: Path, policy: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "transom.cli.main",
        "agent",
        "run",
        f"--state-dir={state}",
        f"--root={root}",
        f"--policy={policy}",
        "--renew-interval=1",
    ]


def scripts_policy(tmp: Path, root: Path) -> Path:
    policy = tmp / "policy.yaml"
    policy.write_text(f"allowScripts: true\npathRoots: [{str(root)!r}]\n")
    return policy


def slow_chain(root: Path, seconds: int) -> list[dict[str, Any]]:
    runs = root / "runs"
    return [
        file_resource("first", root / "first.txt", "1"),
        {
            "name": "slow",
            "dependsOn": ["first"],
            "command": {
                "test": f"test -f {root}/done",
                "set": f"echo $$ >> {runs}; sleep {seconds}; touch {root}/done",
                "workingDirectory": str(root),
            },
        },
        {**file_resource("last", root / "last.txt", "3"), "dependsOn": ["slow"]},
    ]


async def slow_started(standin: StandIn, host: str, root: Path) -> None:
    async def started() -> bool:
        obj = await standin.assignment(host)
        reconciling = condition(obj, "Reconciling")
        return (root / "runs").exists() and reconciling is not None

    await eventually(started, timeout=30)


async def test_sigterm_mid_change_finishes_it_checkpoints_and_releases_the_lease(
    agents: Agents, standin: StandIn
) -> None:
    identity = await agents.enroll(host_name("stop"))
    host = identity.config.host
    state, root = agents.tmp / host / "state", agents.tmp / host / "root"
    root.mkdir(parents=True)
    log = (agents.tmp / "agent.log").open("wb")
    command = agent_command(state, root, scripts_policy(agents.tmp, root))
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        await standin.assign(host, slow_chain(root, 3))
        await slow_started(standin, host, root)
        assert not (root / "done").exists()
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
        took = time.monotonic() - stopped_at
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (agents.tmp / "agent.log").read_text()
    assert code == 0, output
    # The change in progress finished; the one after it never started.
    assert (root / "done").exists()
    assert not (root / "last.txt").exists()
    assert took < 30, output
    # Every record is accounted for and signed; the hub got that checkpoint.
    audit = state / "audit"
    assert AuditLog(audit).open_intents() == []
    records = list(read_records(audit))
    slow = [r for r in records if r.resource == "slow" and r.action is AuditAction.SET]
    assert [r.result.value for r in slow] == ["succeeded"]
    final = load_checkpoints(audit / "checkpoints.jsonl")[-1]
    assert final.sequence == records[-1].seq
    host_obj = await standin.kube.get(HOSTS.path(name=host))
    assert host_obj["status"]["auditCheckpoint"]["sequence"] == final.sequence
    # Released as client-go's leader election does: the hub sees the host stop now.
    lease = await standin.kube.get(LEASES.path(names.host_namespace(host), names.LEASE_NAME))
    assert lease["spec"]["holderIdentity"] == ""
    assert lease["spec"]["leaseDurationSeconds"] == 1

    # The next start runs what the stop left: "last", and not "slow" again.
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await eventually(lambda: _exists(root / "last.txt"), timeout=60)
        assert len((root / "runs").read_text().split()) == 1
    finally:
        proc.terminate()
        proc.wait(60)


async def test_restart_ends_the_change_process_a_killed_agent_left_running(
    agents: Agents, standin: StandIn
) -> None:
    identity = await agents.enroll(host_name("reap"))
    host = identity.config.host
    state, root = agents.tmp / host / "state", agents.tmp / host / "root"
    root.mkdir(parents=True)
    command = agent_command(state, root, scripts_policy(agents.tmp, root))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await standin.assign(host, slow_chain(root, 20))
        await slow_started(standin, host, root)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # The shell the killed agent started runs on, in its own group.
        shell = int((root / "runs").read_text().split()[0])
        os.kill(shell, 0)
        assert list((state / "children").glob("*.json"))

        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await eventually(lambda: _gone(shell), timeout=30)
        # It ran again from the start, once: the leftover did not finish it, nor run twice.
        await eventually(lambda: _runs(root, 2), timeout=30)
        assert not (root / "done").exists()
    finally:
        proc.kill()
        proc.wait()
        for pid in (root / "runs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


async def _exists(path: Path) -> bool:
    return path.exists()


async def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def _runs(root: Path, n: int) -> bool:
    return len((root / "runs").read_text().split()) == n
