"""Configuration update to every host Ready at fleet sizes (default 1,000 and 3,000; e.g.
``python -m bench.fleet_bench 1000 3000 10000``), with the API cost of each update counted by
the apiserver itself.

Each size gets a fresh control plane (so etcd's database size is the fleet's own). The
controller runs as its own process (`transom controller run`); the hosts are real agents from
the simulator (own certificates, watches and Leases, the posix engine), enrolled through the
controller's CSR approval, in processes of their own (``bench/fleet_agents.py``, at most
``TRANSOM_BENCH_AGENTS_PER_PROCESS`` each), so /proc measures the controller, kube-apiserver and
etcd separately from the agents.

Past the hosts one kube-apiserver has open files for (about 3,800 on a 20,000-file limit), the
control plane runs more of them on the one etcd, as a highly available cluster does; agent
processes take them in turn, the controller talks to the first. Their CPU, memory and request
counts are summed. ``TRANSOM_BENCH_APISERVERS=K`` runs at least K at any size (what a second
costs at 1,000 hosts). ``TRANSOM_BENCH_SHARDS=N`` runs N leader-elected controller shards
(``--shards N --shard-key K``), shard K on kube-apiserver K mod their number, as replicas behind
a load balancer would spread; their CPU and memory are summed as "controller".
``TRANSOM_BENCH_APISERVER_MEMORY_MIB=M`` gives each kube-apiserver a soft memory limit (Go's
GOMEMLIMIT): it collects garbage sooner instead of growing to twice what it holds.

With ``TRANSOM_BENCH_PROFILE=DIR`` the (first) kube-apiserver's CPU profile over the first
timed update is saved as DIR/kube-apiserver-N.pprof, and its heap after it as
DIR/kube-apiserver-N.heap.pprof (its /debug/pprof, on by default; ``go tool pprof`` reads
them): where the apiserver's time and memory go.

Requests are counted from each kube-apiserver's ``apiserver_request_total`` (scraped from /metrics
with the admin client) before and after each update: writes are POST, PUT, PATCH, APPLY and
DELETE. Who made them follows from the resource: Assignment spec and Configuration status are
the controller's, Assignment status and Leases the agents', Events either's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import resource as rlimit
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.controller_process import controllers, prepare
from bench.footprint_bench import cpu_seconds, memory_kib
from bench.workload import Row, load_average, percentile, progress, python_env, row
from transom.agent.runner import REQUEST_CONNECTIONS
from transom.api import names
from transom.api.wire import API_VERSION
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import die_with_parent, pid_alive
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS

BENCHMARK = "fleet"
NS = "fleet-bench"
READ_VERBS = frozenset({"GET", "LIST", "WATCH"})
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
#: After the last host is Ready: time for the controller's final status write to land.
SETTLE_SECONDS = 3.0

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

Requests = Counter[tuple[str, str, str]]  # (verb, resource, subresource) -> count


def _configuration(fleet: str, base: Path, content: str) -> dict[str, object]:
    # The simulator gives each host <workdir>/<host>/root; $(host.name) picks it.
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": fleet, "namespace": NS},
        "spec": {
            "hostSelector": {"matchLabels": {"fleet": fleet}},
            "rollout": {"maxUnavailable": "100%"},
            "resources": [
                {
                    "name": "motd",
                    "file": {"path": f"{base}/$(host.name)/root/motd", "content": content},
                }
            ],
        },
    }


async def api_requests(cp: ControlPlane) -> Requests:
    """The apiservers' own request counts, summed over them, by verb, resource and
    subresource."""
    out: Requests = Counter()
    for path in cp.kubeconfigs:
        async with Kube(KubeConfig.from_file(path)) as kube:
            text = str((await kube.get("/metrics")).get("raw", ""))
        for line in text.splitlines():
            m = _SAMPLE.match(line)
            if m is None:
                continue
            labels = dict(_LABEL.findall(m.group("labels")))
            verb, res = labels.get("verb", ""), labels.get("resource", "")
            out[(verb, res, labels.get("subresource", ""))] += int(float(m.group("value")))
    return out


def writes(delta: Requests) -> Counter[str]:
    """Writes by "resource[/subresource] VERB"."""
    out: Counter[str] = Counter()
    for (verb, resource, sub), n in delta.items():
        if verb in WRITE_VERBS and n:
            out[f"{resource}{'/' + sub if sub else ''} {verb}"] += n
    return out


def _pprof(cp: ControlPlane, what: str, seconds: int = 0) -> bytes:
    url = f"{cp.url}/debug/pprof/{what}" + (f"?seconds={seconds}" if seconds else "")
    with urllib.request.urlopen(  # noqa: S310 - our own https endpoint
        url, timeout=seconds + 30, context=cp.ssl_context()
    ) as r:
        return bytes(r.read())


def save_pprof(cp: ControlPlane, what: str, out: Path, seconds: int = 0) -> None:
    """Save kube-apiserver's WHAT profile to OUT; a busy apiserver that does not answer in
    time costs the profile, not the run."""
    try:
        out.write_bytes(_pprof(cp, what, seconds))
    except OSError as e:  # URLError and timeouts are OSErrors
        progress(f"kube-apiserver's {what} profile not saved: {e}")


def profile_apiserver(cp: ControlPlane, seconds: int, out: Path) -> threading.Thread:
    """Save kube-apiserver's CPU profile over the next SECONDS to OUT, in a thread."""
    thread = threading.Thread(target=save_pprof, args=(cp, "profile", out, seconds), daemon=True)
    thread.start()
    return thread


