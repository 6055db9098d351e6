"""Flux's source-controller and kustomize-controller, run out of cluster against a control plane.

Built from pinned Go modules by tools/flux/build.sh, which also copies their CRDs out of the
module cache; both are cached by version. The controllers read `KUBECONFIG` (they have no
`--kubeconfig` flag), listen on loopback only, and are tied to this process like the control
plane's, so a killed test run leaves no orphans.

    with ControlPlane() as cp, FluxControllers(cp) as flux, GitServer() as git:
        repo = git.create_repository("fleet")
        sha = repo.commit({"app/cm.yaml": "..."})
        await kube.apply(GIT_REPOSITORIES.path(ns, "fleet"), git_repository("fleet", ns, repo.url))
        await kube.apply(KUSTOMIZATIONS.path(ns, "app"), kustomization("app", ns, "fleet", "./app"))
        await wait_for(kube, KUSTOMIZATIONS, ns, "app", ready_at(repo.revision(sha)))
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from transom.dev.controlplane import REPO_ROOT, ControlPlane
from transom.dev.processes import Process, Supervisor, free_port, wait_ready
from transom.kube.client import Kube, Obj
from transom.kube.config import KubeConfig
from transom.kube.install import apply_crds
from transom.kube.kinds import NAMESPACES, Kind

BUILD_SCRIPT = REPO_ROOT / "tools" / "flux" / "build.sh"
FLUX_NAMESPACE = "flux-system"
# Failures are retried with exponential back-off capped here; Flux's default cap (15 min) would
# stall a test waiting for a fixed commit to be picked up.
MAX_RETRY_DELAY = "5s"


class FluxError(RuntimeError):
    pass


def binaries() -> Path:
    """The bin directory holding source-controller, kustomize-controller and crds/; builds
    them on first use (progress on stderr)."""
    override = os.environ.get("TRANSOM_FLUX_BIN")
    if override:
        return Path(override)
    out = subprocess.run([str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def crd_manifests(bin_dir: Path) -> list[Obj]:
    """Flux's CRDs as copied from the module cache by the build."""
    docs: list[Obj] = []
    for path in sorted((bin_dir / "crds").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    if not docs:
        raise FluxError(f"no Flux CRDs in {bin_dir / 'crds'}; run tools/flux/build.sh")
    return docs


async def install_flux(kube: Kube, bin_dir: Path, timeout: float = 60.0) -> list[str]:
    """Apply Flux's CRDs (waiting until Established) and create the flux-system namespace."""
    names = await apply_crds(kube, crd_manifests(bin_dir), timeout)
    await kube.apply(
        NAMESPACES.path(name=FLUX_NAMESPACE),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}},
    )
    return names


