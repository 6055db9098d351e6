"""Many agents in one process, for benchmarks and fleet tests against a real control plane.

Each simulated host is a real `Agent`: its own key and client certificate (so the apiserver
sees ``transom:host:<name>`` and RBAC applies), its own watch, Lease and status writes, and the
posix engine converging paths under the simulator's workdir (each host also has its own
``root`` there, for per-host paths). Only the certificates are obtained in bulk:
one bootstrap token submits every CSR (the requester the controller expects), so either the
real controller approves them or, with ``approve=True``, the simulator does as admin.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transom.agent.enroll import DEFAULT_EXPIRATION_SECONDS, csr_object, make_csr, new_key
from transom.agent.runner import Agent, AgentOptions, agent_kube
from transom.api import names, rbac
from transom.api.wire import API_VERSION
from transom.engine.policy import HostPolicy
from transom.engine.provider import Provider
from transom.engine.reboot import Rebooter
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import (
    CSRS,
    HOSTS,
    NAMESPACES,
    SECRETS,
    path_of,
)
from transom.providers.posix import posix_providers

log = logging.getLogger(__name__)

#: Scale runs: no drift-monitor thread nor audit log per host; the heartbeat as on hosts.
SCALE_OPTIONS = AgentOptions(drift_monitor=False, audit=False)


@dataclass
class SimulatedHost:
    name: str
    root: Path
    kube: Kube
    agent: Agent
    task: asyncio.Task[None] | None = None
    #: Its client certificate and key, to start its agent again after a simulated reboot.
    cert: bytes = b""
    key: bytes = b""


@dataclass
class Simulator:
    """``async with Simulator(admin, count=100, workdir=d) as sim:`` starts every agent."""

    admin: KubeConfig
    count: int
    workdir: Path
    prefix: str = "sim"
    #: The first host's number: several simulators (processes) can share one fleet's names.
    first: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    options: AgentOptions = field(default_factory=lambda: SCALE_OPTIONS)
    #: Create namespace, RBAC and Host as admin (no controller running).
    provision: bool = True
    #: Approve the CSRs as admin (no controller running).
    approve: bool = True
    expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS
    #: Concurrent admin/bootstrap requests while setting up.
    concurrency: int = 32
    #: Agents started together; the next batch starts once these have listed.
    start_batch: int = 50
    #: Enrollment gives up when no certificate (any host's: simulators in other processes
    #: share the approver) was signed for this long. A fleet's CSRs are approved over
    #: minutes, in no order of ours: progress, not a total, is what to wait on.
    enroll_stall_seconds: float = 120.0
    #: Each host's Rebooter (None: the agents never reboot), and its providers when not the
    #: posix ones (a provider that asks for reboots, say).
    rebooter_for: Callable[[str], Rebooter] | None = None
    providers_for: Callable[[str], Mapping[str, Provider[Any]]] | None = None
    #: The loopback address the agents connect from (None: the system's choice).
    source_address: str | None = None
    hosts: list[SimulatedHost] = field(default_factory=list)
    setup_seconds: float = 0.0
    #: Cumulative seconds at the end of each set-up phase.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = [f"{self.prefix}-{i}" for i in range(self.first, self.first + self.count)]
        self._token_id = secrets.token_hex(3)
        self._admin_kube: Kube | None = None

    async def __aenter__(self) -> Simulator:
        try:
            await self.start()
        except BaseException:
            await self.stop()  # nothing left open by a set-up that failed
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def kube(self) -> Kube:
        if self._admin_kube is None:
            self._admin_kube = Kube(self.admin, field_manager="transom-simulator")
        return self._admin_kube

    async def start(self) -> None:
        t0 = time.monotonic()
        token = await self._token()
        if self.provision:
            for obj in rbac.bootstrap_rbac():
                await self.kube.apply(path_of(obj), obj)
            await self._gather(self._provision(n) for n in self.names)
        self.phase_seconds["provision"] = time.monotonic() - t0
        certs = await self._certificates(token)
        self.phase_seconds["certificates"] = time.monotonic() - t0
        if self.labels and not self.provision:
            await self._gather(self._label(n) for n in self.names)
        # Agents start in batches: a thousand TLS handshakes and first lists at once would
        # time out on a small apiserver, as a fleet rebooting all at once would.
        for i in range(0, self.count, self.start_batch):
            batch = [
                self._host(name, *certs[name]) for name in self.names[i : i + self.start_batch]
            ]
            self.hosts.extend(batch)
            await asyncio.gather(*(self._synced(h) for h in batch))
        self.setup_seconds = self.phase_seconds["synced"] = time.monotonic() - t0
        log.info("simulator: %d agents up in %s", self.count, self.phase_seconds)

    def _host(self, name: str, cert: bytes, key: bytes) -> SimulatedHost:
        root = self.workdir / name / "root"
        root.mkdir(parents=True, exist_ok=True)
        config = KubeConfig(
            server=self.admin.server, ca_pem=self.admin.ca_pem, cert_pem=cert, key_pem=key
        )
        kube = agent_kube(config, source_address=self.source_address)
        providers = (
            self.providers_for(name)
            if self.providers_for is not None
            else posix_providers(str(self.workdir / name / "cache"))
        )
        agent = Agent(
            name,
            kube,
            providers=providers,
            state_dir=self.workdir / name / "state",
            # The whole workdir: one Configuration names the same paths on every host.
            policy=HostPolicy(path_roots=(str(self.workdir),), allow_scripts=True),
            options=self.options,
            rebooter=self.rebooter_for(name) if self.rebooter_for is not None else None,
        )
        host = SimulatedHost(name, root, kube, agent, cert=cert, key=key)
        host.task = asyncio.create_task(agent.run(), name=f"agent {name}")
        return host

    async def power_off(self, host: SimulatedHost) -> None:
        """The host goes down: its agent stops where it is, as in a reboot."""
        if host.task is not None:
            host.task.cancel()
            await asyncio.gather(host.task, return_exceptions=True)
            host.task = None
        await host.kube.close()

    async def power_on(self, host: SimulatedHost) -> SimulatedHost:
        """The host is back: a new agent process on the same state directory."""
        again = self._host(host.name, host.cert, host.key)
        self.hosts[self.hosts.index(host)] = again
        return again

    @staticmethod
    async def _synced(host: SimulatedHost) -> None:
        """Wait for the agent's first list of Assignments; fail if the agent dies first."""
        assert host.task is not None
        waiter = asyncio.create_task(host.agent.synced.wait())
        await asyncio.wait({waiter, host.task}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            raise RuntimeError(f"agent {host.name} stopped: {host.task.exception()!r}")

    async def stop(self) -> None:
        for h in self.hosts:
            if h.task is not None:
                h.task.cancel()
        await asyncio.gather(*(h.task for h in self.hosts if h.task), return_exceptions=True)
        for h in self.hosts:
            await h.kube.close()
        await self.kube.delete(SECRETS.path("kube-system", f"bootstrap-token-{self._token_id}"))
        await self.kube.close()

    async def cleanup(self) -> None:
        """Delete what `provision` created (namespaces, RBAC, Hosts)."""

        async def one(name: str) -> None:
            await self.kube.delete(HOSTS.path(name=name))
            await self.kube.delete(NAMESPACES.path(name=names.host_namespace(name)))

        await self._gather(one(n) for n in self.names)

    def requests(self) -> Counter[str]:
        """Requests all agents sent, by "METHOD path"."""
        total: Counter[str] = Counter()
        for h in self.hosts:
            total.update(h.kube.requests)
        return total

    def reset_requests(self) -> None:
        for h in self.hosts:
            h.kube.requests.clear()

    # -- setup ------------------------------------------------------------------------------

    async def _gather(self, calls: Any) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def bounded(call: Any) -> None:
            async with gate:
                await call

        await asyncio.gather(*(bounded(c) for c in calls))

    async def _token(self) -> str:
        token_secret = secrets.token_hex(8)
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        await self.kube.create(
            SECRETS.path("kube-system"),
            {
                "metadata": {
                    "name": f"bootstrap-token-{self._token_id}",
                    "annotations": {
                        names.ANNOTATION_ALLOWED_HOSTS: ",".join(self.names),
                        names.ANNOTATION_MAX_USES: str(self.count),
                    },
                },
                "type": "bootstrap.kubernetes.io/token",
                "stringData": {
                    "token-id": self._token_id,
                    "token-secret": token_secret,
                    "expiration": expiration,
                    "usage-bootstrap-authentication": "true",
                    "auth-extra-groups": names.BOOTSTRAPPERS_GROUP,
                },
            },
        )
        return f"{self._token_id}.{token_secret}"

    async def _create_ok(self, path: str, body: dict[str, Any]) -> None:
        try:
            await self.kube.create(path, body)
        except ApiError as exc:
            if exc.status != 409:  # the controller may have made it already
                raise

    async def _provision(self, host: str) -> None:
        await self._create_ok(NAMESPACES.path(), {"metadata": {"name": names.host_namespace(host)}})
        for obj in rbac.host_rbac(host):
            await self.kube.apply(path_of(obj), obj)
        await self._create_ok(
            HOSTS.path(),
            {
                "apiVersion": API_VERSION,
                "kind": "Host",
                "metadata": {"name": host, "labels": self.labels},
            },
        )

    async def _label(self, host: str) -> None:
        """Label a Host the controller created on approval."""
        deadline = time.monotonic() + 60
        while True:
            try:
                await self.kube.patch(HOSTS.path(name=host), {"metadata": {"labels": self.labels}})
                return
            except ApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def _certificates(self, token: str) -> dict[str, tuple[bytes, bytes]]:
        """Submit one CSR per host with the bootstrap token; collect the signed certs."""
        keys: dict[str, bytes] = {}
        created: dict[str, dict[str, Any]] = {}
        bootstrap = Kube(
            KubeConfig(server=self.admin.server, ca_pem=self.admin.ca_pem, token=token),
            field_manager="transom-agent",
        )

        async def submit(host: str) -> None:
            key, key_pem = new_key()
            keys[host] = key_pem
            body = csr_object(host, make_csr(host, key), self.expiration_seconds)
            created[host] = await bootstrap.create(CSRS.path(), body)

        listed = await self.kube.list(CSRS.path())
        rv = listed["metadata"]["resourceVersion"]
        try:
            await self._gather(submit(h) for h in self.names)
        finally:
            await bootstrap.close()
        if self.approve:
            await self._gather(self._approve(obj) for obj in created.values())
        by_csr = {obj["metadata"]["name"]: host for host, obj in created.items()}
        certs: dict[str, tuple[bytes, bytes]] = {}
        stall = self.enroll_stall_seconds
        deadline = time.monotonic() + stall
        while len(certs) < self.count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no certificate signed for {stall:g} s (any host's): {len(certs)} of "
                    f"these {self.count} signed"
                )
            async for event in self.kube.watch(
                CSRS.path(),
                resource_version=rv,
                timeout_seconds=max(1, min(30, math.ceil(deadline - time.monotonic()))),
            ):
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    break
                rv = obj["metadata"]["resourceVersion"]
                if (obj.get("status") or {}).get("certificate"):
                    deadline = time.monotonic() + stall  # the fleet's enrollment moves on
                host = by_csr.get(obj["metadata"].get("name", ""))  # bookmarks have none
                if host is not None:
                    cert = self._signed(obj, host)
                    if cert is not None:
                        certs[host] = (cert, keys[host])
                if len(certs) == self.count:
                    break
        return certs

    @staticmethod
    def _signed(obj: dict[str, Any], host: str) -> bytes | None:
        status = obj.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") in ("Denied", "Failed"):
                raise RuntimeError(
                    f"certificate request for {host} {cond['type'].lower()}: "
                    f"{cond.get('message', '')}"
                )
        cert = status.get("certificate")
        return base64.b64decode(cert) if cert else None

    async def _approve(self, obj: dict[str, Any]) -> None:
        obj["status"] = {
            "conditions": [
                {
                    "type": "Approved",
                    "status": "True",
                    "reason": "TransomSimulator",
                    "message": "simulated host",
                }
            ]
        }
        try:
            await self.kube.replace(
                CSRS.path(name=obj["metadata"]["name"], subresource="approval"), obj
            )
        except ApiError as exc:
            if exc.status != 409:  # the controller decided first
                raise
