"""The agent's drift watch without Kubernetes, for footprint_bench to measure from outside.

`transom agent run` needs an enrolled host and a cluster, so this builds what its worker does
for one Assignment, from the same pieces: the platform's providers and notifier from
transom.agent.service (importing the agent's modules, so their memory counts), one Engine, an
apply, and a DriftMonitor in the document's mode with the agent's default full-check interval.
With --engine-only, the posix providers and inotify are imported directly instead: what the
engine and monitor cost without the agent's HTTP and certificate libraries.

Prints one JSON line when watching ({"ready": true, "fullCheckCpuSeconds": ...}); stops when
its standard input closes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transom.engine.converge import Engine
from transom.engine.document import load_document
from transom.engine.drift import DEFAULT_INTERVAL_SECONDS, DriftMonitor, Notifier
from transom.engine.provider import Provider
from transom.engine.result import RunReport

log = logging.getLogger("agent_idle")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-f", "--file", type=Path, required=True, help="document of resources")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_SECONDS)
    p.add_argument("--engine-only", action="store_true", help="without the agent's modules")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    document = load_document(args.file)
    providers, notifier = _platform(args.state_dir / "cache", args.engine_only)
    engine = Engine(providers)
    plan = engine.plan(document.resources)
    report = engine.apply(plan)
    if report.failed:
        print(f"apply failed: {report.summary()}", file=sys.stderr)
        return 1

    def on_report(report: RunReport) -> None:
        log.warning("drift check: %s", report.summary())

    monitor = DriftMonitor(
        engine,
        plan,
        document.mode,
        on_report,
        notifier=notifier,
        interval=args.interval,
    )
    # One full check's CPU, so the periodic check's share of a core can be worked out.
    started = time.process_time()
    monitor.check_all()
    full_check = time.process_time() - started
    monitor.start()
    print(json.dumps({"ready": True, "fullCheckCpuSeconds": full_check}), flush=True)
    sys.stdin.read()
    monitor.stop()
    return 0


def _platform(
    cache: Path, engine_only: bool
) -> tuple[Mapping[str, Provider[Any]], Notifier | None]:
    # Imported here: which modules get loaded is what the two variants measure.
    if engine_only:
        from transom.providers.posix import posix_providers
        from transom.providers.posix.inotify import InotifyNotifier

        return posix_providers(str(cache)), InotifyNotifier()
    from transom.agent.service import platform_backend

    backend = platform_backend(cache)
    return backend.providers, backend.notifier_factory()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
