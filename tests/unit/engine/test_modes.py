"""Drift checks by mode, and flapping protection."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from transom.api.conditions import DRIFT_CORRECTED, DRIFT_DETECTED, FLAPPING, REBOOT_PENDING
from transom.api.configuration import Mode
from transom.api.resources import Resource
from transom.api.resources.files import FileProperties
from transom.engine.converge import Engine
from transom.engine.drift import DriftMonitor
from transom.engine.flapping import FlapGuard
from transom.engine.provider import Change, Context, SetOutcome
from transom.engine.result import Status

from .helpers import MemoryFiles, doc, file, posix_engine


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


class RebootingFiles(MemoryFiles):
    """Like an OS feature install: the change shows only after a reboot."""

    kind: ClassVar[str] = "File"

    def __init__(self) -> None:
        super().__init__()
        self.staged: dict[str, str] = {}

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        if desired.path != "/feature":
            return super().set(desired, changes, ctx)
        self.sets += 1
        self.staged[desired.path] = desired.content or ""
        return SetOutcome(reboot_required=True, message="feature staged")

    def reboot(self) -> None:
        self.files.update(self.staged)


def test_change_waiting_for_a_reboot_is_not_repeated_and_dependents_wait() -> None:
    provider = RebootingFiles()
    engine = Engine({"File": provider})
    resources = doc(file("feature", "/feature"), file("site", "/s", dependsOn=["feature"]))
    first = engine.apply(resources)
    feature, site = first.results
    assert (feature.status, feature.reason, feature.message) == (
        Status.REBOOT_PENDING,
        REBOOT_PENDING,
        "feature staged",
    )
    assert first.reboot_required and not first.failed
    assert site.skipped and site.message == "skipped: dependency 'feature' waits for a reboot"
    assert site.reason == REBOOT_PENDING
    again = engine.check(resources, Mode.APPLY_AND_AUTO_CORRECT)
    assert again.results[0].status is Status.REBOOT_PENDING
    assert provider.sets == 1
    provider.reboot()
    after = Engine({"File": provider}).apply(resources)  # the agent after the reboot
    assert [r.status for r in after.results] == [Status.OK, Status.CHANGED]
