"""The eventLog probe: no Error event from a source since the apply finished."""

from __future__ import annotations

import asyncio

from transom.agent.probes.context import ProbeContext, ProbeError
from transom.api.readiness import EventLogProbe
from transom.providers.windows import facade as f

MESSAGE_TAIL = 300


async def check_event_log(probe: EventLogProbe, ctx: ProbeContext) -> str:
    if ctx.facade is None:
        raise ProbeError(f"event log {probe.log}: eventLog probes need Windows (the Event Log)")
    try:
        records = await asyncio.to_thread(ctx.facade.event_log_read, probe.log, ctx.applied_at)
    except f.WindowsApiError as exc:
        raise ProbeError(f"event log {probe.log}: {exc}") from None
    errors = [
        r
        for r in records
        if r.event_type == f.EVENTLOG_ERROR_TYPE and r.source.lower() == probe.source.lower()
    ]
    if errors:
        newest = errors[0]
        raise ProbeError(
            f"{len(errors)} Error event(s) from {probe.source} in {probe.log} since the apply; "
            f"newest: event {newest.event_id}: {newest.message[:MESSAGE_TAIL]}"
        )
    return f"no Error event from {probe.source} in {probe.log} since the apply"
