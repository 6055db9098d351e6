"""Agent footprint: idle RSS and CPU of a process watching N files for drift (bench/agent_idle.py,
no Kubernetes), read from outside through /proc/<pid>/status and /proc/<pid>/stat."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.workload import REPO, Row, make_workload, progress, python_env, row
from transom.engine.drift import DEFAULT_INTERVAL_SECONDS

BENCHMARK = "agent footprint"
AGENT = REPO / "bench" / "agent_idle.py"
#: After the ready line: lets the start-up's garbage and the first watch settle before measuring.
SETTLE_SECONDS = 2.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: (label, extra agent_idle arguments): the agent as it runs, and the engine and monitor alone.
VARIANTS = (("agent", ()), ("engine only", ("--engine-only",)))


def run(n: int = 500, seconds: float = 60.0, settle: float = SETTLE_SECONDS) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="transom-bench-footprint-") as tmp:
        work = make_workload(Path(tmp), n)
        progress(f"agent footprint: {n} files under watch, {seconds:.0f} s idle")
        # Both variants idle over the same window: they are idle, so they do not disturb
        # each other, and the benchmark takes one window instead of two.
        with contextlib.ExitStack() as stack:
            agents = [
                (label, stack.enter_context(_Agent(work.document, Path(tmp) / label, extra)))
                for label, extra in VARIANTS
            ]
            time.sleep(settle)
            before = [(a.cpu_seconds(), time.monotonic()) for _, a in agents]
            _idle(seconds)
            for (label, agent), start in zip(agents, before, strict=True):
                rows += _rows(label, agent, start, n, seconds)
    return rows


class _Agent:
    """bench/agent_idle.py running until the context ends."""

    def __init__(self, document: Path, state_dir: Path, extra: tuple[str, ...]) -> None:
        self.cmd = [sys.executable, str(AGENT), "-f", str(document), "--state-dir", str(state_dir)]
        self.cmd += extra
        self.full_check_cpu = 0.0

    def __enter__(self) -> _Agent:
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=python_env()
        )
        assert self.proc.stdout is not None
        ready = json.loads(self.proc.stdout.readline() or "{}")
        if not ready.get("ready"):
            self.__exit__()
            raise RuntimeError(f"{' '.join(self.cmd)} did not start (exit {self.proc.returncode})")
        self.full_check_cpu = float(ready["fullCheckCpuSeconds"])
        return self

    def __exit__(self, *_: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)


def _rows(
    label: str, agent: _Agent, start: tuple[float, float], n: int, seconds: float
) -> list[Row]:
    cpu0, wall0 = start
    idle_cpu = (agent.cpu_seconds() - cpu0) / (time.monotonic() - wall0) * 100
    pid = agent.proc.pid
    rss, peak = memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM")
    note = f"{n} files watched, inotify, {seconds:.0f} s, no Kubernetes"
    if label == "engine only":
        note += "; without the agent's HTTP and certificate modules"
    periodic = f"idle + one full check ({agent.full_check_cpu * 1000:.0f} ms CPU) every "
    periodic += f"{DEFAULT_INTERVAL_SECONDS:.0f} s"
    return [
        row(BENCHMARK, f"{label}: idle RSS", rss / 1024, "MiB", f"{note}; target < 60 MB"),
        row(BENCHMARK, f"{label}: peak RSS (start-up apply)", peak / 1024, "MiB", note),
        row(BENCHMARK, f"{label}: idle CPU", idle_cpu, "% of a core", f"{note}; target < 0.5"),
        row(
            BENCHMARK,
            f"{label}: CPU with periodic full check",
            idle_cpu + agent.full_check_cpu / DEFAULT_INTERVAL_SECONDS * 100,
            "% of a core",
            periodic,
        ),
    ]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _idle(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 15.0))
        if end - time.monotonic() > 0:
            progress(f"agent footprint: {seconds - max(0.0, end - time.monotonic()):.0f} s")
