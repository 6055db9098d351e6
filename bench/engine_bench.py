"""No-op consistency check of N File resources already in their desired state: the engine
in-process, `transom apply` / `transom test` as whole processes, and the peers (`puppet apply`,
`cf-agent`, `ansible-playbook`) on the same files, with ratios. cf-agent and `transom apply`
run alternately in one loop, so both see the same machine load.

TRANSOM_BENCH_SKIP_ANSIBLE=1 leaves ansible-playbook out (one run takes minutes).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import peers
from bench.workload import (
    Row,
    Workload,
    load_average,
    make_workload,
    percentile,
    progress,
    python_env,
    row,
    transom_command,
)
from transom.engine.converge import Engine
from transom.engine.document import load_document
from transom.providers.posix import posix_providers

BENCHMARK = "no-op check"


def run(
    n: int = 500,
    runs: int = 20,
    cli_runs: int = 10,
    puppet_runs: int = 5,
    *,
    cf_runs: int = 20,
    peer: bool = True,
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="transom-bench-noop-") as tmp:
        work = make_workload(Path(tmp), n)
        times = in_process(work, runs)
        note = f"{n} files, {runs} runs; target < 0.1 s"
        rows = [
            row(BENCHMARK, "engine in-process, median", statistics.median(times), "s", note),
            row(BENCHMARK, "engine in-process, p90", percentile(times, 90), "s", note),
        ]
        whole = {action: whole_process(work, action, cli_runs) for action in ("apply", "test")}
        for action, (wall, cpu) in whole.items():
            note = f"median of {cli_runs}; {load_average()}; target < 1 s"
            rows.append(row(BENCHMARK, f"transom {action}, whole process", wall, "s", note))
            note = f"user + system, median of {cli_runs}"
            rows.append(row(BENCHMARK, f"transom {action}, whole process CPU", cpu, "s", note))
        if peer:
            transom = Transom(statistics.median(times), *whole["apply"])
            rows += cf_agent_rows(work, Path(tmp) / "peers", cf_runs)
            rows += peer_rows(work, Path(tmp) / "peers", transom, puppet_runs)
        return rows


@dataclass(frozen=True)
class Transom:
    """Transom's figures the peers are divided by."""

    in_process: float
    wall: float
    cpu: float


def in_process(work: Workload, runs: int) -> list[float]:
    """Seconds of each Engine.apply on a prepared plan, as the agent's periodic check runs it."""
    progress(f"engine in-process: {runs} runs over {len(work.files)} files")
    engine = Engine(posix_providers())
    plan = engine.plan(load_document(work.document).resources)
    _no_op(engine.apply(plan).summary(), len(work.files))  # warms caches, proves the no-op
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        report = engine.apply(plan)
        times.append(time.perf_counter() - started)
        _no_op(report.summary(), len(work.files))
    return times


