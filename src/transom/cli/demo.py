"""`make demo`: the whole story on one machine.

A fresh local control plane; real Flux (source-controller, kustomize-controller) fed by a
Git server on loopback; the Transom controller; three enrolled agents converging their own
directories, and a web server on loopback serving them (each host's "site"). A commit goes to
every host, canary first; each host is Ready only once its readiness probe (an HTTP GET of its
health page) passes for minReadySeconds, and Flux says Ready only when every host is. Then an
out-of-band change on one host is corrected, and `transom trace` follows a file back to its
commit. Then a bad commit breaks the health page: the canary's probe fails past its deadline,
the canary rolls back to the last commit that was Ready there, the rollout halts before the
other hosts, and Flux says why; a fix commit rolls out everywhere. The control plane keeps
running afterwards with the CRDs installed.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from transom.kube import kinds
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import (
    CONFIGURATIONS,
    EVENTS,
    GIT_REPOSITORIES,
    KUSTOMIZATIONS,
    NAMESPACES,
)

HOSTS = ("web-0", "web-1", "web-2")
CANARY = HOSTS[0]
NAMESPACE = "windows"
FLUX_NAMESPACE = "flux-system"


def step(message: str) -> None:
    print(f"\n==> {message}", file=sys.stderr, flush=True)


def configuration(
    root: Path, version: str, site_url: str, *, healthy: bool = True
) -> dict[str, Any]:
    base = f"{root}/$(host.name)"
    return {
        "apiVersion": "transom.dev/v1alpha1",
        "kind": "Configuration",
        "metadata": {"name": "web-farm"},
        "spec": {
            "hostSelector": {"matchLabels": {"role": "web"}},
            "rollout": {
                "maxUnavailable": 1,
                "partitions": [
                    {"name": "canary", "hostSelector": {"matchLabels": {"wave": "canary"}}}
                ],
                "rollback": {"onFailure": True},
            },
            "readiness": {
                "probes": [
                    {
                        "name": "site",
                        "http": {"url": f"{site_url}/$(host.name)/site/health", "bodyRegex": "^ok"},
                    }
                ],
                "periodSeconds": 1,
                "failureThreshold": 2,
                "minReadySeconds": 2,
                "progressDeadlineSeconds": 6,
            },
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
                {
                    "name": "health",
                    "dependsOn": ["site-root"],
                    "file": {
                        "path": f"{base}/site/health",
                        "mode": "0644",
                        # The bad commit's app cannot reach its database: the page says so.
                        "content": f"ok {version}\n"
                        if healthy
                        else "error: database unreachable\n",
                    },
                },
            ],
        },
    }


async def show_until_ready(kube: Kube, revision: str, timeout: float = 300) -> None:
    """Print the per-host table whenever it changes, until Flux reports Ready at revision."""
    await show_until(kube, ready_at(revision), f"Kustomization not Ready at {revision}", timeout)


def failed_at(revision: str) -> Callable[[dict[str, Any]], bool]:
    """Flux tried ``revision`` and its health check failed: not Ready, revision unchanged."""

    def check(ks: dict[str, Any]) -> bool:
        status = ks.get("status") or {}
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c["type"] == "Ready"), {}
        )
        return status.get("lastAttemptedRevision") == revision and ready.get("status") == "False"

    return check


async def show_until(
    kube: Kube, done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 300
) -> None:
    """Print the per-host table whenever it changes, until ``done`` says so of the
    Kustomization."""
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
        if done(ks):
            if ready.get("status") == "False" and ready.get("message"):
                print(f"    Flux says: {ready['message'][:300]}", flush=True)
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{what} after {timeout:.0f} s")


@contextmanager
def site_server(root: Path) -> Iterator[str]:
    """A static web server on loopback serving every host's files, standing in for each
    host's IIS site: what the agents write is what it answers."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def rollback_notes(kube: Kube, host: str) -> list[str]:
    """What the host's agent said when it rolled back (its Events)."""
    events = (await kube.list(EVENTS.path(names.host_namespace(host))))["items"]
    events.sort(key=lambda e: e.get("eventTime") or "")
    return [f"{e['reason']}: {e['note']}" for e in events if e.get("action") == "Rollback"]


