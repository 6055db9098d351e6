"""The audit benchmarks, tiny, so they cannot rot between `make bench` runs."""

from __future__ import annotations

from bench import audit_bench


def test_audit_bench_rows() -> None:
    rows = audit_bench.run(changes=5, rounds=3, records=200)
    assert [(r["benchmark"], r["metric"]) for r in rows] == [
        ("audit append", "overhead per change (median)"),
        ("audit append", "overhead per change (p95)"),
        ("audit checkpoint", "sign and store (median)"),
        ("audit verify", "verification speed"),
    ]
    for r in rows:
        assert set(r) == {"benchmark", "metric", "value", "unit", "note"}
        assert isinstance(r["value"], float) and r["value"] > 0
