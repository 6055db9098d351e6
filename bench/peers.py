"""Running the peers on a Workload: `puppet apply` (Debian's puppet), `cf-agent` (Debian's
cfengine3) and `ansible-playbook` (ansible-core in its own venv). bench/setup.sh installs
them."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.workload import Workload, progress

ANSIBLE_VENV = Path(
    os.environ.get(
        "TRANSOM_BENCH_ANSIBLE_VENV", Path.home() / ".cache" / "transom" / "bench-ansible"
    )
)
_APPLIED = re.compile(r"Applied catalog in ([0-9.]+) seconds")
# A Puppet resource that changed is reported as a notice naming its path in the catalog.
_PUPPET_CHANGE = re.compile(r"^Notice: /Stage\[", re.MULTILINE)
# cf-agent -I reports each promise it repaired as an info line (and, first, the -w it got).
_CF_REPAIRED = re.compile(r"^\s*info: (?!Setting workdir)", re.MULTILINE)
_ANSIBLE_ITEM = re.compile(r"^(ok|changed|failed): \[localhost\] => \(item=", re.MULTILINE)
_ANSIBLE_RECAP = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)")


@dataclass(frozen=True)
class PeerRun:
    wall_seconds: float
    cpu_seconds: float  # user + system of the process and its children
    changed: int
    #: The tool's own figure for the run itself, when it prints one (Puppet's catalog time).
    reported_seconds: float | None = None


def puppet_available() -> bool:
    return shutil.which("puppet") is not None


def cfengine_available() -> bool:
    return shutil.which("cf-agent") is not None and shutil.which("cf-promises") is not None


def cf_agent_workdir(state: Path) -> Path:
    """A CFEngine work directory of the benchmark's own, so the machine's /var/lib/cfengine3
    is neither used nor changed: cf-promises where cf-agent looks for it (it validates the
    policy before every run) and a key pair (it refuses to run without one)."""
    work = state / "cfengine"
    (work / "bin").mkdir(parents=True, exist_ok=True)
    promises = work / "bin" / "cf-promises"
    if not promises.exists():
        promises.symlink_to(shutil.which("cf-promises") or "cf-promises")
    if not (work / "ppkeys" / "localhost.priv").exists():
        env = dict(os.environ, CFENGINE_TEST_OVERRIDE_WORKDIR=str(work))
        subprocess.run(["cf-key"], env=env, capture_output=True, check=True)
    return work


def cf_agent(work: Workload, workdir: Path) -> PeerRun:
    """One `cf-agent` run of the workload's policy: no locks (-K, so back-to-back runs all
    evaluate every promise), repairs reported (-I)."""
    cmd = ["cf-agent", "-K", "-I", "-w", str(workdir), "-f", str(work.policy)]
    wall, cpu, out = _timed(cmd)
    return PeerRun(wall, cpu, len(_CF_REPAIRED.findall(out)))


def ansible_available() -> bool:
    return (ANSIBLE_VENV / "bin" / "ansible-playbook").exists()


def puppet_apply(work: Workload, state: Path) -> PeerRun:
    """One `puppet apply` of the workload's manifest, with Puppet's state kept in ``state`` so
    the machine's own Puppet directories are neither used nor changed."""
    dirs = {d: state / d for d in ("conf", "code", "var", "log", "run", "public")}
    cmd = ["puppet", "apply", "--color=false", str(work.manifest)]
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        cmd += [f"--{name}dir", str(path)]
    wall, cpu, out = _timed(cmd)
    applied = _APPLIED.search(out)
    if applied is None:
        raise RuntimeError(f"puppet apply printed no catalog time:\n{out[-2000:]}")
    return PeerRun(wall, cpu, len(_PUPPET_CHANGE.findall(out)), float(applied.group(1)))


def ansible_playbook(work: Workload, state: Path) -> PeerRun:
    """One `ansible-playbook` run of the workload's copy loop against localhost, printing
    progress as items go by (it takes minutes)."""
    state.mkdir(parents=True, exist_ok=True)
    python = ANSIBLE_VENV / "bin" / "python"
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(state),
        ANSIBLE_LOCAL_TEMP=str(state / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
    )
    cmd = [
        str(ANSIBLE_VENV / "bin" / "ansible-playbook"),
        "-i",
        "localhost,",
        "-e",
        f"ansible_python_interpreter={python}",
        str(work.playbook),
    ]
    total = len(work.files)
    seen = 0
    lines: list[str] = []
    before = children_cpu()
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if _ANSIBLE_ITEM.match(line):
                seen += 1
                if seen % 50 == 0:
                    elapsed = time.perf_counter() - started
                    progress(f"ansible-playbook: {seen}/{total} items in {elapsed:.0f} s")
    wall = time.perf_counter() - started
    cpu = children_cpu() - before
    out = "".join(lines)
    recap = _ANSIBLE_RECAP.search(out)
    if proc.returncode != 0 or recap is None:
        raise RuntimeError(f"ansible-playbook failed ({proc.returncode}):\n{out[-2000:]}")
    return PeerRun(wall, cpu, int(recap.group(2)))


def children_cpu() -> float:
    """User + system seconds of this process's waited-for children so far, to the
    microsecond (``os.times`` counts in clock ticks, 10 ms here: a third of a run's
    difference)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` to completion: wall seconds, CPU seconds (children), combined output."""
    before = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = children_cpu() - before
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n{out[-2000:]}")
    return wall, cpu, out
