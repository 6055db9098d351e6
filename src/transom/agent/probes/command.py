"""The command probe: a program that exits 0. It runs code, so only where the host policy
allows scripts; the path is absolute and there is no shell, so nothing is looked up on a
search path and no argument is interpreted."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from transom.agent.probes.context import ProbeContext, ProbeError
from transom.api.readiness import CommandProbe
from transom.engine.policy import DENIED_PREFIX
from transom.providers.children import run_tracked

OUTPUT_TAIL = 300


def _run(probe: CommandProbe, timeout: float) -> subprocess.CompletedProcess[str]:
    return run_tracked([probe.path, *probe.args], f"probe {probe.path}", timeout=timeout)


async def check_command(probe: CommandProbe, ctx: ProbeContext, timeout: float) -> str:
    if not ctx.policy.allow_scripts:
        raise ProbeError(f"{DENIED_PREFIX}command probes run code and scripts are off on this host")
    if not Path(probe.path).is_absolute():  # the model's pattern allows both flavours: this host's
        raise ProbeError(f"command {probe.path}: not an absolute path on this host")
    try:
        done = await asyncio.to_thread(_run, probe, timeout)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"command {probe.path}: still running after {timeout:g} s") from None
    except OSError as exc:
        raise ProbeError(f"command {probe.path}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-OUTPUT_TAIL:]
        raise ProbeError(
            f"command {probe.path} exited {done.returncode}" + (f": {tail}" if tail else "")
        )
    return f"command {probe.path} exited 0"