def etcd_db_bytes(cp: ControlPlane) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{cp.etcd_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("etcd_mvcc_db_total_size_in_bytes "):
                return int(float(line.split()[1]))
    return 0


@dataclass
class Processes:
    """The pids measured, by what they are: controller, kube-apiserver (one or more), etcd,
    agents (their processes). Each group's CPU and memory is its processes' sum."""

    groups: dict[str, list[int]]

    def cpu(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def rss_mib(self) -> dict[str, float]:
        return {
            name: sum(memory_kib(p, "VmRSS") for p in pids if pid_alive(p)) / 1024
            for name, pids in self.groups.items()
        }


@dataclass
class Seen:
    """Seconds from the update until each host's new Assignment was written (the
    controller's share) and until it reported that generation Ready (the agent's follows)."""

    written: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)

    def lags(self) -> list[float]:
        """Per host: its Assignment written to it Ready."""
        return [self.ready[h] - t for h, t in self.written.items() if h in self.ready]


def _p(values: list[float], q: float) -> float:
    return percentile(values, q) if values else float("nan")


async def _ready_times(
    kube: Kube, fleet: str, generation: int, hosts: int, *, rv: str, t0: float, timeout: float
) -> Seen:
    """Watch every host's Assignment from RV (the Configuration's write: each Assignment
    written for it comes later) with one admin watch across namespaces, until all report the
    generation applied."""
    seen = Seen()
    selector = f"{names.LABEL_CONFIGURATION}={NS}.{fleet}"

    def check(obj: dict[str, object]) -> None:
        a: dict = obj  # type: ignore[type-arg]
        if a["spec"]["source"]["generation"] != generation:
            return
        host, now = a["spec"]["host"], time.monotonic() - t0
        seen.written.setdefault(host, now)
        status = a.get("status") or {}
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
        )
        if ready and status.get("observedGeneration") == a["metadata"]["generation"]:
            seen.ready.setdefault(host, now)

    deadline = time.monotonic() + timeout
    while len(seen.ready) < hosts and time.monotonic() < deadline:
        async for event in kube.watch(
            ASSIGNMENTS.path(), resource_version=rv, label_selector=selector, timeout_seconds=30
        ):
            obj = event.get("object") or {}
            rv = obj.get("metadata", {}).get("resourceVersion", rv)
            if event.get("type") in ("ADDED", "MODIFIED"):
                check(obj)
            if len(seen.ready) >= hosts or time.monotonic() > deadline:
                break
    return seen


