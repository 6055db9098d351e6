"""`transom status --wait` and `--watch` as a user runs them, against the real control plane,
the real controller and a real agent: enrolled with `transom agent enroll`, followed until
Ready or Failed, redrawn in place (coloured) on a terminal, plain when piped."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.conftest import Agents
from transom.agent.enroll import load_identity
from transom.api.wire import API_VERSION
from transom.cli.agent import TOKEN_ENV
from transom.cli.status import HOME
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.kinds import CONFIGURATIONS

pytestmark = pytest.mark.controlplane

TRANSOM = (sys.executable, "-m", "transom.cli.main")
GREEN = "\x1b[32m"


@dataclass
class Fleet:
    host: str
    app: str
    root: Path
    kubeconfig: Path


@pytest.fixture
async def fleet(
    controller: Controller, kube: Kube, controlplane: ControlPlane, tmp_path: Path
) -> AsyncIterator[Fleet]:
    """One host enrolled through the CLI (the controller approves it), its agent running."""
    app = f"st{secrets.token_hex(3)}"
    host = f"{app}-0"
    token = await create_token(kube, [host], labels={"app": app})
    state = tmp_path / "state"
    enroll = await asyncio.create_subprocess_exec(
        *TRANSOM,
        "agent",
        "enroll",
        f"--server={controlplane.url}",
        f"--name={host}",
        f"--ca-file={controlplane.ca.cert}",
        f"--state-dir={state}",
        "--timeout=60",
        env={**os.environ, TOKEN_ENV: token.value},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await enroll.communicate()
    assert enroll.returncode == 0, out.decode()
    agents = Agents(None, controlplane, tmp_path)
    root = tmp_path / "root"
    await agents.start(load_identity(state), root=root)
    yield Fleet(host, app, root, controlplane.kubeconfig)
    await agents.stop_all()


def configuration(fleet: Fleet, namespace: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"app": fleet.app}},
            "resources": resources,
            "rollout": {"maxUnavailable": "100%"},
        },
    }


async def status(fleet: Fleet, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *TRANSOM,
        "status",
        fleet.host,
        f"--kubeconfig={fleet.kubeconfig}",
        "--interval=0.3",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 120) -> tuple[int, str]:
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_wait_follows_a_rollout_to_ready_then_to_failed(
    fleet: Fleet, kube: Kube, namespace: str
) -> None:
    waiting = await status(fleet, "--wait", "--timeout=120")
    assert waiting.stdout is not None
    first = b""
    while b"no assignments" not in first:  # the host, with nothing assigned yet
        line = await asyncio.wait_for(waiting.stdout.readline(), 60)
        assert line, first.decode()
        first += line
    motd = {"name": "motd", "file": {"path": str(fleet.root / "motd"), "content": "hi\n"}}
    await kube.create(CONFIGURATIONS.path(namespace), configuration(fleet, namespace, [motd]))
    code, out = await finish(waiting)
    assert code == 0, out
    assert "Ready" in out and "no assignments" not in out  # a new frame once it changed
    # Piped: no colour, no cursor movement.
    assert "1/1 Ready" in out and "\x1b" not in first.decode() + out
    assert (fleet.root / "motd").read_text() == "hi\n"

    (fleet.root / "plain").write_text("a file, so nothing can be created under it")
    broken = {"name": "under-a-file", "file": {"path": str(fleet.root / "plain" / "x")}}
    current = await kube.get(CONFIGURATIONS.path(namespace, "web"))
    current["spec"]["resources"] = [motd, broken]
    await kube.replace(CONFIGURATIONS.path(namespace, "web"), current)
    code, out = await finish(await status(fleet, "--wait", "--timeout=120"))
    assert code == 1, out
    assert "Failed" in out and "under-a-file" in out


async def read_for(fd: int, until: str, timeout: float) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and until.encode() not in seen:
        with contextlib.suppress(BlockingIOError):
            seen += os.read(fd, 65536)
        await asyncio.sleep(0.05)
    return seen.decode(errors="replace")


def _sigint_as_at_a_terminal() -> None:
    # Ctrl-C at a terminal meets the default disposition; a suite started in the background
    # (`make test &` in a script) passes SIGINT down ignored, and the watch would never see it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.parametrize("no_color", [False, True])
async def test_watch_redraws_in_place_on_a_terminal(
    fleet: Fleet, kube: Kube, namespace: str, no_color: bool
) -> None:
    motd = {"name": "motd", "file": {"path": str(fleet.root / "motd"), "content": "hi\n"}}
    await kube.create(CONFIGURATIONS.path(namespace), configuration(fleet, namespace, [motd]))
    leader, follower = pty.openpty()
    fcntl.fcntl(leader, fcntl.F_SETFL, os.O_NONBLOCK)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm"
    if no_color:
        env["NO_COLOR"] = "1"
    proc = await asyncio.create_subprocess_exec(
        *TRANSOM,
        "status",
        fleet.host,
        f"--kubeconfig={fleet.kubeconfig}",
        "--watch",
        "--interval=0.3",
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        preexec_fn=_sigint_as_at_a_terminal,
    )
    os.close(follower)
    try:
        shown = await read_for(leader, "1/1 Ready", timeout=60)
        shown += await read_for(leader, HOME * 99, timeout=1.0)  # a few more redraws
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
        os.close(leader)
    assert code == 0, shown
    assert "1/1 Ready" in shown and shown.count(HOME) >= 2, shown
    assert "Traceback" not in shown
    assert (GREEN in shown) is not no_color
