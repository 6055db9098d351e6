"""Drift on Windows: an out-of-band change reaches the engine through the notifier in well
under a second, and is corrected (ApplyAndAutoCorrect) or only reported (ApplyAndMonitor)."""

from __future__ import annotations

import queue
import time

from transom.api.configuration import Mode
from transom.engine.drift import DriftMonitor
from transom.engine.result import RunReport
from transom.providers.windows import facade as f
from transom.providers.windows.notify import WindowsNotifier
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import doc, engine

KEY = "SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.0\\Server"
ITEMS = (
    {
        "name": "tls10-off",
        "registryValue": {"key": KEY, "valueName": "Enabled", "type": "REG_DWORD", "number": 0},
    },
    {"name": "w3svc", "service": {"name": "W3SVC", "state": "Running"}},
)


def _monitor(sim: SimulatedFacade, mode: Mode, reports: queue.Queue[RunReport]) -> DriftMonitor:
    sim.add_service("W3SVC", f.ServiceConfig("svchost.exe -k iissvcs", f.SERVICE_AUTO_START))
    eng = engine(sim)
    assert eng.apply(doc(*ITEMS)).in_desired_state
    return DriftMonitor(
        eng, doc(*ITEMS), mode, reports.put, notifier=WindowsNotifier(sim), interval=3600
    )  # only a notification can trigger the check here


def test_registry_and_service_drift_corrected_in_well_under_a_second(
    sim: SimulatedFacade,
) -> None:
    reports: queue.Queue[RunReport] = queue.Queue()
    monitor = _monitor(sim, Mode.APPLY_AND_AUTO_CORRECT, reports)
    monitor.start()
    try:
        time.sleep(0.1)
        started = time.monotonic()
        sim.reg_set_value("HKLM", KEY, "Enabled", 64, value_type=f.REG_DWORD, data=1)
        report = reports.get(timeout=2)
        assert time.monotonic() - started < 1.0
        assert [r.name for r in report.results if r.changed] == ["tls10-off"]
        assert sim.reg_query_value("HKLM", KEY, "Enabled", 64) == (0, f.REG_DWORD)

        sim.service_stop("W3SVC")
        report = reports.get(timeout=2)
        while not any(r.changed for r in report.results):
            report = reports.get(timeout=2)
        assert [r.name for r in report.results if r.changed] == ["w3svc"]
        assert sim.service_query("W3SVC")[1] == f.SERVICE_RUNNING
    finally:
        monitor.stop()


def test_monitor_mode_only_reports(sim: SimulatedFacade) -> None:
    reports: queue.Queue[RunReport] = queue.Queue()
    monitor = _monitor(sim, Mode.APPLY_AND_MONITOR, reports)
    monitor.start()
    try:
        time.sleep(0.1)
        sim.reg_set_value("HKLM", KEY, "Enabled", 64, value_type=f.REG_DWORD, data=1)
        report = reports.get(timeout=2)
        assert report.results[0].drifted and not report.results[0].changed
        assert sim.reg_query_value("HKLM", KEY, "Enabled", 64) == (1, f.REG_DWORD)
    finally:
        monitor.stop()
