"""Drift: from an out-of-band change of one watched file to its correction, through the engine's
drift monitor with inotify in ApplyAndAutoCorrect mode, N files under watch.

Each trial changes a different file (so flapping protection never holds a correction back),
alternating a content overwrite and a chmod, and waits for the monitor's report that
corrected it; the file is then checked to be back in its desired state.
"""

from __future__ import annotations

import queue
import statistics
import tempfile
import time
from pathlib import Path

from bench.workload import FILE_MODE, Row, make_workload, percentile, progress, row
from transom.api.configuration import Mode
from transom.engine.converge import Engine
from transom.engine.document import load_document
from transom.engine.drift import DriftMonitor
from transom.engine.result import RunReport, Status
from transom.providers.posix import posix_providers
from transom.providers.posix.inotify import InotifyNotifier

BENCHMARK = "drift"
TIMEOUT_SECONDS = 10.0
#: Lets a correction's own write events reach the monitor before the next trial starts, so
#: each trial times one change only.
QUIET_SECONDS = 0.05


def run(n: int = 500, trials: int = 100) -> list[Row]:
    if trials > n:
        raise ValueError("one file per trial: trials must not exceed n")
    with tempfile.TemporaryDirectory(prefix="transom-bench-drift-") as tmp:
        work = make_workload(Path(tmp), n)
        engine = Engine(posix_providers())
        plan = engine.plan(load_document(work.document).resources)
        reports: queue.Queue[tuple[float, RunReport]] = queue.Queue()
        monitor = DriftMonitor(
            engine,
            plan,
            Mode.APPLY_AND_AUTO_CORRECT,
            lambda report: reports.put((time.perf_counter(), report)),
            notifier=InotifyNotifier(),
        )
        monitor.start()
        progress(f"drift: {trials} trials, {n} files under watch")
        try:
            # The monitor's thread arms its watches as it starts; a change before that is missed.
            time.sleep(0.5)
            latencies = [_trial(i, work.files[i], work.contents[i], reports) for i in range(trials)]
        finally:
            monitor.stop()
    note = f"{trials} trials, {n} files watched, inotify, ApplyAndAutoCorrect"
    return [
        row(BENCHMARK, "change to corrected, p50", statistics.median(latencies) * 1000, "ms", note),
        row(
            BENCHMARK,
            "change to corrected, p99",
            percentile(latencies, 99) * 1000,
            "ms",
            f"{note}; target < 1000 ms",
        ),
        row(BENCHMARK, "change to corrected, max", max(latencies) * 1000, "ms", note),
    ]


def _trial(
    i: int, path: Path, content: str, reports: queue.Queue[tuple[float, RunReport]]
) -> float:
    started = time.perf_counter()
    if i % 2 == 0:
        path.write_text("changed out of band\n")
    else:
        path.chmod(0o600)
    deadline = started + TIMEOUT_SECONDS
    while True:
        try:
            at, report = reports.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            raise RuntimeError(f"{path} not corrected within {TIMEOUT_SECONDS} s") from None
        if any(r.name == path.stem and r.status is Status.CHANGED for r in report.results):
            break
    if path.read_text() != content or path.stat().st_mode & 0o777 != FILE_MODE:
        raise RuntimeError(f"{path} reported corrected but is not in its desired state")
    time.sleep(QUIET_SECONDS)
    while not reports.empty():
        reports.get_nowait()
    if (i + 1) % 20 == 0:
        progress(f"drift: trial {i + 1}, last {(at - started) * 1000:.1f} ms")
    return at - started
