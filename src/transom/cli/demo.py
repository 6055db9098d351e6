"""`make demo`: the whole story on one machine.

A fresh local control plane; real Flux (source-controller, kustomize-controller) fed by a
Git server on loopback; the Transom controller; three enrolled agents converging their own
directories. A commit goes to every host, the status table updates until Flux says Ready,
then an out-of-band change on one host is corrected, and `transom trace` follows a file back
to its commit. The control plane keeps running afterwards with the CRDs installed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from transom.agent.enroll import enroll
from transom.agent.runner import AgentOptions
from transom.agent.service import RunSettings, run_agent
from transom.api import names
from transom.controller import report, setup
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.controller.trace import trace
from transom.dev import background
from transom.dev.controlplane import binaries
from transom.dev.flux import FluxControllers, git_repository, kustomization, ready_at
from transom.dev.gitserver import GitServer
from transom.engine.policy import HostPolicy
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, GIT_REPOSITORIES, KUSTOMIZATIONS, NAMESPACES

HOSTS = ("web-0", "web-1", "web-2")
NAMESPACE = "windows"
FLUX_NAMESPACE = "flux-system"


def step(message: str) -> None:
    print(f"\n==> {message}", file=sys.stderr, flush=True)


def configuration(root: Path, version: str) -> dict[str, Any]:
    base = f"{root}/$(host.name)"
    return {
        "apiVersion": "transom.dev/v1alpha1",
        "kind": "Configuration",
        "metadata": {"name": "web-farm"},
        "spec": {
            "hostSelector": {"matchLabels": {"role": "web"}},
            "rollout": {"maxUnavailable": 1},
            "resources": [
                {"name": "site-root", "directory": {"path": f"{base}/site", "mode": "0755"}},
                {
                    "name": "index",
                    "dependsOn": ["site-root"],
                    "file": {
                        "path": f"{base}/site/index.html",
                        "mode": "0644",
                        "content": f"<h1>$(host.name) runs {version}</h1>\n",
                    },
                },
                {
                    "name": "app-config",
                    "dependsOn": ["site-root"],
                    "file": {
                        "path": f"{base}/site/app.conf",
                        "mode": "0640",
                        "content": "listen = 8080\nworkers = 4\n",
                    },
                },
            ],
        },
    }


async def show_until_ready(kube: Kube, revision: str, timeout: float = 300) -> None:
    """Print the per-host table whenever it changes, until Flux reports Ready at revision."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ks = await kube.get(KUSTOMIZATIONS.path(FLUX_NAMESPACE, "windows"))
        ready: dict[str, Any] = next(
            (c for c in (ks.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"),
            {},
        )
        table = report.render(await report.rows(kube))
        flux_line = (
            f"Kustomization {FLUX_NAMESPACE}/windows: Ready={ready.get('status', '-')} "
            f"({ready.get('reason', '')}) lastApplied="
            f"{(ks.get('status') or {}).get('lastAppliedRevision', '-')}"
        )
        if table + flux_line != last:
            print(f"\n[{time.strftime('%H:%M:%S')}] {flux_line}\n{table}", flush=True)
            last = table + flux_line
        if ready_at(revision)(ks):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Kustomization not Ready at {revision} after {timeout:.0f} s")


async def scenario(kubeconfig: Path, work: Path) -> None:
    async with Kube(KubeConfig.from_file(kubeconfig), field_manager="transom-demo") as kube:
        step("installing Transom: CRDs, bootstrap RBAC, host admission policy")
        await setup.ensure(kube)
        controller = asyncio.create_task(Controller(kube, liveness_interval=0.5).run())

        step(f"enrolling {len(HOSTS)} hosts with one enrollment token (CSR, approved, signed)")
        token = await create_token(kube, list(HOSTS), labels={"role": "web"})
        cp_dir = background.default_dir()
        ca_pem = (cp_dir / "pki" / "ca.crt").read_bytes()
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        roots = work / "hosts"
        roots.mkdir(parents=True)
        agents = []
        for host in HOSTS:
            await enroll(server, token.value, host, state_dir=work / "state" / host, ca_pem=ca_pem)
            print(f"    {host}: enrolled as {names.host_user(host)}", file=sys.stderr)
            settings = RunSettings(
                state_dir=work / "state" / host,
                policy=HostPolicy(path_roots=(str(roots),)),
                options=AgentOptions(lease_duration_seconds=6, renew_interval_seconds=2.0),
            )
            agents.append(asyncio.create_task(run_agent(settings)))

        with GitServer(work / "git") as git:
            repo = git.create_repository("fleet")
            step("committing v1 of clusters/demo/windows/web-farm.yaml")
            sha = repo.commit(
                {
                    "clusters/demo/windows/web-farm.yaml": yaml.safe_dump(
                        configuration(roots, "v1"), sort_keys=False
                    )
                },
                "v1",
            )
            v1 = repo.revision(sha)
            await kube.apply(
                NAMESPACES.path(name=NAMESPACE),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            )
            await kube.apply(
                GIT_REPOSITORIES.path(FLUX_NAMESPACE, "fleet"),
                git_repository("fleet", FLUX_NAMESPACE, repo.url),
            )
            await kube.apply(
                KUSTOMIZATIONS.path(FLUX_NAMESPACE, "windows"),
                kustomization(
                    "windows",
                    FLUX_NAMESPACE,
                    "fleet",
                    "./clusters/demo/windows",
                    target_namespace=NAMESPACE,
                    wait=True,
                    timeout="5m",
                ),
            )
            step(f"waiting for Flux to say Ready at {v1}: only when every host runs it")
            await show_until_ready(kube, v1)

            step("drift: someone edits web-1's index.html by hand")
            index = roots / "web-1" / "site" / "index.html"
            before = index.read_text()
            index.write_text("<h1>defaced</h1>\n")
            t0 = time.monotonic()
            while index.read_text() != before:
                await asyncio.sleep(0.02)
            print(
                f"    corrected in {(time.monotonic() - t0) * 1000:.0f} ms: "
                f"{index.read_text().strip()}",
                flush=True,
            )

            step("transom trace web-1 index")
            await asyncio.sleep(1)
            for t in await trace(kube, "web-1", "index"):
                print(t.render(), flush=True)

        conf = await kube.get(CONFIGURATIONS.path(NAMESPACE, "web-farm"))
        print(
            f"\nConfiguration {NAMESPACE}/web-farm: {conf['status']['summary']} hosts, "
            f"revision {conf['status']['revision']}",
            flush=True,
        )
        for task in (*agents, controller):
            task.cancel()
        await asyncio.gather(*agents, controller, return_exceptions=True)


def main() -> int:
    step("starting a fresh local control plane (the first run builds it: about 15 minutes)")
    cp_dir = background.default_dir()
    background.down(cp_dir)
    kubeconfig = background.up(cp_dir)
    work = cp_dir.parent / "demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    step("starting Flux: source-controller and kustomize-controller, out of cluster")
    with FluxControllers(kubeconfig, work / "flux") as flux:
        print(f"    ready in {flux.startup_seconds:.1f} s", file=sys.stderr)
        asyncio.run(scenario(kubeconfig, work))
    step("kubectl get configurations,assignments -A")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    kubectl = str(binaries() / "kubectl")
    subprocess.run([kubectl, "get", "configurations,assignments", "-A"], check=True, env=env)
    print(
        f"\nThe control plane keeps running (the agents and Flux stopped with the demo):\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  {kubectl} explain configuration.spec.resources.file\n"
        f"Stop it with: .venv/bin/transom dev controlplane down",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