class FluxControllers(Supervisor):
    """Start with `with FluxControllers(controlplane) as flux:`; `target` may also be the path
    of a kubeconfig with rights to install CRDs and to apply what the Kustomizations hold.
    Starting blocks (and runs its own event loop): from async code, use asyncio.to_thread."""

    def __init__(
        self,
        target: ControlPlane | Path,
        workdir: Path | None = None,
        *,
        bin_dir: Path | None = None,
        keep_workdir: bool = False,
    ) -> None:
        self.kubeconfig = target.kubeconfig if isinstance(target, ControlPlane) else target
        self._own_workdir = workdir is None
        self.keep_workdir = keep_workdir
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="transom-flux-"))
        self.logs = self.dir / "logs"
        self.storage_dir = self.dir / "storage"
        self.bin_dir = bin_dir
        self.storage_port = free_port()
        self.storage_url = f"http://127.0.0.1:{self.storage_port}"
        self._ports = {
            name: {"metrics": free_port(), "health": free_port()}
            for name in ("source-controller", "kustomize-controller")
        }
        self._procs: dict[str, Process] = {}
        self.startup_seconds = 0.0

    def start(self) -> None:
        t0 = time.monotonic()
        bins = self.bin_dir or binaries()
        self.bin_dir = bins
        for d in (self.logs, self.storage_dir):
            d.mkdir(parents=True, exist_ok=True)
        asyncio.run(self._install(bins))
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "RUNTIME_NAMESPACE": FLUX_NAMESPACE,
        }
        source = self._start(
            "source-controller",
            bins,
            env,
            [
                f"--storage-path={self.storage_dir}",
                f"--storage-addr=127.0.0.1:{self.storage_port}",
                f"--storage-adv-addr=127.0.0.1:{self.storage_port}",
            ],
        )
        # The artifact server starts with the manager: once it answers, sources can be served.
        self._wait(source, lambda: self._ready(source.name) and _listening(self.storage_port))
        kustomize = self._start(
            "kustomize-controller",
            bins,
            env,
            ["--no-remote-bases=true"],
        )
        self._wait(kustomize, lambda: self._ready(kustomize.name))
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        for name in ("kustomize-controller", "source-controller"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                proc.stop()
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        return {n: p.popen.pid for n, p in self._procs.items() if p.popen is not None}

    def log(self, name: str) -> Path:
        """The log file of "source-controller" or "kustomize-controller"."""
        return self.logs / f"{name}.log"

    async def _install(self, bins: Path) -> None:
        async with Kube(KubeConfig.from_file(self.kubeconfig)) as kube:
            await install_flux(kube, bins)

    def _start(self, name: str, bins: Path, env: dict[str, str], extra: list[str]) -> Process:
        ports = self._ports[name]
        args = [
            str(bins / name),
            f"--metrics-addr=127.0.0.1:{ports['metrics']}",
            f"--health-addr=127.0.0.1:{ports['health']}",
            "--watch-all-namespaces=true",
            "--log-encoding=console",
            # Dependencies and failures are retried soon: tests wait on them, not hours of users.
            "--requeue-dependency=2s",
            "--min-retry-delay=250ms",
            f"--max-retry-delay={MAX_RETRY_DELAY}",
            *extra,
        ]
        proc = Process(name, args, self.log(name), env=env)
        self._procs[name] = proc
        proc.start()
        return proc

    def _wait(self, proc: Process, check: Callable[[], bool]) -> None:
        wait_ready(check, proc, proc.name, 60, FluxError)

    def _ready(self, name: str) -> bool:
        url = f"http://127.0.0.1:{self._ports[name]['health']}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# -- Flux objects and waiting on them ----------------------------------------------------------

GIT_REPOSITORY_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"


def git_repository(
    name: str,
    namespace: str,
    url: str,
    *,
    branch: str = "main",
    interval: str = "2s",
    timeout: str = "20s",
    verify_secret: str | None = None,
) -> Obj:
    """`verify_secret` names a Secret of OpenPGP public keys: source-controller then verifies
    the signature of the commit at HEAD (spec.verify, mode HEAD) before it serves it."""
    spec: dict[str, Any] = {
        "url": url,
        "ref": {"branch": branch},
        "interval": interval,
        "timeout": timeout,
    }
    if verify_secret:
        spec["verify"] = {"mode": "HEAD", "secretRef": {"name": verify_secret}}
    return {
        "apiVersion": GIT_REPOSITORY_API,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def kustomization(
    name: str,
    namespace: str,
    source: str,
    path: str = "./",
    *,
    interval: str = "2s",
    retry_interval: str = "2s",
    timeout: str = "30s",
    wait: bool = False,
    health_checks: Sequence[Obj] = (),
    health_check_exprs: Sequence[Obj] = (),
    target_namespace: str | None = None,
    prune: bool = True,
) -> Obj:
    """A Kustomization of `path` in the GitRepository `source` (same namespace). Health checks:
    `wait` checks everything applied; otherwise `health_checks` lists objects
    ({apiVersion, kind, name, namespace}); `health_check_exprs` adds CEL rules per kind
    ({apiVersion, kind, current, inProgress, failed}). Health checks poll every 5 s for up
    to `timeout`, which Flux raises to at least 30 s; an object whose check says Failed (or
    Stalled) fails them at once."""
    spec: dict[str, Any] = {
        "interval": interval,
        "retryInterval": retry_interval,
        "timeout": timeout,
        "sourceRef": {"kind": "GitRepository", "name": source},
        "path": path,
        "prune": prune,
        "wait": wait,
    }
    if health_checks:
        spec["healthChecks"] = list(health_checks)
    if health_check_exprs:
        spec["healthCheckExprs"] = list(health_check_exprs)
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    return {
        "apiVersion": KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def condition(obj: Obj, type_: str = "Ready") -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def ready_at(revision: str) -> Callable[[Obj], bool]:
    """True once the object is Ready for its current generation at `revision` (a GitRepository's
    artifact revision, or a Kustomization's lastAppliedRevision)."""

    def check(obj: Obj) -> bool:
        status = obj.get("status") or {}
        ready = condition(obj)
        return (
            ready is not None
            and ready.get("status") == "True"
            and status.get("observedGeneration") == obj["metadata"].get("generation")
            and revision
            in (status.get("lastAppliedRevision"), (status.get("artifact") or {}).get("revision"))
        )

    return check


def not_ready(reason: str) -> Callable[[Obj], bool]:
    """True once the Ready condition is False with `reason` (e.g. HealthCheckFailed)."""

    def check(obj: Obj) -> bool:
        ready = condition(obj)
        return ready is not None and ready.get("status") == "False" and ready["reason"] == reason

    return check


async def wait_for(
    kube: Kube,
    kind: Kind,
    namespace: str,
    name: str,
    check: Callable[[Obj], bool],
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
) -> Obj:
    """Poll the object until `check` holds; return it. On timeout the error shows its status."""
    deadline = time.monotonic() + timeout
    obj: Obj | None = None
    while time.monotonic() < deadline:
        obj = await kube.get_or_none(kind.path(namespace, name))
        if obj is not None and check(obj):
            return obj
        await asyncio.sleep(interval)
    status = None if obj is None else obj.get("status")
    raise TimeoutError(f"{kind.plural} {namespace}/{name} after {timeout:.0f} s: {status}")
