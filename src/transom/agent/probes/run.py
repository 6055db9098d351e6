"""One attempt of one probe, whatever its kind, bounded by timeoutSeconds."""

from __future__ import annotations

import asyncio

from transom.agent.probes.command import check_command
from transom.agent.probes.context import ProbeContext, ProbeError
from transom.agent.probes.eventlog import check_event_log
from transom.agent.probes.http import check_http
from transom.agent.probes.service import check_service
from transom.agent.probes.tcp import check_tcp
from transom.api.readiness import (
    CommandProbe,
    EventLogProbe,
    HttpProbe,
    Probe,
    ServiceProbe,
    TcpProbe,
)


async def _check(probe: Probe, ctx: ProbeContext, timeout: float) -> str:
    check = probe.check
    if isinstance(check, HttpProbe):
        return await check_http(check, timeout)
    if isinstance(check, TcpProbe):
        return await check_tcp(check, timeout)
    if isinstance(check, ServiceProbe):
        return await check_service(check, ctx)
    if isinstance(check, CommandProbe):
        return await check_command(check, ctx, timeout)
    if isinstance(check, EventLogProbe):
        return await check_event_log(check, ctx)
    raise AssertionError(f"probe {probe.name}: no runner for {probe.kind}")


async def attempt(probe: Probe, ctx: ProbeContext, timeout: float) -> tuple[bool, str]:
    """(passed, what it found). Never raises for the probe's sake: a probe that cannot run
    fails, with its reason."""
    try:
        async with asyncio.timeout(timeout + 1):  # each runner bounds itself; this is a backstop
            return True, await _check(probe, ctx, timeout)
    except ProbeError as exc:
        return False, str(exc)[:1024]
    except TimeoutError:
        return False, f"no result within {timeout:g} s"