@dataclass
class Update:
    seconds: float
    #: The whole window measured: apply to settled, timed out or not.
    wall: float
    times: list[float]
    writes: Counter[str]
    cpu: dict[str, float]
    seen: Seen


async def _updates(
    cp: ControlPlane,
    *,
    procs: Processes,
    work: Path,
    fleet: str,
    n: int,
    updates: int,
    profile: Path | None = None,
) -> list[Update]:
    out: list[Update] = []
    profiler: threading.Thread | None = None
    async with Kube(KubeConfig.from_file(cp.kubeconfig)) as kube:
        before = await api_requests(cp)
        for u in range(updates + 1):
            cpu0 = procs.cpu()
            t0 = time.monotonic()
            if profile is not None and u == 1:
                # About as long as an update takes (host Ready p50 is about half of it).
                profiler = profile_apiserver(
                    cp, max(15, n // 60), profile / f"kube-apiserver-{n}.pprof"
                )
            conf = _configuration(fleet, work, f"update {u}\n")
            written = await kube.apply(CONFIGURATIONS.path(NS, fleet), conf)
            generation = written["metadata"]["generation"]
            seen = await _ready_times(
                kube,
                fleet,
                generation,
                n,
                rv=written["metadata"]["resourceVersion"],
                t0=t0,
                timeout=900,
            )
            times = sorted(seen.ready.values())
            total = times[-1] if len(times) == n else float("inf")
            await asyncio.sleep(SETTLE_SECONDS)
            cpu1 = procs.cpu()
            after = await api_requests(cp)
            delta = Counter({k: after[k] - before.get(k, 0) for k in after})
            before = after
            label = "warm-up (creates every Assignment)" if u == 0 else f"update {u}"
            w = writes(delta)
            wrote, lag = list(seen.written.values()), seen.lags()
            progress(
                f"{n} hosts, {label}: {len(times)}/{n} Ready, last at {total:.1f} s; "
                f"Assignments written p50 {_p(wrote, 50):.1f} s, last {_p(wrote, 100):.1f} s; "
                f"written to Ready p50 {_p(lag, 50):.1f} s, p99 {_p(lag, 99):.1f} s; "
                f"{sum(w.values()) / n:.2f} writes/host {dict(w.most_common(8))}; reads "
                f"{dict(Counter({k: v for k, v in delta.items() if k[0] in READ_VERBS and v}))}"
            )
            if u == 0:
                continue
            cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
            out.append(Update(total, time.monotonic() - t0, times, w, cpu, seen))
            if u == updates:
                one = (await kube.list(ASSIGNMENTS.path(), limit="1"))["items"][0]
                managed = one["metadata"].get("managedFields") or []
                progress(
                    f"one Assignment: {len(json.dumps(one))} bytes of JSON, "
                    f"{len(json.dumps(managed))} of them managedFields ({len(managed)} entries)"
                )
            if profiler is not None and profile is not None:
                await asyncio.to_thread(profiler.join)
                profiler = None
                await asyncio.to_thread(
                    save_pprof, cp, "heap", profile / f"kube-apiserver-{n}.heap.pprof"
                )
    return out


async def _idle(
    cp: ControlPlane, procs: Processes, seconds: float
) -> tuple[Counter[str], dict[str, float]]:
    before = await api_requests(cp)
    cpu0 = procs.cpu()
    await asyncio.sleep(seconds)
    cpu1 = procs.cpu()
    after = await api_requests(cp)
    delta = Counter({k: after[k] - before.get(k, 0) for k in after})
    return writes(delta), {k: cpu1[k] - cpu0[k] for k in cpu1}


@contextmanager
def _agents(
    cp: ControlPlane, work: Path, fleet: str, n: int, per_process: int
) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    try:
        for i, first in enumerate(range(0, n, per_process)):
            count = min(per_process, n - first)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.fleet_agents",
                        # Processes take the apiservers in turn (see apiservers_for).
                        str(cp.kubeconfigs[i % len(cp.kubeconfigs)]),
                        str(work),
                        fleet,
                        str(first),
                        str(count),
                        f"fleet={fleet}",
                        # Its own loopback address: 10,000 hosts' 40,000 connections are more
                        # than one address has ports for.
                        f"127.0.0.{2 + first // per_process}",
                    ],
                    env=python_env(),
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - no orphans if the bench dies
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(work / f"agents-{first}.log").open("wb"),
                    text=True,
                )
            )
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if not line.startswith("ready"):
                first = procs.index(p) * per_process
                said = (work / f"agents-{first}.log").read_text().strip().splitlines()
                raise SystemExit(
                    f"agent process {procs.index(p)} (hosts {first:,} on) ended before its "
                    f"hosts were up: {said[-1] if said else 'it said nothing'}"
                )
            progress(f"agent process {procs.index(p)}: set-up phases (cumulative s) {line[6:]}")
        yield procs
    finally:
        for p in procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


