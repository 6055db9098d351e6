"""Agent tests stand on their own: a small stand-in plays the controller's part explicitly
(enrollment tokens, CSR approval, host namespace, RBAC from api/rbac.py, Assignments), so the
real agent runs against the real control plane without the real controller."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from transom.agent.enroll import Identity, enroll
from transom.agent.runner import Agent, AgentOptions
from transom.agent.store import FileSecretStore
from transom.api import names, rbac
from transom.api.wire import API_VERSION
from transom.controller import setup
from transom.dev.controlplane import ControlPlane
from transom.engine.policy import HostPolicy
from transom.engine.provider import Provider
from transom.engine.reboot import Rebooter
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import (
    ASSIGNMENTS,
    CSRS,
    HOSTS,
    NAMESPACES,
    SECRETS,
    Kind,
    path_of,
)
from transom.providers.posix import posix_providers
from transom.providers.posix.inotify import InotifyNotifier

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.1
) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
            if value:
                return value
        except (AssertionError, ApiError) as exc:
            last = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last error: {last})")


def csr_subject(obj: dict[str, Any]) -> tuple[str, list[str]]:
    req = x509.load_pem_x509_csr(base64.b64decode(obj["spec"]["request"]))
    cn = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (cn[0] if cn else ""), orgs


class StandIn:
    """The controller's part, done explicitly and simply."""

    def __init__(self, kube: Kube, cp: ControlPlane) -> None:
        self.kube = kube
        self.cp = cp
        self.hosts: list[str] = []
        self.tokens: list[str] = []
        self.decisions: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The controller's own cluster-wide set-up (host RBAC and the admission policy that
        # keeps a host to its own Host), not a list of it kept here.
        await setup.ensure(self.kube, crds=False)
        self._task = asyncio.create_task(self._approve_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for host in self.hosts:
            await self.kube.delete(HOSTS.path(name=host))
            await self.kube.delete(NAMESPACES.path(name=names.host_namespace(host)))
        for token_id in self.tokens:
            await self.kube.delete(SECRETS.path("kube-system", f"bootstrap-token-{token_id}"))

    # -- enrollment tokens and CSR approval ---------------------------------------------------

    async def token(self, allowed_hosts: str = "*") -> str:
        token_id, token_secret = secrets.token_hex(3), secrets.token_hex(8)
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        await self.kube.create(
            SECRETS.path("kube-system"),
            {
                "metadata": {
                    "name": f"bootstrap-token-{token_id}",
                    "annotations": {names.ANNOTATION_ALLOWED_HOSTS: allowed_hosts},
                },
                "type": "bootstrap.kubernetes.io/token",
                "stringData": {
                    "token-id": token_id,
                    "token-secret": token_secret,
                    "expiration": expiration,
                    "usage-bootstrap-authentication": "true",
                    "auth-extra-groups": names.BOOTSTRAPPERS_GROUP,
                },
            },
        )
        self.tokens.append(token_id)
        return f"{token_id}.{token_secret}"

    async def _allowed(self, obj: dict[str, Any]) -> str | None:
        """None when the requester may have this certificate, else why not."""
        spec = obj["spec"]
        cn, orgs = csr_subject(obj)
        host = names.host_from_user(cn)
        if host is None or orgs != [names.HOSTS_GROUP]:
            return f"subject must be CN=transom:host:<name>, O={names.HOSTS_GROUP}"
        user = spec.get("username", "")
        if user == cn:
            return None  # renewal by the host itself
        if names.BOOTSTRAPPERS_GROUP in (spec.get("groups") or []) and user.startswith(
            "system:bootstrap:"
        ):
            token_id = user.removeprefix("system:bootstrap:")
            secret = await self.kube.get_or_none(
                SECRETS.path("kube-system", f"bootstrap-token-{token_id}")
            )
            allowed = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(
                names.ANNOTATION_ALLOWED_HOSTS, ""
            )
            if allowed == "*" or host in allowed.split(","):
                return None
            return f"token {token_id} may not enroll host {host}"
        return f"{user} may not request a certificate for {cn}"

    async def _approve_loop(self) -> None:
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    listed = await self.kube.list(CSRS.path())
                    rv = listed["metadata"]["resourceVersion"]
                    for item in listed["items"]:
                        await self._decide(item)
                async for event in self.kube.watch(CSRS.path(), resource_version=rv):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        rv = None
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] == "ADDED":
                        await self._decide(obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)

    async def _decide(self, obj: dict[str, Any]) -> None:
        if obj["spec"].get("signerName") != names.CLIENT_SIGNER:
            return
        if (obj.get("status") or {}).get("conditions"):
            return
        why = await self._allowed(obj)
        kind = "Approved" if why is None else "Denied"
        obj.setdefault("status", {})["conditions"] = [
            {
                "type": kind,
                "status": "True",
                "reason": "TransomStandIn" + kind,
                "message": why or "requester may enroll this host",
            }
        ]
        name = obj["metadata"]["name"]
        self.decisions[name] = kind
        with contextlib.suppress(ApiError):
            await self.kube.replace(CSRS.path(name=name, subresource="approval"), obj)

    # -- per host ---------------------------------------------------------------------------

    async def provision(self, host: str, labels: dict[str, str] | None = None) -> None:
        """What the controller does for a newly approved host."""
        self.hosts.append(host)
        await self.kube.create(
            NAMESPACES.path(), {"metadata": {"name": names.host_namespace(host)}}
        )
        for obj in rbac.host_rbac(host):
            await self.kube.apply(path_of(obj), obj)
        await self.kube.create(
            HOSTS.path(),
            {
                "apiVersion": API_VERSION,
                "kind": "Host",
                "metadata": {"name": host, "labels": labels or {}},
            },
        )

    async def assign(
        self,
        host: str,
        resources: list[dict[str, Any]],
        *,
        configuration: str = "web",
        generation: int = 1,
        revision: str = "",
        mode: str = "ApplyAndAutoCorrect",
        removal_policy: str = "Orphan",
    ) -> dict[str, Any]:
        """Create or update the Assignment for (default, configuration)."""
        ns = names.host_namespace(host)
        name = names.assignment_name("default", configuration)
        spec = {
            "host": host,
            "source": {
                "configuration": {"namespace": "default", "name": configuration},
                "generation": generation,
                "revision": revision or f"main@sha1:{secrets.token_hex(20)}",
            },
            "resources": resources,
            "mode": mode,
            "removalPolicy": removal_policy,
        }
        existing = await self.kube.get_or_none(ASSIGNMENTS.path(ns, name))
        if existing is None:
            return await self.kube.create(
                ASSIGNMENTS.path(ns),
                {
                    "apiVersion": API_VERSION,
                    "kind": "Assignment",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": spec,
                },
            )
        return await self.kube.patch(ASSIGNMENTS.path(ns, name), {"spec": spec})

    async def assignment(self, host: str, configuration: str = "web") -> dict[str, Any]:
        ns = names.host_namespace(host)
        return await self.kube.get(
            ASSIGNMENTS.path(ns, names.assignment_name("default", configuration))
        )

    async def events(self, host: str) -> list[dict[str, Any]]:
        ns = names.host_namespace(host)
        listed = await self.kube.list(Kind("events.k8s.io", "v1", "events").path(ns))
        items: list[dict[str, Any]] = listed["items"]
        return items

    async def event(self, host: str, reason: str, text: str = "") -> dict[str, Any] | None:
        """The first Event with this reason whose note contains ``text``."""
        for e in await self.events(host):
            if e.get("reason") == reason and text in e.get("note", ""):
                return e
        return None


