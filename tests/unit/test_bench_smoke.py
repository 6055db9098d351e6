"""The benchmarks, tiny and without peers, so they cannot rot between `make bench` runs.
No timing is asserted: only that each benchmark runs and yields well-formed rows."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

if sys.platform == "win32":  # the benchmark modules use os.geteuid and inotify at import
    pytest.skip("posix only: inotify and /proc", allow_module_level=True)

from bench import drift_bench, engine_bench, footprint_bench, metrics_bench, peers
from bench.workload import Row, make_workload, percentile

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="inotify and /proc are Linux only"
)

KEYS = {"benchmark", "metric", "value", "unit", "note"}


def check(rows: list[Row], zero_allowed: Callable[[Row], bool] = lambda _: False) -> None:
    assert rows
    for r in rows:
        assert set(r) == KEYS, r
        assert isinstance(r["value"], float), r
        assert r["value"] > 0 or (r["value"] == 0 and zero_allowed(r)), r
        assert r["benchmark"] and r["metric"] and r["unit"], r
    metrics = [(r["benchmark"], r["metric"]) for r in rows]
    assert len(metrics) == len(set(metrics)), "one row per metric"


def test_engine_bench_without_peers() -> None:
    rows = engine_bench.run(n=5, runs=3, cli_runs=1, peer=False)
    check(rows)
    assert {r["metric"] for r in rows} >= {
        "engine in-process, median",
        "transom apply, whole process",
        "transom test, whole process",
    }


@pytest.mark.skipif(not peers.cfengine_available(), reason="needs cf-agent (bench/setup.sh)")
def test_cf_agent_alternates_with_transom_apply_on_the_same_files(tmp_path: Path) -> None:
    work = make_workload(tmp_path, 5)
    rows = engine_bench.cf_agent_rows(work, tmp_path / "peers", runs=2)
    check(rows)
    ratio = "ratio cf-agent/transom apply, whole process"
    assert {("no-op check", ratio), ("converge", ratio)} <= {
        (r["benchmark"], r["metric"]) for r in rows
    }
    # The converge rounds end with every file repaired by whichever tool ran last.
    assert [p.read_text() for p in work.files] == list(work.contents)
    # A changed file is repaired by cf-agent as by transom: the policy is the same state.
    work.files[0].write_text("drifted")
    work.files[1].chmod(0o600)
    assert peers.cf_agent(work, peers.cf_agent_workdir(tmp_path / "peers")).changed == 2
    assert work.files[0].read_text() == work.contents[0]
    assert work.files[1].stat().st_mode & 0o777 == 0o644


def test_drift_bench() -> None:
    rows = drift_bench.run(n=5, trials=3)
    check(rows)
    assert [r["unit"] for r in rows] == ["ms"] * 3


def test_footprint_bench() -> None:
    # An idle second may not accrue a single clock tick of CPU: zero is a valid reading there.
    rows = footprint_bench.run(n=5, seconds=1.0, settle=0.1)
    check(rows, zero_allowed=lambda r: r["unit"] == "% of a core")
    assert sum(r["metric"].endswith("idle RSS") for r in rows) == 2


def test_workload_is_the_same_desired_state_for_every_tool(tmp_path: Path) -> None:
    work = make_workload(tmp_path, 3)
    assert [p.read_text() for p in work.files] == list(work.contents)
    for path in work.files:
        assert str(path) in work.document.read_text()
        assert str(path) in work.manifest.read_text()
        assert str(path) in work.playbook.read_text()
        assert str(path) in work.policy.read_text()


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 90) == 3.0


def test_metrics_bench() -> None:
    rows = metrics_bench.run(hosts=20, configurations=3, requests=100, rounds=2)
    check(rows)
    assert {r["metric"] for r in rows} == {
        "API request counted, median",
        "controller scrape, median",
        "controller scrape size",
        "agent scrape, median",
    }
