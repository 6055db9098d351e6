"""A guard against accidental per-resource work: a no-op check of 500 files stays cheap.

The target (bench/) is under 0.1 s in-process; this test allows wide margin for loaded CI
machines and only catches order-of-magnitude regressions.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.unit.engine.helpers import doc, file, posix_engine


@pytest.mark.posix_only("posix file modes and the posix File provider")
def test_no_op_check_of_500_files_is_fast(tmp_path: Path) -> None:
    resources = doc(
        *(
            file(f"f{i}", tmp_path / f"f{i}.conf", content=f"line {i}\n" * 20, mode="0644")
            for i in range(500)
        )
    )
    engine = posix_engine()
    plan = engine.plan(resources)
    assert engine.apply(plan).changed
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        report = engine.apply(plan)
        best = min(best, time.perf_counter() - started)
        assert not report.changed and report.in_desired_state
    assert best < 0.5, f"no-op apply of 500 files took {best:.3f} s"
