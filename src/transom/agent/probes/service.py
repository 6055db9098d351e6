"""The service probe: a Windows service running, without a stop, for runningSeconds. The
facade says only whether it runs now, so the probe remembers since when it has seen it run.

It asks the Service Control Manager for the run state alone (SERVICE_QUERY_STATUS): the least
access, and the one query every SCM answers (Wine's cannot read some configuration)."""

from __future__ import annotations

import asyncio
import time

from transom.agent.probes.context import ProbeContext, ProbeError
from transom.api.readiness import ServiceProbe
from transom.providers.windows import facade as f

_STATES = {
    f.SERVICE_STOPPED: "Stopped",
    f.SERVICE_START_PENDING: "StartPending",
    f.SERVICE_STOP_PENDING: "StopPending",
    f.SERVICE_RUNNING: "Running",
    f.SERVICE_CONTINUE_PENDING: "ContinuePending",
    f.SERVICE_PAUSE_PENDING: "PausePending",
    f.SERVICE_PAUSED: "Paused",
}


async def check_service(probe: ServiceProbe, ctx: ProbeContext) -> str:
    if ctx.facade is None:
        raise ProbeError(
            f"service {probe.name}: service probes need Windows (the Service Control Manager)"
        )
    try:
        state = await asyncio.to_thread(ctx.facade.service_state, probe.name)
    except f.WindowsApiError as exc:
        ctx.running_since.pop(probe.name, None)
        if exc.winerror == f.ERROR_SERVICE_DOES_NOT_EXIST:
            # The name the user wrote is the likely mistake (a display name, a typo).
            raise ProbeError(
                f"service {probe.name} is not installed (Win32 error {exc.winerror}; the "
                "probe takes the service name, not its display name)"
            ) from None
        raise ProbeError(f"service {probe.name}: {exc}") from None
    now = time.monotonic()
    if state != f.SERVICE_RUNNING:
        ctx.running_since.pop(probe.name, None)
        raise ProbeError(f"service {probe.name} is {_STATES.get(state, state)}")
    since = ctx.running_since.setdefault(probe.name, now)
    running = now - since
    if running < probe.running_seconds:
        raise ProbeError(
            f"service {probe.name} running for {running:.0f} of {probe.running_seconds} s"
        )
    return f"service {probe.name} running"
