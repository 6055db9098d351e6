"""Drift in seconds: inotify notices an out-of-band change and the monitor corrects it."""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.engine.helpers import doc, file, posix_engine
from transom.api.conditions import DRIFT_CORRECTED, DRIFT_DETECTED
from transom.api.configuration import Mode
from transom.engine.drift import DriftMonitor
from transom.engine.provider import WatchTarget
from transom.engine.result import RunReport

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only"),
    pytest.mark.timeout(30),
]

if sys.platform.startswith("linux"):
    from transom.providers.posix.inotify import InotifyNotifier


@pytest.fixture
def notifier() -> Iterator[InotifyNotifier]:
    n = InotifyNotifier()
    yield n
    n.close()


def test_notifier_sees_writes_replacements_and_deletions(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    target = WatchTarget("file", str(tmp_path / "f"))
    other = WatchTarget("file", str(tmp_path / "other"))
    (tmp_path / "f").write_text("a")
    notifier.watch([target, other])
    assert notifier.wait(0.05) == set()
    (tmp_path / "f").write_text("b")
    assert notifier.wait(1) == {target}
    (tmp_path / "new").write_text("c")
    (tmp_path / "new").replace(tmp_path / "f")  # an atomic replace makes a new inode
    assert target in notifier.wait(1)
    notifier.watch([target, other])
    (tmp_path / "f").unlink()
    assert notifier.wait(1) == {target}


def test_notifier_sees_a_file_appear_under_a_missing_directory(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    target = WatchTarget("file", str(tmp_path / "a" / "b" / "f"))
    notifier.watch([target])
    (tmp_path / "a").mkdir()
    assert notifier.wait(1) == {target}


def test_tree_target_sees_changes_deep_inside(tmp_path: Path, notifier: InotifyNotifier) -> None:
    (tmp_path / "app" / "conf").mkdir(parents=True)
    (tmp_path / "app" / "conf" / "x.ini").write_text("1")
    tree = WatchTarget("tree", str(tmp_path / "app"))
    notifier.watch([tree])
    (tmp_path / "app" / "conf" / "x.ini").write_text("2")
    assert notifier.wait(1) == {tree}


def _until(predicate: object, timeout: float) -> float:
    """Seconds until predicate() is true; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.005)
    raise AssertionError(f"not within {timeout} s")


def test_auto_correct_fixes_an_out_of_band_change_within_a_second(tmp_path: Path) -> None:
    target = tmp_path / "app.conf"
    resources = doc(file("conf", target, content="desired\n", mode="0644"))
    engine = posix_engine()
    engine.apply(resources)
    reports: queue.Queue[RunReport] = queue.Queue()
    monitor = DriftMonitor(
        engine,
        resources,
        Mode.APPLY_AND_AUTO_CORRECT,
        reports.put,
        notifier=InotifyNotifier(),
        interval=3600,  # only notifications can be what corrects it here
    )
    monitor.start()
    try:
        time.sleep(0.1)
        for _ in range(3):
            target.write_text("edited by hand\n")
            latency = _until(lambda: target.read_text() == "desired\n", 1.0)
            assert latency < 1.0
            report = reports.get(timeout=1)
            while report.results and not report.changed:
                report = reports.get(timeout=1)
            assert report.results[0].reason == DRIFT_CORRECTED
    finally:
        monitor.stop()
    assert not monitor.running


def test_monitor_mode_reports_without_correcting(tmp_path: Path) -> None:
    target = tmp_path / "app.conf"
    resources = doc(file("conf", target, content="desired\n"))
    engine = posix_engine()
    engine.apply(resources)
    reports: queue.Queue[RunReport] = queue.Queue()
    monitor = DriftMonitor(
        engine, resources, Mode.APPLY_AND_MONITOR, reports.put, notifier=InotifyNotifier()
    )
    monitor.start()
    try:
        time.sleep(0.1)
        target.write_text("edited by hand\n")
        report = reports.get(timeout=1)
        assert report.results[0].drifted and report.results[0].reason == DRIFT_DETECTED
        time.sleep(0.2)
        assert target.read_text() == "edited by hand\n"
    finally:
        monitor.stop()


def test_periodic_full_check_catches_drift_without_notifications(tmp_path: Path) -> None:
    target = tmp_path / "app.conf"
    resources = doc(file("conf", target, content="desired\n"))
    engine = posix_engine()
    engine.apply(resources)
    monitor = DriftMonitor(
        engine, resources, Mode.APPLY_AND_AUTO_CORRECT, lambda r: None, interval=0.2
    )
    monitor.start()
    try:
        target.write_text("edited\n")
        _until(lambda: target.read_text() == "desired\n", 2.0)
    finally:
        monitor.stop()
