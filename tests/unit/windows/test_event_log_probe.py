"""The eventLog readiness probe against the facade's Event Log reader: the simulated one
everywhere, the real one (ReadEventLog through pywin32) in the Windows lane and on a Windows
runner with TRANSOM_FACADE=win32. Wine 8 keeps no Event Log records by any API (ReportEvent
succeeds and stores nothing, GetNumberOfEventLogRecords says 0, ReadEventLog ends at once,
wevtapi's EvtQuery and EvtOpenLog return no handle), so the lane skips the test that needs one,
saying so."""

from __future__ import annotations

import time
import uuid

import pytest

from transom.agent.probes.context import ProbeContext
from transom.agent.probes.run import attempt
from transom.api.readiness import Probe
from transom.engine.policy import HostPolicy
from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade


def report_error(facade: f.WindowsFacade, source: str, event_id: int, text: str) -> None:
    if isinstance(facade, SimulatedFacade):
        record = f.EventRecord(source, f.EVENTLOG_ERROR_TYPE, event_id, time.time(), text)
        facade.add_event("Application", record)
        return
    import win32evtlog  # pywin32 exists only on Windows
    import win32evtlogutil

    win32evtlogutil.ReportEvent(
        source, event_id, eventType=win32evtlog.EVENTLOG_ERROR_TYPE, strings=[text]
    )


@pytest.mark.wine_lacks(
    "Event Log records: Wine 8's ReportEvent stores none; ReadEventLog and EvtQuery find none"
)
async def test_an_error_from_the_source_after_the_apply_fails_the_probe(
    facade: f.WindowsFacade,
) -> None:
    source = f"TransomProbe{uuid.uuid4().hex[:8]}"
    check = Probe.model_validate({"name": "p", "eventLog": {"source": source}})
    session = ProbeContext(HostPolicy(), facade, applied_at=time.time() - 1)

    ok, message = await attempt(check, session, 1)
    assert ok, message
    report_error(facade, source, 1026, "unhandled exception")
    ok, message = await attempt(check, session, 1)
    assert not ok and "event 1026: unhandled exception" in message, message


async def test_a_source_with_no_error_since_the_apply_passes(facade: f.WindowsFacade) -> None:
    """Runs on every facade: on a Windows runner the reader walks the real Application log back
    to the apply (other sources' records, older records); under Wine it reads an empty log."""
    source = f"TransomProbe{uuid.uuid4().hex[:8]}"
    session = ProbeContext(HostPolicy(), facade, applied_at=time.time() - 1)
    if isinstance(facade, SimulatedFacade):  # another source's error since the apply
        record = f.EventRecord("Other", f.EVENTLOG_ERROR_TYPE, 7, time.time(), "not ours")
        facade.add_event("Application", record)
    check = Probe.model_validate({"name": "p", "eventLog": {"source": source}})
    assert await attempt(check, session, 5) == (
        True,
        f"no Error event from {source} in Application since the apply",
    )
