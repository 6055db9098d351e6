"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

Built from pinned Go modules by tools/controlplane/build.sh (cached by version) and started
here with PKI made on the fly. Used by the test suite, the demo and `transom dev controlplane`.
Every process is tied to its parent (PR_SET_PDEATHSIG), so a killed test run leaves no orphans.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transom.dev import pki
from transom.dev.processes import Process, Supervisor, free_port, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "tools" / "controlplane" / "build.sh"
SERVICE_CIDR = "10.0.0.0/24"
ADMIN_USER = "transom-admin"


class ControlPlaneError(RuntimeError):
    pass


def binaries() -> Path:
    """The bin directory holding etcd, kube-apiserver, kube-controller-manager and kubectl;
    builds them on first use (progress on stderr)."""
    override = os.environ.get("TRANSOM_CONTROLPLANE_BIN")
    if override:
        return Path(override)
    out = subprocess.run([str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return Path(out.strip().splitlines()[-1])


@dataclass
class ControlPlane(Supervisor):
    """Start with `with ControlPlane() as cp:`; `cp.kubeconfig` is an admin kubeconfig."""

    workdir: Path | None = None
    apiserver_args: list[str] = field(default_factory=list)
    keep_workdir: bool = False
    bin_dir: Path | None = None
    #: A kubeconfig-format file naming a TokenReview webhook (EKS's authenticator is one):
    #: bearer tokens no other authenticator accepts are sent there.
    token_webhook_config: Path | None = None
    #: kube-apiservers on the one etcd, as a highly available cluster runs them: each is a
    #: process with its own open-file limit, so clients spread over them reach past one's.
    apiservers: int = 1
    #: Each kube-apiserver's soft memory limit in MiB (Go's GOMEMLIMIT); 0: none. Go lets its
    #: heap grow to twice what is live before collecting, so a big fleet's apiservers can
    #: hold twice the memory they use; with a limit they collect (spending CPU) instead.
    apiserver_memory_mib: int = 0

    def __post_init__(self) -> None:
        # Checked before anything is made: a refusal leaves nothing behind.
        if self.apiservers < 1:
            raise ControlPlaneError(f"apiservers must be at least 1, not {self.apiservers}")
        if self.apiserver_memory_mib < 0:
            raise ControlPlaneError(
                "apiserver_memory_mib must be at least 0 (no limit), "
                f"not {self.apiserver_memory_mib}"
            )
        self._own_workdir = self.workdir is None
        self.dir = Path(self.workdir or tempfile.mkdtemp(prefix="transom-cp-"))
        self.pki_dir = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.etcd_port = free_port()
        self.apiserver_ports = [free_port() for _ in range(self.apiservers)]
        self.apiserver_port = self.apiserver_ports[0]
        self.kcm_port = free_port()
        self.urls = [f"https://127.0.0.1:{port}" for port in self.apiserver_ports]
        self.url = self.urls[0]
        #: An admin kubeconfig per kube-apiserver, the first being ``kubeconfig``.
        self.kubeconfigs = [self.kubeconfig] + [
            self.dir / f"admin-{i + 1}.kubeconfig" for i in range(1, self.apiservers)
        ]
        self._procs: dict[str, Process] = {}
        self.startup_seconds = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.monotonic()
        bins = self.bin_dir or binaries()
        self.bin_dir = bins
        for d in (self.pki_dir, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self._make_pki()
        for url, path in zip(self.urls, self.kubeconfigs, strict=True):
            self._write_kubeconfig(path, self.admin, url=url)
        self._procs["etcd"] = Process("etcd", self._etcd_args(bins), self.logs / "etcd.log")
        self._procs["etcd"].start()
        self._wait(self._etcd_healthy, "etcd", 30)
        for i, name in enumerate(self.apiserver_names):
            self._procs[name] = Process(
                name,
                self._apiserver_args(bins, i),
                self.logs / f"{name}.log",
                env=self._apiserver_env(),
            )
            self._procs[name].start()
        for i, name in enumerate(self.apiserver_names):
            self._wait(functools.partial(self.apiserver_ready, i), name, 90)
        self._procs["kube-controller-manager"] = Process(
            "kube-controller-manager",
            self._kcm_args(bins),
            self.logs / "kube-controller-manager.log",
        )
        self._procs["kube-controller-manager"].start()
        self._wait(self._kcm_healthy, "kube-controller-manager", 60)
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        for name in ("kube-controller-manager", *reversed(self.apiserver_names), "etcd"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                proc.stop()
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart_apiserver(self, downtime: float = 0.0) -> None:
        """Stop and start kube-apiserver (fault tests); etcd keeps the data."""
        proc = self._procs["kube-apiserver"]
        proc.stop()
        time.sleep(downtime)
        proc.start()
        self._wait(self.apiserver_ready, "kube-apiserver", 90)

    @property
    def apiserver_names(self) -> list[str]:
        """The processes' names: kube-apiserver, then kube-apiserver-2, -3..."""
        return ["kube-apiserver"] + [f"kube-apiserver-{i + 1}" for i in range(1, self.apiservers)]

    def pids(self) -> dict[str, int]:
        return {n: p.popen.pid for n, p in self._procs.items() if p.popen is not None}

    # -- readiness -----------------------------------------------------------------------------

    def _wait(self, check: Callable[[], bool], name: str, timeout: float) -> None:
        wait_ready(check, self._procs.get(name), name, timeout, ControlPlaneError)

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.etcd_port}/health", timeout=1
            ) as r:
                return bool(json.load(r).get("health") == "true")
        except (OSError, ValueError):
            return False

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca.cert))
        ctx.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return ctx

    def apiserver_ready(self, index: int = 0) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 - our own https endpoint
                f"{self.urls[index]}/readyz", timeout=2, context=self.ssl_context()
            ) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _kcm_healthy(self) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # its serving cert is self-signed; loopback only
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{self.kcm_port}/healthz", timeout=2, context=ctx
            ) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    # -- configuration -------------------------------------------------------------------------

    def _make_pki(self) -> None:
        d = self.pki_dir
        self.ca = pki.make_ca(d, "ca")
        self.serving = pki.issue(
            self.ca,
            d,
            "apiserver",
            "kube-apiserver",
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
            ),
            server_ips=("127.0.0.1", "10.0.0.1"),
            client=False,
        )
        self.admin = pki.issue(self.ca, d, "admin", ADMIN_USER, organizations=("system:masters",))
        self.kcm_client = pki.issue(self.ca, d, "kcm", "system:kube-controller-manager")
        self.sa = pki.make_service_account_keys(d)

    def _write_kubeconfig(
        self, path: Path, pair: pki.KeyPair, user: str = "admin", url: str | None = None
    ) -> None:
        path.write_text(yaml.safe_dump(kubeconfig_dict(url or self.url, self.ca.cert, pair, user)))
        path.chmod(0o600)

    def _apiserver_env(self) -> dict[str, str] | None:
        if not self.apiserver_memory_mib:
            return None  # the environment as it is
        return {**os.environ, "GOMEMLIMIT": f"{self.apiserver_memory_mib}MiB"}

    def _etcd_args(self, bins: Path) -> list[str]:
        peer = free_port()
        return [
            str(bins / "etcd"),
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",  # test data: durability is not wanted, speed is
            "--log-level=warn",
        ]

    def _apiserver_args(self, bins: Path, index: int = 0) -> list[str]:
        # One of them keeps the `kubernetes` Service's endpoints: on one address with different
        # ports the others would rewrite it back and forth.
        reconciler = [] if index == 0 else ["--endpoint-reconciler-type=none"]
        return [
            str(bins / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--cert-dir={self.pki_dir}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--client-ca-file={self.ca.cert}",
            f"--secure-port={self.apiserver_ports[index]}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--enable-bootstrap-token-auth",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.sa.cert}",
            f"--service-account-signing-key-file={self.sa.key}",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=false",
            "--v=1",
            *reconciler,
            *self._token_webhook_args(),
            *self.apiserver_args,
        ]

    def _token_webhook_args(self) -> list[str]:
        if self.token_webhook_config is None:
            return []
        return [
            f"--authentication-token-webhook-config-file={self.token_webhook_config}",
            "--authentication-token-webhook-version=v1",
            # Tests change mappings between requests: remember an answer only briefly.
            "--authentication-token-webhook-cache-ttl=1s",
        ]

    def _kcm_args(self, bins: Path) -> list[str]:
        kubeconfig = self.dir / "kcm.kubeconfig"
        self._write_kubeconfig(kubeconfig, self.kcm_client, "kcm")
        return [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--secure-port={self.kcm_port}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            # CSRs for kubernetes.io/kube-apiserver-client are signed with the cluster CA, which
            # is also the apiserver's client CA: a signed host certificate authenticates.
            f"--cluster-signing-cert-file={self.ca.cert}",
            f"--cluster-signing-key-file={self.ca.key}",
            f"--service-account-private-key-file={self.sa.key}",
            f"--root-ca-file={self.ca.cert}",
            "--controllers=csrsigning,csrcleaner,namespace,garbagecollector,bootstrapsigner,"
            "tokencleaner,serviceaccount,serviceaccount-token",
            # Each controller acts as its own service account, as in a real cluster (the
            # csrsigning controller needs certificate-controller's rights to write status).
            "--use-service-account-credentials=true",
            "--v=1",
        ]


def kubeconfig_dict(
    server: str, ca_cert: Path, pair: pki.KeyPair | None, user: str, token: str | None = None
) -> dict[str, Any]:
    credentials: dict[str, Any] = {}
    if pair is not None:
        credentials = {"client-certificate": str(pair.cert), "client-key": str(pair.key)}
    if token is not None:
        credentials["token"] = token
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "transom-dev",
                "cluster": {"server": server, "certificate-authority": str(ca_cert)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": {"cluster": "transom-dev", "user": user}}],
        "current-context": user,
    }


def run_foreground(workdir: Path | None) -> int:
    """`transom dev controlplane up --foreground`: run until Ctrl-C, then stop cleanly."""
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with ControlPlane(workdir=workdir, keep_workdir=workdir is not None) as cp:
        print(f"control plane ready in {cp.startup_seconds:.1f} s", file=sys.stderr)
        print(f"export KUBECONFIG={cp.kubeconfig}")
        sys.stdout.flush()
        ready = cp.dir / "ready"
        ready.write_text(cp.url)
        while not stop:
            time.sleep(0.2)
        ready.unlink(missing_ok=True)
    return 0
