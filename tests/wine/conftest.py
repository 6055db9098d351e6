"""The Linux side of the Windows lane: tests that start Windows CPython under Wine
(tools/wine/python.sh) — the agent process itself, the CLI — against the real control plane
these fixtures start on loopback. Skipped, with the reason, where the lane is not set up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.agent.conftest import StandIn
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "wine"
PYTHON = TOOLS / "python.sh"


def windows_path(path: Path) -> str:
    """The path as Windows CPython under Wine names it (Wine maps Z: to /)."""
    return "Z:" + str(path).replace("/", "\\")


class WindowsHost:
    """One Wine prefix: a Windows machine for the length of a test."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.env = {**os.environ, "TRANSOM_WINE_PREFIX": str(prefix)}

    def linux_path(self, windows: str) -> Path:
        """Where a C:\\ path of this machine lives on Linux."""
        assert windows[:3].upper() == "C:\\", windows
        return self.prefix / "drive_c" / windows[3:].replace("\\", "/")

    async def run(self, *args: str, timeout: float = 300, **env: str) -> tuple[int, str]:
        """Run Windows CPython to completion: its exit code and output (stdout, then stderr)."""
        proc = await asyncio.create_subprocess_exec(
            str(PYTHON),
            *args,
            env={**self.env, **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        assert proc.returncode is not None
        return proc.returncode, (out + err).decode(errors="replace")

    async def python(self, *args: str, timeout: float = 300, **env: str) -> str:
        """Run Windows CPython to completion; its output, or a failure showing it."""
        code, text = await self.run(*args, timeout=timeout, **env)
        assert code == 0, f"exit {code}: {text}"
        return text

    async def start(self, *args: str, log: Path, **env: str) -> asyncio.subprocess.Process:
        """Start a long-running Windows process (its own process group, output to log)."""
        with log.open("wb") as out:
            return await asyncio.create_subprocess_exec(
                str(PYTHON),
                *args,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @staticmethod
    async def stop(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


@pytest.fixture
def windows() -> Iterator[WindowsHost]:
    made = subprocess.run(
        [str(TOOLS / "prefix.sh"), "new"], capture_output=True, text=True, check=False
    )
    if made.returncode == 3:
        pytest.skip("Windows lane not set up: run `make wine` (tools/wine/setup.sh)")
    assert made.returncode == 0, made.stderr
    prefix = Path(made.stdout.strip())
    try:
        yield WindowsHost(prefix)
    finally:
        subprocess.run([str(TOOLS / "prefix.sh"), "rm", str(prefix)], check=False)


@pytest.fixture
async def standin(kube: Kube, controlplane: ControlPlane) -> AsyncIterator[StandIn]:
    s = StandIn(kube, controlplane)
    await s.start()
    yield s
    await s.stop()