#: Sockets kube-apiserver holds per simulated host at most: its three watches (Assignments,
#: Secrets, HostPreviews; HTTP/1.1, one connection each; a simulated host never reboots, so
#: it watches no reboot Lease) and its connections for requests; plus this many for the
#: controller, the bench and the apiserver's own.
SOCKETS_PER_HOST = 3 + REQUEST_CONNECTIONS
SOCKETS_BESIDES = 1000


def process_sizes(n: int, per_process: int) -> list[int]:
    """The hosts in each agent process: PER_PROCESS each, the last the rest."""
    return [min(per_process, n - first) for first in range(0, n, per_process)]


def apiservers_for(n: int, per_process: int, open_files: int) -> int:
    """The fewest kube-apiservers (on the one etcd) that hold N hosts when each may open
    OPEN_FILES files and agent process i talks to apiserver i mod their number. SystemExit,
    naming the numbers, when not even one process of hosts fits one apiserver."""
    capacity = (open_files - SOCKETS_BESIDES) // SOCKETS_PER_HOST
    sizes = process_sizes(n, per_process)
    for k in range(1, len(sizes) + 1):
        if max(sum(sizes[j::k]) for j in range(k)) <= capacity:
            return k
    raise SystemExit(
        f"{min(n, per_process):,} hosts in one agent process need about "
        f"{min(n, per_process) * SOCKETS_PER_HOST + SOCKETS_BESIDES:,} open files in "
        f"kube-apiserver, and this machine allows {open_files:,} per process: set "
        f"TRANSOM_BENCH_AGENTS_PER_PROCESS to at most {max(1, capacity):,}"
    )


