"""Drift checks by mode, and flapping protection."""

from __future__ import annotations

from pathlib import Path

from transom.api.conditions import DRIFT_CORRECTED, DRIFT_DETECTED, FLAPPING
from transom.api.configuration import Mode
from transom.api.resources import Resource
from transom.engine.converge import Engine
from transom.engine.drift import DriftMonitor
from transom.engine.flapping import FlapGuard
from transom.engine.result import Status

from .helpers import doc, file, posix_engine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _drifted(tmp_path: Path) -> tuple[Engine, Path, list[Resource]]:
    engine = posix_engine()
    resources = doc(file("f", tmp_path / "f", content="desired"), file("g", tmp_path / "g"))
    engine.apply(resources)
    (tmp_path / "f").write_text("tampered")
    return engine, tmp_path / "f", resources


def test_monitor_mode_reports_drift_and_leaves_it(tmp_path: Path) -> None:
    engine, path, resources = _drifted(tmp_path)
    report = engine.check(resources, Mode.APPLY_AND_MONITOR)
    f, g = report.results
    assert (f.status, f.drifted, f.reason, f.changed) == (
        Status.DRIFTED,
        True,
        DRIFT_DETECTED,
        False,
    )
    assert g.status is Status.OK and not g.drifted
    assert path.read_text() == "tampered"
    assert report.drift_check


def test_auto_correct_mode_corrects_and_says_so(tmp_path: Path) -> None:
    engine, path, resources = _drifted(tmp_path)
    report = engine.check(resources, Mode.APPLY_AND_AUTO_CORRECT)
    f = report.results[0]
    assert (f.status, f.drifted, f.reason, f.changed) == (
        Status.CHANGED,
        True,
        DRIFT_CORRECTED,
        True,
    )
    assert path.read_text() == "desired"


def test_check_can_be_limited_to_named_resources(tmp_path: Path) -> None:
    engine, _, resources = _drifted(tmp_path)
    report = engine.check(resources, Mode.APPLY_AND_AUTO_CORRECT, only={"g"})
    assert [r.name for r in report.results] == ["g"]


def test_apply_only_mode_does_not_monitor(tmp_path: Path) -> None:
    engine, _, resources = _drifted(tmp_path)
    monitor = DriftMonitor(engine, resources, Mode.APPLY_ONLY, lambda r: None)
    monitor.start()
    assert not monitor.running


def test_flapping_resource_is_backed_off_then_resumed(tmp_path: Path) -> None:
    clock = Clock()
    guard = FlapGuard(max_corrections=3, window=60, backoff=120, clock=clock)
    engine = posix_engine(flap_guard=guard)
    resources = doc(file("f", tmp_path / "f", content="desired"))
    engine.apply(resources)
    statuses = []
    for _ in range(6):
        (tmp_path / "f").write_text("someone else's")  # the other party fights back
        clock.now += 1
        statuses.append(engine.check(resources, Mode.APPLY_AND_AUTO_CORRECT).results[0])
    assert [s.status for s in statuses] == [Status.CHANGED] * 4 + [Status.FLAPPING] * 2
    assert statuses[-1].reason == FLAPPING
    assert "corrected more than 3 times in 1 min" in statuses[-1].message
    assert (tmp_path / "f").read_text() == "someone else's"
    clock.now += 121
    resumed = engine.check(resources, Mode.APPLY_AND_AUTO_CORRECT).results[0]
    assert resumed.status is Status.CHANGED
    assert (tmp_path / "f").read_text() == "desired"


def test_corrections_spread_beyond_the_window_are_not_flapping() -> None:
    clock = Clock()
    guard = FlapGuard(max_corrections=2, window=60, clock=clock)
    for _ in range(10):
        guard.record("k")
        clock.now += 31
        assert guard.flapping("k") is None


def test_explicit_apply_does_not_count_as_correction(tmp_path: Path) -> None:
    guard = FlapGuard(max_corrections=1, window=60)
    engine = posix_engine(flap_guard=guard)
    resources = doc(file("f", tmp_path / "f", content="desired"))
    for _ in range(3):
        (tmp_path / "f").write_text("other")
        assert engine.apply(resources).results[0].status is Status.CHANGED