@pytest.fixture
async def standin(kube: Kube, controlplane: ControlPlane) -> AsyncIterator[StandIn]:
    s = StandIn(kube, controlplane)
    await s.start()
    yield s
    await s.stop()


def host_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@dataclass
class RunningAgent:
    identity: Identity
    kube: Kube
    agent: Agent
    task: asyncio.Task[None]
    state_dir: Path
    root: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.identity.config.host

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.kube.close()


class Agents:
    """Enrolls hosts through the real CSR flow and runs their agents in this event loop."""

    def __init__(self, standin: StandIn | None, cp: ControlPlane, tmp: Path) -> None:
        self.standin = standin
        self.cp = cp
        self.tmp = tmp
        self.running: list[RunningAgent] = []

    async def enroll(
        self, host: str, *, token: str | None = None, expiration_seconds: int = 3600
    ) -> Identity:
        """Enroll ``host``: with ``token``, approved by whatever approves CSRs (the controller);
        without, the stand-in makes the token, provisions the host and approves."""
        if token is None:
            assert self.standin is not None, "enrollment through the stand-in needs one"
            token = await self.standin.token(host)
            await self.standin.provision(host)
        state = self.tmp / host / "state"
        return await enroll(
            self.cp.url,
            token,
            host,
            state_dir=state,
            ca_pem=self.cp.ca.cert.read_bytes(),
            expiration_seconds=expiration_seconds,
            timeout=60,
            store=FileSecretStore(state),
        )

    async def start(
        self,
        identity: Identity,
        *,
        options: AgentOptions | None = None,
        server: str | None = None,
        rotator_factory: Callable[[Kube], Any] | None = None,
        providers: dict[str, Provider[Any]] | None = None,
        rebooter: Rebooter | None = None,
        root: Path | None = None,
    ) -> RunningAgent:
        host = identity.config.host
        root = root or self.tmp / host / "root"
        root.mkdir(parents=True, exist_ok=True)
        config: KubeConfig = identity.kube_config()
        if server is not None:
            config.server = server
        kube = Kube(config, field_manager="transom-agent")
        agent = Agent(
            host,
            kube,
            providers=providers or posix_providers(str(self.tmp / host / "cache")),
            state_dir=self.tmp / host / "state",
            policy=HostPolicy(path_roots=(str(root),), allow_scripts=True),
            options=options or AgentOptions(renew_interval_seconds=1.0),
            notifier_factory=InotifyNotifier,
            rotator=rotator_factory(kube) if rotator_factory else None,
            rebooter=rebooter,
        )
        task = asyncio.create_task(agent.run())
        running = RunningAgent(identity, kube, agent, task, self.tmp / host / "state", root)
        self.running.append(running)
        return running

    async def stop_all(self) -> None:
        for r in self.running:
            await r.stop()


@pytest.fixture
async def agents(
    standin: StandIn, controlplane: ControlPlane, tmp_path: Path
) -> AsyncIterator[Agents]:
    a = Agents(standin, controlplane, tmp_path)
    yield a
    await a.stop_all()


def file_resource(name: str, path: Path, content: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "file": {"path": str(path), "content": content, **extra}}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return None


class Proxy:
    """A loopback TCP forwarder that can cut every connection, to take an agent offline."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})