def whole_process(work: Workload, action: str, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `transom <action> -f DOC`, from exec to exit."""
    progress(f"transom {action}: {runs} whole-process runs")
    cmd = [*transom_command(), action, "-f", str(work.document)]
    env = python_env()
    _cli(cmd, env, len(work.files))  # compiles bytecode once, as an install does
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        wall, cpu = _cli(cmd, env, len(work.files))
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def cf_agent_rows(work: Workload, state: Path, runs: int) -> list[Row]:
    """`cf-agent` and `transom apply` on the same files, alternating (which goes first swaps
    each round), so a change of machine load falls on both alike: a no-op check of files in
    their desired state, then a converge of files whose content and mode were changed."""
    if not peers.cfengine_available():
        progress("cf-agent missing (bench/setup.sh installs cfengine3): skipped")
        return []
    workdir = peers.cf_agent_workdir(state)
    peers.cf_agent(work, workdir)  # the first run creates cf-agent's state databases
    rows: list[Row] = []
    for mode in (NO_OP, CONVERGE):
        progress(f"cf-agent and transom apply, {mode}: {runs} alternating rounds")
        rows += _alternating(work, workdir, runs, mode)
    return rows


NO_OP = "no-op"
CONVERGE = "converge"


def _alternating(work: Workload, workdir: Path, runs: int, mode: str) -> list[Row]:
    cmd = [*transom_command(), "apply", "-f", str(work.document)]
    env = python_env()
    n = len(work.files)
    converge = mode == CONVERGE
    expect = "changed" if converge else "ok"

    def cf() -> tuple[float, float]:
        result = peers.cf_agent(work, workdir)
        if bool(result.changed) != converge:
            raise RuntimeError(f"cf-agent {mode}: expected repairs {converge}, {result.changed}")
        return result.wall_seconds, result.cpu_seconds

    def transom() -> tuple[float, float]:
        return _cli(cmd, env, n, expect)

    _cli(cmd, env, n)  # compiles bytecode once, as an install does
    t_wall: list[float] = []
    t_cpu: list[float] = []
    c_wall: list[float] = []
    c_cpu: list[float] = []
    loads: list[float] = []
    for i in range(runs):
        loads.append(os.getloadavg()[0])
        order = (True, False) if i % 2 == 0 else (False, True)
        for transom_turn in order:
            if converge:
                drift(work)
            wall, cpu = transom() if transom_turn else cf()
            (t_wall if transom_turn else c_wall).append(wall)
            (t_cpu if transom_turn else c_cpu).append(cpu)
    tw, cw = statistics.median(t_wall), statistics.median(c_wall)
    tc, cc = statistics.median(t_cpu), statistics.median(c_cpu)
    what = "no-op check" if not converge else f"converge of {n} changed files"
    note = f"{what}; median of {runs}, alternating; load {min(loads):.1f}-{max(loads):.1f}"
    bench = BENCHMARK if not converge else "converge"
    return [
        row(bench, "cf-agent, whole process", cw, "s", note),
        row(bench, "cf-agent, whole process CPU", cc, "s", note),
        row(bench, "transom apply beside cf-agent, whole process", tw, "s", note),
        row(bench, "transom apply beside cf-agent, CPU", tc, "s", note),
        row(
            bench,
            "ratio cf-agent/transom apply, whole process",
            cw / tw,
            "x",
            f"{note}; target >= 1x",
        ),
        row(bench, "ratio cf-agent/transom apply, whole process CPU", cc / tc, "x", note),
    ]


def drift(work: Workload) -> None:
    """Every file out of its desired state, in content and in mode, for a converge run."""
    for path in work.files:
        path.write_text("changed out of band\n")
        path.chmod(0o600)


def peer_rows(work: Workload, state: Path, transom: Transom, puppet_runs: int) -> list[Row]:
    rows: list[Row] = []
    if peers.puppet_available():
        progress(f"puppet apply: 1 warm-up and {puppet_runs} runs")
        peers.puppet_apply(work, state / "puppet")  # first run writes Puppet's state dirs
        results = []
        for i in range(puppet_runs):
            results.append(peers.puppet_apply(work, state / "puppet"))
            progress(f"puppet apply {i + 1}/{puppet_runs}: {results[-1].wall_seconds:.1f} s")
        p_wall = statistics.median(r.wall_seconds for r in results)
        p_cpu = statistics.median(r.cpu_seconds for r in results)
        catalog = statistics.median(r.reported_seconds or 0.0 for r in results)
        note = f"median of {puppet_runs}; changed {max(r.changed for r in results)}"
        rows += [
            row(BENCHMARK, "puppet apply, whole process", p_wall, "s", f"{note}; {load_average()}"),
            row(BENCHMARK, "puppet apply, whole process CPU", p_cpu, "s", note),
            row(BENCHMARK, "puppet apply, 'Applied catalog in'", catalog, "s", note),
            row(
                BENCHMARK,
                "ratio puppet/transom apply, whole process",
                p_wall / transom.wall,
                "x",
                "target >= 3x",
            ),
            row(
                BENCHMARK, "ratio puppet/transom apply, whole process CPU", p_cpu / transom.cpu, "x"
            ),
            row(
                BENCHMARK,
                "ratio puppet 'Applied catalog'/engine in-process",
                catalog / transom.in_process,
                "x",
            ),
        ]
    else:
        progress("puppet missing (bench/setup.sh installs it): skipped")
    if os.environ.get("TRANSOM_BENCH_SKIP_ANSIBLE") == "1":
        progress("ansible-playbook skipped (TRANSOM_BENCH_SKIP_ANSIBLE=1)")
    elif peers.ansible_available():
        progress(f"ansible-playbook: 1 run over {len(work.files)} files (minutes)")
        a = peers.ansible_playbook(work, state / "ansible")
        note = f"1 run, copy loop, connection local; changed {a.changed}; {load_average()}"
        rows += [
            row(BENCHMARK, "ansible-playbook, whole process", a.wall_seconds, "s", note),
            row(BENCHMARK, "ansible-playbook, whole process CPU", a.cpu_seconds, "s", "1 run"),
            row(
                BENCHMARK,
                "ratio ansible/transom apply, whole process",
                a.wall_seconds / transom.wall,
                "x",
            ),
            row(
                BENCHMARK,
                "ratio ansible/transom apply, whole process CPU",
                a.cpu_seconds / transom.cpu,
                "x",
            ),
        ]
    else:
        progress(f"ansible-playbook missing in {peers.ANSIBLE_VENV} (bench/setup.sh): skipped")
    return rows


def _cli(cmd: list[str], env: dict[str, str], n: int, expect: str = "ok") -> tuple[float, float]:
    """Run one `transom` command that must find all ``n`` resources ``expect`` (ok: a no-op;
    changed: a converge): its wall and CPU (user + system) seconds."""
    before = peers.children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    cpu = peers.children_cpu() - before
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    _all(proc.stdout.strip().splitlines()[-1], n, expect)
    return wall, cpu


def _no_op(summary: str, n: int) -> None:
    _all(summary, n, "ok")


def _all(summary: str, n: int, expect: str) -> None:
    """Every resource ``expect``: anything else means the benchmark measured something else."""
    if f"{n} resources: {n} {expect}" not in summary:
        raise RuntimeError(f"expected {n} resources {expect}, got: {summary}")