def available_mib() -> int:
    """The machine's MemAvailable."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


class RunGuard:
    """Ends the run when the machine's available memory falls below FLOOR_MIB or a watched
    process ends (the kernel's OOM killer picks the largest, a kube-apiserver, and the run
    would wait on it for ever): it says why with the figures, stops the watched processes so
    nothing waits on them, and unwinds this process (SIGINT) so every child is stopped.
    Allocation comes in bursts here (a kube-apiserver grew by 1 GiB within seconds), so it
    looks often and keeps a margin."""

    def __init__(self, floor_mib: int, interval: float = 0.5) -> None:
        self.floor_mib = floor_mib
        self.interval = interval
        self.procs: Processes | None = None
        self.watched: dict[str, int] = {}
        self.tripped = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _why(self) -> str:
        free = available_mib()
        for name, pid in self.watched.items():
            if not pid_alive(pid):
                return (
                    f"{name} (pid {pid}) ended during the run (the kernel's OOM killer? see "
                    f"dmesg), {free:,} MiB of memory left"
                )
        if free < self.floor_mib:
            return (
                f"{free:,} MiB of memory left, below the {self.floor_mib:,} MiB kept free "
                "(TRANSOM_BENCH_MIN_FREE_MIB)"
            )
        return ""

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if why := self._why():
                rss = self.procs.rss_mib() if self.procs else {}
                self.tripped = f"stopped: {why}" + (
                    "; RSS " + ", ".join(f"{k} {v:,.0f} MiB" for k, v in rss.items()) if rss else ""
                )
                for pid in self.watched.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGINT)
                return

    def watching(self, pids: dict[str, int]) -> RunGuard:
        """``with guard.watching(pids):`` these must not end until the block does."""
        self.watched = dict(pids)
        return self

    def __enter__(self) -> RunGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _open_files_for(n: int) -> int:
    """Raise this process's open-file limit (the control plane, a child, inherits it) to what N
    hosts need, and return the limit. Raising the hard limit needs CAP_SYS_RESOURCE; without
    it the soft limit goes up to the hard one."""
    want = n * SOCKETS_PER_HOST + SOCKETS_BESIDES
    soft, hard = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)
    try:
        rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    except (OSError, ValueError):
        rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (hard, hard))
    return rlimit.getrlimit(rlimit.RLIMIT_NOFILE)[0]


def _fleet(n: int, settings: Settings) -> list[Row]:
    fleet = f"f{n}"
    per_process, shards = settings.per_process, settings.shards
    # Past one apiserver's open files (about 3,800 hosts here), more apiservers on the one
    # etcd, as a highly available cluster runs them; the limit is per process.
    apiservers = max(settings.least_apiservers, apiservers_for(n, per_process, _open_files_for(n)))
    guard = RunGuard(settings.min_free_mib)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="transom-bench-fleet-") as tmp,
            ControlPlane(
                apiservers=apiservers, apiserver_memory_mib=settings.apiserver_memory_mib
            ) as cp,
        ):
            work = Path(tmp)
            # Watching ends before the controller and the control plane are stopped.
            with (
                controllers(cp, work, shards) as ctls,
                guard.watching(cp.pids() | {f"controller-{k}": c.pid for k, c in enumerate(ctls)}),
            ):
                prepare(cp, NS)
                t0 = time.monotonic()
                with _agents(cp, work, fleet, n, per_process) as agents:
                    setup = time.monotonic() - t0
                    progress(
                        f"{n} hosts up in {setup:.0f} s ({len(agents)} processes, "
                        f"{apiservers} kube-apiserver(s), {shards} controller shard(s))"
                    )
                    pids = cp.pids()
                    procs = Processes(
                        {
                            "controller": [c.pid for c in ctls],
                            "kube-apiserver": [pids[a] for a in cp.apiserver_names],
                            "etcd": [pids["etcd"]],
                            "agents": [p.pid for p in agents],
                        }
                    )
                    guard.procs = procs
                    done = asyncio.run(
                        _updates(
                            cp,
                            procs=procs,
                            work=work,
                            fleet=fleet,
                            n=n,
                            updates=settings.updates,
                            profile=settings.profile,
                        )
                    )
                    idle_writes, idle_cpu = asyncio.run(_idle(cp, procs, settings.idle))
                    rss = procs.rss_mib()
                    db = etcd_db_bytes(cp)
    except KeyboardInterrupt:
        if guard.tripped:
            raise SystemExit(f"{n:,} hosts: {guard.tripped}") from None
        raise
    return _rows(
        n,
        apiservers=apiservers,
        shards=shards,
        done=done,
        setup=setup,
        idle=settings.idle,
        idle_writes=idle_writes,
        idle_cpu=idle_cpu,
        rss=rss,
        db=db,
        memory_mib=settings.apiserver_memory_mib,
    )


def _rows(
    n: int,
    *,
    apiservers: int,
    shards: int,
    done: list[Update],
    setup: float,
    idle: float,
    idle_writes: Counter[str],
    idle_cpu: dict[str, float],
    rss: dict[str, float],
    db: int,
    memory_mib: int = 0,
) -> list[Row]:
    limit = f" (GOMEMLIMIT {memory_mib} MiB each)" if memory_mib else ""
    note = (
        f"{n} hosts, {len(done)} updates, {apiservers} kube-apiserver(s){limit}, {shards} "
        f"controller shard(s), {load_average()}"
    )
    samples = [t for u in done for t in u.times]
    totals = [u.seconds for u in done]
    host_updates = n * len(done)
    all_writes: Counter[str] = Counter()
    for u in done:
        all_writes.update(u.writes)
    lease_writes = sum(v for k, v in all_writes.items() if k.startswith("leases "))
    total_writes = sum(all_writes.values())
    cpu = {k: sum(u.cpu[k] for u in done) for k in done[0].cpu}
    busy = sum(u.wall for u in done)
    written = [t for u in done for t in u.seen.written.values()]
    lag = [
        u.seen.ready[h] - t for u in done for h, t in u.seen.written.items() if h in u.seen.ready
    ]
    rows = [
        row(
            BENCHMARK,
            f"{n} hosts: set-up, enrolled and every agent listing",
            setup,
            "s",
            "CSRs approved and signed, Hosts labelled, agents started 50 at a time",
        ),
        row(
            BENCHMARK,
            f"{n} hosts: update to all Ready, median",
            statistics.median(totals),
            "s",
            note,
        ),
        row(BENCHMARK, f"{n} hosts: update to all Ready, p99", percentile(totals, 99), "s", note),
        row(
            BENCHMARK,
            f"{n} hosts: update to host Ready, p50",
            statistics.median(samples),
            "s",
            note,
        ),
        row(BENCHMARK, f"{n} hosts: update to host Ready, p99", percentile(samples, 99), "s", note),
        row(
            BENCHMARK,
            f"{n} hosts: update to host's Assignment written, p50 / p99",
            percentile(written, 50),
            "s",
            f"p99 {percentile(written, 99):.1f} s: the controller's share",
        ),
        row(
            BENCHMARK,
            f"{n} hosts: Assignment written to host Ready, p50 / p99",
            percentile(lag, 50),
            "s",
            f"p99 {percentile(lag, 99):.1f} s: the agent's share (watch, apply, status write)",
        ),
        row(
            BENCHMARK,
            f"{n} hosts: API writes per host per update",
            (total_writes - lease_writes) / host_updates,
            "writes",
            "apiserver_request_total; "
            + ", ".join(
                f"{k} {v / host_updates:.2f}"
                for k, v in all_writes.most_common()
                if not k.startswith("leases ")
            ),
        ),
        row(
            BENCHMARK,
            f"{n} hosts: Lease renewals per host per update",
            lease_writes / host_updates,
            "writes",
            f"during the update windows ({busy / len(done):.1f} s each on average)",
        ),
        row(
            BENCHMARK,
            f"{n} hosts: controller CPU per host-update",
            1000 * cpu["controller"] / host_updates,
            "ms",
            f"{100 * cpu['controller'] / busy:.0f} % of a core while updating",
        ),
    ]
    for name in ("kube-apiserver", "etcd", "agents"):
        rows.append(
            row(
                BENCHMARK,
                f"{n} hosts: {name} CPU while updating",
                100 * cpu[name] / busy,
                "% of a core",
                f"{1000 * cpu[name] / host_updates:.2f} ms per host-update",
            )
        )
    idle_total = sum(idle_writes.values())
    rows.append(
        row(
            BENCHMARK,
            f"{n} hosts: idle writes per host per minute",
            idle_total / n / (idle / 60),
            "writes/min",
            f"over {idle:.0f} s: {dict(idle_writes.most_common(4))}",
        )
    )
    for name in ("kube-apiserver", "etcd", "controller"):
        rows.append(
            row(
                BENCHMARK,
                f"{n} hosts: {name} CPU at idle",
                100 * idle_cpu[name] / idle,
                "% of a core",
                f"{1000 * idle_cpu[name] / max(1, idle_total):.2f} ms per idle write"
                if name != "controller"
                else "",
            )
        )
    for name, mib in rss.items():
        count = {"kube-apiserver": apiservers, "controller": shards}.get(name, 1)
        summed = f", the sum of {count}" if count > 1 else ""
        rows.append(
            row(BENCHMARK, f"{n} hosts: {name} RSS", mib, "MiB", f"after the updates{summed}")
        )
    rows.append(row(BENCHMARK, f"{n} hosts: etcd database size", db / 2**20, "MiB", ""))
    return rows


#: What ``make bench`` runs (``bench.run`` calls `run` without arguments): the issue's goal
#: sizes this machine holds in a bench's time; 7,000 and more by hand (docs/benchmarks.md).
DEFAULT_SIZES = (1000, 3000)


@dataclass(frozen=True)
class Settings:
    """The benchmark's knobs, from the environment; a bad value is refused naming it."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    updates: int = 3
    idle: float = 60.0
    per_process: int = 500
    profile: Path | None = None
    least_apiservers: int = 1
    shards: int = 1
    min_free_mib: int = 2048
    #: Each kube-apiserver's GOMEMLIMIT in MiB; 0: none (docs/scale.md, where it stops).
    apiserver_memory_mib: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str], sizes: Sequence[str] = ()) -> Settings:
        """SIZES (command-line arguments) win over ``TRANSOM_BENCH_FLEET_SIZES``."""
        listed = list(sizes) or [
            s for s in env.get("TRANSOM_BENCH_FLEET_SIZES", "").replace(",", " ").split() if s
        ]
        where = "a size argument" if sizes else "TRANSOM_BENCH_FLEET_SIZES"
        return cls(
            sizes=tuple(_whole(where, s, 1) for s in listed) or DEFAULT_SIZES,
            updates=_whole("TRANSOM_BENCH_UPDATES", env.get("TRANSOM_BENCH_UPDATES", "3"), 1),
            idle=_seconds("TRANSOM_BENCH_IDLE", env.get("TRANSOM_BENCH_IDLE", "60")),
            per_process=_whole(
                "TRANSOM_BENCH_AGENTS_PER_PROCESS",
                env.get("TRANSOM_BENCH_AGENTS_PER_PROCESS", "500"),
                1,
            ),
            profile=Path(d) if (d := env.get("TRANSOM_BENCH_PROFILE")) else None,
            least_apiservers=_whole(
                "TRANSOM_BENCH_APISERVERS", env.get("TRANSOM_BENCH_APISERVERS", "1"), 1
            ),
            shards=_whole("TRANSOM_BENCH_SHARDS", env.get("TRANSOM_BENCH_SHARDS", "1"), 1),
            min_free_mib=_whole(
                "TRANSOM_BENCH_MIN_FREE_MIB", env.get("TRANSOM_BENCH_MIN_FREE_MIB", "2048"), 0
            ),
            apiserver_memory_mib=_whole(
                "TRANSOM_BENCH_APISERVER_MEMORY_MIB",
                env.get("TRANSOM_BENCH_APISERVER_MEMORY_MIB", "0"),
                0,
            ),
        )


class SettingError(ValueError):
    pass


def _whole(name: str, value: str, least: int) -> int:
    with contextlib.suppress(ValueError):
        if (n := int(value)) >= least:
            return n
    raise SettingError(f"{name}: {value!r} is not a whole number of at least {least}")


def _seconds(name: str, value: str) -> float:
    with contextlib.suppress(ValueError):
        if 0 <= (s := float(value)) < math.inf:  # nan and inf are not seconds
            return s
    raise SettingError(f"{name}: {value!r} is not a number of seconds of at least 0")


def run(settings: Settings | None = None) -> list[Row]:
    """Every size in turn; without SETTINGS, the environment's (as ``make bench`` runs it)."""
    if settings is None:
        settings = Settings.from_env(os.environ)
    rows: list[Row] = []
    if settings.profile is not None:
        settings.profile.mkdir(parents=True, exist_ok=True)
    for n in settings.sizes:
        rows += _fleet(n, settings)
    return rows


if __name__ == "__main__":
    from bench.run import table

    try:
        chosen = Settings.from_env(os.environ, sys.argv[1:])
    except SettingError as e:
        sys.exit(f"fleet_bench: {e}")
    print(table(run(chosen)))
