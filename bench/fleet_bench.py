"""Configuration update to every host Ready, for 1, 10, 100 and 1,000 hosts; idle API load per
agent; the controller's CPU and memory.

The controller runs as its own process (`transom controller run`, so /proc measures it alone);
the hosts are real agents from the simulator (own certificates, watches and Leases, the posix
engine) in this process, enrolled through the controller's CSR approval.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.footprint_bench import cpu_seconds, memory_kib
from bench.workload import Row, load_average, percentile, progress, python_env, row
from transom.agent.simulator import SCALE_OPTIONS, Simulator
from transom.api import names, rbac
from transom.api.wire import API_VERSION
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import ASSIGNMENTS, CLUSTER_ROLE_BINDINGS, CONFIGURATIONS, NAMESPACES

BENCHMARK = "fleet"
NS = "fleet-bench"


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


async def _ready_times(
    kube: Kube, fleet: str, generation: int, hosts: set[str], *, t0: float, timeout: float
) -> list[float]:
    """Seconds from t0 until each host's Assignment reports the generation applied, from one
    admin watch across namespaces."""
    done: dict[str, float] = {}
    selector = f"{names.LABEL_CONFIGURATION}={NS}.{fleet}"
    listed = await kube.list(ASSIGNMENTS.path(), labelSelector=selector)
    rv = listed["metadata"]["resourceVersion"]

    def check(obj: dict[str, object]) -> None:
        a: dict = obj  # type: ignore[type-arg]
        status = a.get("status") or {}
        ready = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
        )
        if (
            a["spec"]["source"]["generation"] == generation
            and ready
            and status.get("observedGeneration") == a["metadata"]["generation"]
        ):
            done.setdefault(a["spec"]["host"], time.monotonic() - t0)

    for item in listed["items"]:
        check(item)
    deadline = time.monotonic() + timeout
    while len(done) < len(hosts) and time.monotonic() < deadline:
        async for event in kube.watch(
            ASSIGNMENTS.path(), resource_version=rv, label_selector=selector, timeout_seconds=30
        ):
            obj = event.get("object") or {}
            rv = obj.get("metadata", {}).get("resourceVersion", rv)
            if event.get("type") in ("ADDED", "MODIFIED"):
                check(obj)
            if len(done) >= len(hosts) or time.monotonic() > deadline:
                break
    return sorted(done.values())


async def _fleet(cp: ControlPlane, work: Path, n: int, updates: int, idle: float) -> list[Row]:
    admin = KubeConfig.from_file(cp.kubeconfig)
    fleet = f"f{n}"
    sim = Simulator(
        admin,
        count=n,
        workdir=work / fleet,
        prefix=fleet,
        labels={"fleet": fleet},
        options=SCALE_OPTIONS,
        provision=False,
        approve=False,
    )
    rows: list[Row] = []
    async with Kube(admin) as kube, sim:
        progress(f"{n} hosts up in {sim.setup_seconds:.0f} s")
        samples: list[float] = []
        totals: list[float] = []
        for u in range(updates + 1):
            conf = _configuration(fleet, work / fleet, f"update {u}\n")
            t0 = time.monotonic()
            written = await kube.apply(CONFIGURATIONS.path(NS, fleet), conf)
            times = await _ready_times(
                kube, fleet, written["metadata"]["generation"], set(sim.names), t0=t0, timeout=600
            )
            if u == 0:
                continue  # the first rollout also creates every Assignment: a warm-up
            samples += times
            totals.append(times[-1] if len(times) == n else float("inf"))
            progress(f"{n} hosts, update {u}: {len(times)}/{n} Ready, last at {totals[-1]:.1f} s")
        note = f"{n} hosts, {updates} updates, load {load_average()}"
        rows += [
            row(
                BENCHMARK,
                f"{n} hosts: update to host Ready, p50",
                statistics.median(samples),
                "s",
                note,
            ),
            row(
                BENCHMARK,
                f"{n} hosts: update to host Ready, p99",
                percentile(samples, 99),
                "s",
                note,
            ),
            row(
                BENCHMARK,
                f"{n} hosts: update to all Ready, median",
                statistics.median(totals),
                "s",
                "target at 1,000 hosts: 30 s",
            ),
        ]
        if n >= 100:
            sim.reset_requests()
            await asyncio.sleep(idle)
            total = sum(sim.requests().values())
            per = total / n / (idle / 60)
            kinds = sorted({k.split(" ")[0] for k in sim.requests()})
            rows.append(
                row(
                    BENCHMARK,
                    f"{n} hosts: idle requests per agent per minute",
                    per,
                    "req/min",
                    f"over {idle:.0f} s; methods {kinds}; Lease every 10 s",
                )
            )
        await sim.cleanup()
    return rows


def run(
    sizes: tuple[int, ...] = (1, 10, 100, 1000), updates: int = 3, idle: float = 60.0
) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="transom-bench-fleet-") as tmp, ControlPlane() as cp:
        log = (Path(tmp) / "controller.log").open("wb")
        controller = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "transom.cli.main",
                "controller",
                "run",
                "--kubeconfig",
                str(cp.kubeconfig),
            ],
            env=python_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            async def prepare() -> None:
                async with Kube(KubeConfig.from_file(cp.kubeconfig)) as kube:
                    await kube.apply(
                        NAMESPACES.path(name=NS),
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
                    )
                    # The controller installs the bootstrapper RBAC as it starts.
                    binding = CLUSTER_ROLE_BINDINGS.path(name=rbac.BOOTSTRAPPER_ROLE_NAME)
                    while await kube.get_or_none(binding) is None:
                        await asyncio.sleep(0.2)

            asyncio.run(prepare())
            for n in sizes:
                cpu0 = cpu_seconds(controller.pid)
                t0 = time.monotonic()
                rows += asyncio.run(_fleet(cp, Path(tmp), n, updates, idle))
                cpu = cpu_seconds(controller.pid) - cpu0
                rows.append(
                    row(
                        BENCHMARK,
                        f"{n} hosts: controller CPU",
                        100 * cpu / (time.monotonic() - t0),
                        "% of a core",
                        "average over enrollment, updates and idle",
                    )
                )
                rows.append(
                    row(
                        BENCHMARK,
                        f"{n} hosts: controller RSS",
                        memory_kib(controller.pid, "VmRSS") / 1024,
                        "MiB",
                        "",
                    )
                )
        except BaseException:
            print((Path(tmp) / "controller.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            controller.terminate()
            controller.wait(30)
            log.close()
    return rows


if __name__ == "__main__":
    from bench.run import table

    sizes = tuple(int(a) for a in sys.argv[1:]) or (1, 10, 100, 1000)
    print(table(run(sizes, idle=float(os.environ.get("TRANSOM_BENCH_IDLE", "60")))))