async def bad_commit_then_fix(kube: Kube, commit: Callable[..., str], roots: Path) -> None:
    step("committing v2, a bad commit: the health page now says the database is down")
    v2 = commit("v2", healthy=False)
    started = time.monotonic()
    step(
        f"the canary ({CANARY}) probes for 6 s (progressDeadlineSeconds), rolls back to v1 "
        "from its own journal; the rollout halts before web-1 and web-2"
    )
    await show_until(kube, failed_at(v2), f"Kustomization not failed at {v2}")
    print(f"    bad commit to halted rollout: {time.monotonic() - started:.1f} s", flush=True)
    conf = await kube.get(CONFIGURATIONS.path(NAMESPACE, "web-farm"))
    ready = next(c for c in conf["status"]["conditions"] if c["type"] == "Ready")
    print(f"    Configuration says ({ready['reason']}): {ready['message']}", flush=True)
    for note in await rollback_notes(kube, CANARY):
        print(f"    {CANARY}'s agent: {note}", flush=True)
    health = (roots / CANARY / "site" / "health").read_text().strip()
    print(f"    {CANARY}'s health page again: {health!r}", flush=True)

    step("committing v3, the fix: it rolls out everywhere, canary first")
    await show_until_ready(kube, commit("v3"))


async def scenario(kubeconfig: Path, work: Path, ca_pem: bytes) -> None:
    async with Kube(KubeConfig.from_file(kubeconfig), field_manager="transom-demo") as kube:
        step("installing Transom: CRDs, bootstrap RBAC, host admission policy")
        await setup.ensure(kube)
        controller = asyncio.create_task(Controller(kube, liveness_interval=0.5).run())

        step(f"enrolling {len(HOSTS)} hosts with one enrollment token (CSR, approved, signed)")
        token = await create_token(kube, list(HOSTS), labels={"role": "web"})
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        roots = work / "hosts"
        roots.mkdir(parents=True)
        agents = []
        for host in HOSTS:
            await enroll(server, token.value, host, state_dir=work / "state" / host, ca_pem=ca_pem)
            print(f"    {host}: enrolled as {names.host_user(host)}", file=sys.stderr)
            if host == CANARY:
                await kube.patch(
                    kinds.HOSTS.path(name=host), {"metadata": {"labels": {"wave": "canary"}}}
                )
                print(f"    {host}: labelled wave=canary (the first partition)", file=sys.stderr)
            settings = RunSettings(
                state_dir=work / "state" / host,
                policy=HostPolicy(path_roots=(str(roots),)),
                options=AgentOptions(lease_duration_seconds=6, renew_interval_seconds=2.0),
            )
            agents.append(asyncio.create_task(run_agent(settings)))

        with GitServer(work / "git") as git, site_server(roots) as site_url:
            repo = git.create_repository("fleet")

            def commit(version: str, *, healthy: bool = True) -> str:
                doc = configuration(roots, version, site_url, healthy=healthy)
                sha = repo.commit(
                    {"clusters/demo/windows/web-farm.yaml": yaml.safe_dump(doc, sort_keys=False)},
                    version,
                )
                return repo.revision(sha)

            step("committing v1 of clusters/demo/windows/web-farm.yaml")
            v1 = commit("v1")
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
            step(
                f"waiting for Flux to say Ready at {v1}: only when every host runs it and its "
                "probe (GET its health page) passed for 2 s; canary first"
            )
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

            await bad_commit_then_fix(kube, commit, roots)

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
        asyncio.run(scenario(kubeconfig, work, (cp_dir / "pki" / "ca.crt").read_bytes()))
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
