"""Commit pushed -> every host applied -> Kustomization Ready, over N commits with 3 hosts,
split into Flux's share (source fetch and apply, then its health-check poll) and Transom's
share (fan-out, agents applying, status aggregation).

Each commit is announced the way CI does (`flux reconcile source git`: the
reconcile.fluxcd.io/requestedAt annotation), so the source's polling interval is not measured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from bench.workload import Row, load_average, percentile, progress, row
from transom.agent.enroll import enroll
from transom.agent.runner import AgentOptions
from transom.agent.service import RunSettings, run_agent
from transom.api import names
from transom.controller import setup
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.dev.flux import FluxControllers, git_repository, kustomization, ready_at
from transom.dev.gitserver import GitServer, Repository
from transom.engine.policy import HostPolicy
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, GIT_REPOSITORIES, KUSTOMIZATIONS

BENCHMARK = "commit to hosts Ready (Flux)"
NS = "bench"


def _conf(root: Path, i: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "transom.dev/v1alpha1",
            "kind": "Configuration",
            "metadata": {"name": "web"},
            "spec": {
                "hostSelector": {"matchLabels": {"role": "bench"}},
                "rollout": {"maxUnavailable": "100%"},
                "resources": [
                    {
                        "name": "index",
                        "file": {
                            "path": f"{root}/$(host.name)-index.html",
                            "content": f"commit {i}\n",
                        },
                    }
                ],
            },
        }
    )


async def _hosts_applied(kube: Kube, hosts: list[str], generation: int) -> bool:
    for h in hosts:
        a = await kube.get_or_none(ASSIGNMENTS.path(names.host_namespace(h), f"{NS}.web"))
        if a is None or a["spec"]["source"]["generation"] != generation:
            return False
        st = a.get("status") or {}
        ok = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])
        if not ok or st.get("observedGeneration") != a["metadata"]["generation"]:
            return False
    return True


async def _one(
    kube: Kube, repo: Repository, root: Path, hosts: list[str], i: int
) -> tuple[float, float, float, float]:
    """Seconds from push to: Configuration updated, hosts applied, Kustomization Ready."""
    t0 = time.monotonic()
    rev = repo.revision(repo.commit({"windows/web.yaml": _conf(root, i)}, f"commit {i}"))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await kube.patch(
        GIT_REPOSITORIES.path(NS, "fleet"),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}},
    )
    t_conf = t_hosts = 0.0
    generation = -1
    while True:
        if not t_conf:
            conf = await kube.get_or_none(CONFIGURATIONS.path(NS, "web"))
            if conf is not None and f"commit {i}\n" in yaml.safe_dump(conf["spec"]):
                t_conf, generation = time.monotonic(), conf["metadata"]["generation"]
        if t_conf and not t_hosts and await _hosts_applied(kube, hosts, generation):
            t_hosts = time.monotonic()
        ks = await kube.get(KUSTOMIZATIONS.path(NS, "windows"))
        if ready_at(rev)(ks):
            t_ready = time.monotonic()
            return (
                t_conf - t0,
                (t_hosts or t_ready) - t0,
                t_ready - t0,
                t_ready - (t_hosts or t_ready),
            )
        if time.monotonic() - t0 > 180:
            raise TimeoutError(f"commit {i} not Ready after 180 s: {ks.get('status')}")
        await asyncio.sleep(0.02)


async def _measure(
    cp: ControlPlane, work: Path, commits: int, count: int
) -> list[tuple[float, ...]]:
    async with Kube(KubeConfig.from_file(cp.kubeconfig)) as kube:
        await setup.ensure(kube)
        controller = asyncio.create_task(Controller(kube, liveness_interval=0.5).run())
        hosts = [f"bench-{i}" for i in range(count)]
        token = await create_token(kube, hosts, labels={"role": "bench"})
        root = work / "hosts"
        root.mkdir()
        agents = []
        for h in hosts:
            await enroll(cp.url, token.value, h, state_dir=work / h, ca_pem=cp.ca.cert.read_bytes())
            agents.append(
                asyncio.create_task(
                    run_agent(
                        RunSettings(
                            state_dir=work / h,
                            policy=HostPolicy(path_roots=(str(root),)),
                            options=AgentOptions(),
                        )
                    )
                )
            )
        await kube.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        samples: list[tuple[float, ...]] = []
        with GitServer(work / "git") as git:
            repo = git.create_repository("fleet")
            repo.commit({"windows/web.yaml": _conf(root, 0)}, "commit 0")
            await kube.apply(
                GIT_REPOSITORIES.path(NS, "fleet"),
                git_repository("fleet", NS, repo.url, interval="10m"),
            )
            await kube.apply(
                KUSTOMIZATIONS.path(NS, "windows"),
                kustomization(
                    "windows",
                    NS,
                    "fleet",
                    "./windows",
                    target_namespace=NS,
                    wait=True,
                    interval="10m",
                    timeout="3m",
                ),
            )
            for i in range(1, commits + 2):
                sample = await _one(kube, repo, root, hosts, i)
                if i > 1:  # the first commit also pays for Flux's first fetch: a warm-up
                    samples.append(sample)
                    progress(f"commit {i - 1}/{commits}: Ready in {sample[2]:.2f} s")
        for t in (*agents, controller):
            t.cancel()
        await asyncio.gather(*agents, controller, return_exceptions=True)
        return samples


def run(commits: int = 20, hosts: int = 3) -> list[Row]:
    with (
        tempfile.TemporaryDirectory(prefix="transom-bench-flux-") as tmp,
        ControlPlane() as cp,
        FluxControllers(cp, Path(tmp) / "flux"),
    ):
        samples = asyncio.run(_measure(cp, Path(tmp), commits, hosts))
    note = f"{len(samples)} commits, {hosts} hosts, load {load_average()}"
    total = [s[2] for s in samples]
    flux_share = [s[0] + s[3] for s in samples]
    transom_share = [s[1] - s[0] for s in samples]
    rows = [
        row(BENCHMARK, "push to Ready, median", statistics.median(total), "s", note),
        row(BENCHMARK, "push to Ready, p99", percentile(total, 99), "s", note),
        row(
            BENCHMARK,
            "Flux share (fetch+apply, health-check poll), median",
            statistics.median(flux_share),
            "s",
            "kustomize-controller polls health every 5 s",
        ),
        row(
            BENCHMARK,
            "Transom share (fan-out, agents, status), median",
            statistics.median(transom_share),
            "s",
            note,
        ),
        row(BENCHMARK, "Transom share, p99", percentile(transom_share, 99), "s", note),
    ]
    return rows
