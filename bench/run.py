"""`make bench`: run every benchmark module's `run()` and write one table.

Each module exposes ``run() -> list[Row]``; a row is a dict with benchmark, metric, value,
unit and note. Results go to bench/results/latest.md (and .json) with the machine they ran on.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

MODULES: tuple[str, ...] = (
    "bench.engine_bench",
    "bench.drift_bench",
    "bench.footprint_bench",
    "bench.audit_bench",
    "bench.flux_bench",
    "bench.preview_bench",
    "bench.metrics_bench",
    "bench.fleet_bench",  # last: the longest (1,000 and 3,000 hosts by default)
)

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, {platform.platform()}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | metric | value | unit | note |", "|---|---|---|---|---|"]
    for r in rows:
        value = r["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(
            f"| {r['benchmark']} | {r['metric']} | {shown} | {r['unit']} | {r.get('note', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    selected = [m for m in MODULES if not argv or any(a in m for a in argv)]
    if "bench.fleet_bench" in selected:
        # Refuse a bad setting before the other benchmarks have run for half an hour.
        from bench.fleet_bench import SettingError, Settings

        try:
            Settings.from_env(os.environ)
        except SettingError as e:
            print(f"bench: {e}", file=sys.stderr)
            return 2
    rows: list[dict[str, Any]] = []
    for module in selected:
        print(f"==> {module}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        rows += importlib.import_module(module).run()
        print(f"    done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    RESULTS.mkdir(exist_ok=True)
    header = f"Machine: {machine()}\nDate: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
    text = header + "\n" + table(rows) + "\n"
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
