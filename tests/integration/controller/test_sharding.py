"""Two controller shards (`transom controller run --shards 2 --shard-key K --leader-elect`, real
processes) against the real control plane, one Configuration selecting hosts in both.

Both up: every host is labelled with its shard, so are its Assignment and Lease, each shard
writes its own status entry and the Configuration is Ready; a Preview asks every host. One
shard stopped: a new generation reaches the other shard's hosts (within that shard's part of
maxUnavailable) and not the stopped shard's; the Configuration is not Ready and names the
missing shard. The shard back: its hosts catch up and the Configuration is Ready again.

Hosts are stand-ins (tests/integration/controller's Fleet): the test reports each host's run
as its agent would, a moment after the host gets its Assignment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.controller.conftest import Fleet, configuration, eventually
from tests.integration.controller.test_enrollment import decision, submit
from transom.agent.credentials.whoami import who_am_i
from transom.api import conditions as c
from transom.api import kstatus, names
from transom.api.wire import API_VERSION
from transom.controller import setup
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.controller.shards import Shard
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import controller_command
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import (
    ASSIGNMENTS,
    CONFIGURATIONS,
    CSRS,
    HOSTS,
    LEASES,
    NAMESPACES,
    PREVIEWS,
    SERVICE_ACCOUNTS,
    path_of,
)
from transom.kube.leader import LeaderElector

pytestmark = pytest.mark.controlplane

SHARDS = 2
HOSTS_PER_SHARD = 3
MAX_UNAVAILABLE = 2  # one per shard
LEASE_NS = "default"


class Shards:
    """One controller process per shard, started and stopped by the test."""

    def __init__(self, cp: ControlPlane, logs: Path, lease: str) -> None:
        self.cp = cp
        self.logs = logs
        self.lease = lease
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.starts: dict[int, int] = {}

    def log(self, key: int) -> Path:
        return self.logs / f"shard{key}-{self.starts.get(key, 0)}.log"

    async def start(self, key: int) -> None:
        self.starts[key] = self.starts.get(key, 0) + 1
        log = self.log(key)
        self.procs[key] = subprocess.Popen(
            controller_command(
                self.cp.kubeconfig,
                "--no-install",
                "--leader-elect",
                "--leader-elect-namespace",
                LEASE_NS,
                "--leader-elect-lease-name",
                self.lease,
                "--shards",
                str(SHARDS),
                "--shard-key",
                str(key),
            ),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        await eventually(lambda: _async("leading" in log.read_text(errors="replace")), 60)

    async def stop(self, key: int) -> None:
        proc = self.procs.pop(key)
        proc.send_signal(signal.SIGTERM)  # releases its leader Lease
        await asyncio.to_thread(proc.wait, 30)

    async def close(self) -> None:
        for key in list(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                await self.stop(key)


@pytest.fixture
async def sharded(controlplane: ControlPlane, tmp_path: Path) -> AsyncIterator[Shards]:
    shards = Shards(controlplane, tmp_path, f"transom-shard-test-{os.getpid() % 1000}")
    try:
        yield shards
    finally:
        await shards.close()


def _hosts_of_both_shards(prefix: str) -> list[str]:
    """Host names, HOSTS_PER_SHARD of each shard by the name hash."""
    picked: dict[int, list[str]] = {k: [] for k in range(SHARDS)}
    i = 0
    while any(len(v) < HOSTS_PER_SHARD for v in picked.values()):
        name = f"{prefix}-{i}"
        mine = picked[names.shard_of(name, SHARDS)]
        if len(mine) < HOSTS_PER_SHARD:
            mine.append(name)
        i += 1
    return sorted(h for v in picked.values() for h in v)


class Agents:
    """Stand-in agents: each host reports its Assignment's generation applied a moment after
    it appears; every sample checks each shard's unavailable hosts against its share."""

    def __init__(self, kube: Kube, fleet: Fleet, key: tuple[str, str]) -> None:
        self.kube = kube
        self.fleet = fleet
        self.key = key
        self.reported: dict[str, int] = {}
        self.worst: dict[str, int] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        due: dict[str, float] = {}
        selector = f"{names.LABEL_CONFIGURATION}={names.configuration_label(*self.key)}"
        while not self._stop.is_set():
            listed = await self.kube.list(ASSIGNMENTS.path(), labelSelector=selector)
            unavailable: dict[str, int] = {}
            for a in listed["items"]:
                host = a["spec"]["host"]
                gen = int(a["spec"]["source"]["generation"])
                shard = (a["metadata"].get("labels") or {}).get(names.LABEL_SHARD, "none")
                if (a.get("status") or {}).get("observedGeneration") != a["metadata"]["generation"]:
                    unavailable[shard] = unavailable.get(shard, 0) + 1
                if self.reported.get(host) != gen:
                    due.setdefault(host, time.monotonic() + 0.3)
                    if time.monotonic() >= due[host]:
                        await self.fleet.report(host, self.key, ok=True)
                        self.reported[host] = gen
                        due.pop(host)
            for shard, n in unavailable.items():
                self.worst[shard] = max(self.worst.get(shard, 0), n)
            await asyncio.sleep(0.1)

    def __enter__(self) -> Agents:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    async def done(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def _status(kube: Kube, key: tuple[str, str]) -> dict[str, Any]:
    return await kube.get(CONFIGURATIONS.path(*key))


async def test_a_configuration_across_two_shards_with_one_shard_down(
    controlplane: ControlPlane, kube: Kube, namespace: str, sharded: Shards
) -> None:
    for k in range(SHARDS):
        await sharded.start(k)
    fleet = Fleet(kube, f"sh{os.getpid() % 1000}")
    try:
        role = fleet.prefix
        hosts = _hosts_of_both_shards(fleet.prefix)
        shard_of = {h: names.shard_of(h, SHARDS) for h in hosts}
        for h in hosts:
            await fleet.add(int(h.rsplit("-", 1)[1]), {"role": role})
        key = (namespace, "web")
        conf = configuration(
            "web", namespace, {"role": role}, rollout={"maxUnavailable": MAX_UNAVAILABLE}
        )
        await kube.create(CONFIGURATIONS.path(namespace), conf)
        agents = Agents(kube, fleet, key)
        with agents:

            async def current(generation: int) -> bool:
                obj = await _status(kube, key)
                return (
                    obj["metadata"]["generation"] == generation
                    and all(agents.reported.get(h) == generation for h in hosts)
                    and kstatus.compute(obj).status is kstatus.Status.CURRENT
                )

            # -- both shards up: Ready, and everything labelled with its shard -------------
            await eventually(lambda: current(1), timeout=120)
            obj = await _status(kube, key)
            entries = {e["shard"]: e for e in obj["status"]["shards"]}
            assert sorted(entries) == [0, 1]
            for e in entries.values():
                assert e["hosts"] == HOSTS_PER_SHARD, e
                assert e["observedGeneration"] == 1, e
            assert obj["status"]["desired"] == len(hosts)
            assert obj["status"]["ready"] == len(hosts)
            for h in hosts:
                want = str(shard_of[h])
                host = await kube.get(HOSTS.path(name=h))
                assert host["metadata"]["labels"][names.LABEL_SHARD] == want, h
                a = await fleet.assignment(h, key)
                assert a is not None
                assert a["metadata"]["labels"][names.LABEL_SHARD] == want, h
                lease = await kube.get(LEASES.path(names.host_namespace(h), names.LEASE_NAME))
                assert lease["metadata"]["labels"][names.LABEL_SHARD] == want, h
            # Each shard's entry is its own field manager's.
            managers = {
                m["manager"]
                for m in obj["metadata"]["managedFields"]
                if m.get("subresource") == "status"
            }
            assert {"transom-controller-shard-0", "transom-controller-shard-1"} <= managers
            # A Preview is asked of every selected host, whichever shard owns it.
            preview = await kube.create(
                PREVIEWS.path(namespace),
                {
                    "apiVersion": API_VERSION,
                    "kind": "Preview",
                    "metadata": {"name": "try", "namespace": namespace},
                    "spec": {
                        "requestedBy": (await who_am_i(kube)).username,
                        "configurations": [{"name": "web", "spec": conf["spec"]}],
                    },
                },
            )

            async def previewed() -> list[dict[str, Any]]:
                obj = await kube.get(PREVIEWS.path(namespace, preview["metadata"]["name"]))
                status = obj.get("status") or {}
                return list(status.get("hosts") or []) if status.get("observedGeneration") else []

            asked = await eventually(previewed, timeout=60)
            assert sorted(h["host"] for h in asked) == hosts
            assert all(h["state"] == "Requested" and h.get("hostPreview") for h in asked), asked

            # -- shard 1 stopped: its hosts hold, shard 0's go on, status names shard 1 -----
            await sharded.stop(1)

            async def missing() -> str:
                obj = await _status(kube, key)
                ready = _ready(obj)
                return ready["message"] if ready and ready["reason"] == c.SHARD_MISSING else ""

            await eventually(missing, timeout=60)
            conf["spec"]["resources"][0]["file"]["content"] = "v2\n"
            await kube.apply(CONFIGURATIONS.path(*key), conf)
            shard0 = [h for h in hosts if shard_of[h] == 0]
            shard1 = [h for h in hosts if shard_of[h] == 1]

            async def shard0_at_two() -> bool:
                return all(agents.reported.get(h) == 2 for h in shard0)

            await eventually(shard0_at_two, timeout=120)
            # Shard 0's entry says it is done with generation 2; shard 1's hosts never got it.
            await eventually(lambda: _entry_at(kube, key, 0, 2), timeout=60)
            for h in shard1:
                a = await fleet.assignment(h, key)
                assert a is not None
                assert a["spec"]["source"]["generation"] == 1, h
                assert agents.reported.get(h) == 1, h
            obj = await _status(kube, key)
            result = kstatus.compute(obj)
            assert result.status is kstatus.Status.IN_PROGRESS, result
            assert obj["status"]["observedGeneration"] != 2
            ready = _ready(obj)
            assert ready is not None
            assert ready["status"] == "False"
            assert ready["reason"] == c.SHARD_MISSING
            assert "shard(s) 1 missing" in ready["message"]
            assert f"{sharded.lease}-shard-1" in ready["message"]

            # -- shard 1 back: its hosts catch up, Ready again -------------------------------
            await sharded.start(1)
            await eventually(lambda: current(2), timeout=120)
        await agents.done()
        assert agents.worst.get("0", 0) <= 1, agents.worst
        assert agents.worst.get("1", 0) <= 1, agents.worst
        assert "none" not in agents.worst, agents.worst
    finally:
        await sharded.close()
        await fleet.cleanup()


async def _entry_at(kube: Kube, key: tuple[str, str], shard: int, generation: int) -> bool:
    obj = await _status(kube, key)
    for e in (obj.get("status") or {}).get("shards") or []:
        if e["shard"] == shard:
            return bool(e["observedGeneration"] == generation)
    return False


def _ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((x for x in conds if x["type"] == c.READY), None)


async def _async(value: Any) -> Any:
    return value


async def test_the_sharded_manifests_let_each_shard_do_its_part(
    controlplane: ControlPlane, kube: Kube, namespace: str, repo_root: Path
) -> None:
    """deploy/sharded/: as its service account, a shard labels its host's Lease, writes its
    status entry and names the shard that has no leader yet; each shard may hold its own
    leader Lease, and with both the Configuration is Ready."""
    docs = list(yaml.safe_load_all((repo_root / "deploy/sharded/controller.yaml").read_text()))
    per_shard = [o for o in docs if o["kind"] in ("Deployment", "PodDisruptionBudget")]
    assert sorted(o["metadata"]["name"] for o in per_shard if o["kind"] == "Deployment") == [
        "transom-controller-shard-0",
        "transom-controller-shard-1",
    ]
    for obj in docs:
        await kube.apply(path_of(obj), obj)
    sa = next(o for o in docs if o["kind"] == "ServiceAccount")["metadata"]
    token = await kube.create(
        SERVICE_ACCOUNTS.path(sa["namespace"], sa["name"], "token"),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    cfg = KubeConfig(
        server=controlplane.url,
        ca_pem=controlplane.ca.cert.read_bytes(),
        token=token["status"]["token"],
    )
    fleet = Fleet(kube, f"sd{os.getpid() % 1000}")
    tasks: list[asyncio.Task[None]] = []
    async with (
        Kube(cfg, field_manager="transom-controller") as first,
        Kube(cfg, field_manager="transom-controller") as second,
    ):
        try:
            lease_ns = sa["namespace"]
            ctl = Controller(first, liveness_interval=0.2, shard=Shard(0, 2, lease_ns))
            tasks.append(asyncio.create_task(ctl.run()))
            i = next(i for i in range(100) if names.shard_of(fleet.name(i), SHARDS) == 0)
            host = await fleet.add(i, {"role": fleet.prefix})
            key = (namespace, "web")
            await kube.create(
                CONFIGURATIONS.path(namespace),
                configuration("web", namespace, {"role": fleet.prefix}),
            )
            await eventually(lambda: fleet.assignment(host, key))
            await fleet.report(host, key, ok=True)

            async def named() -> str:
                ready = _ready(await _status(kube, key))
                return ready["message"] if ready and ready["reason"] == c.SHARD_MISSING else ""

            message = await eventually(named)
            assert "shard(s) 1 missing" in message
            assert "transom-controller-shard-1" in message
            lease = await kube.get(LEASES.path(names.host_namespace(host), names.LEASE_NAME))
            assert lease["metadata"]["labels"][names.LABEL_SHARD] == "0"

            elector = LeaderElector(second, lease_ns, "transom-controller-shard-1", identity="s1")
            other = Controller(second, liveness_interval=0.2, shard=Shard(1, 2, lease_ns))
            tasks.append(asyncio.create_task(other.run(elector)))

            async def current() -> bool:
                obj = await _status(kube, key)
                return kstatus.compute(obj).status is kstatus.Status.CURRENT

            await eventually(current, timeout=60)
            obj = await _status(kube, key)
            assert sorted(e["shard"] for e in obj["status"]["shards"]) == [0, 1]
            assert [e["hosts"] for e in obj["status"]["shards"]] == [1, 0]
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await fleet.cleanup()
            for obj in per_shard:
                await kube.delete(path_of(obj))


async def test_a_host_relabelled_to_another_shard_moves_without_losing_anything(
    kube: Kube, namespace: str
) -> None:
    """An admin moves a host to the other shard: the new shard takes its Lease and Assignment
    over (the same content, so the agent's status stays), the old one deletes nothing. Then
    sharding is turned off: the unsharded controller removes the shards' entries."""
    base = f"transom-move-test-{os.getpid() % 1000}"
    fleet = Fleet(kube, f"mv{os.getpid() % 1000}")
    tasks = []
    for k in range(SHARDS):
        shard = Shard(k, SHARDS, LEASE_NS, base)
        elector = LeaderElector(kube, LEASE_NS, shard.lease_name(), identity=f"s{k}")
        ctl = Controller(kube, liveness_interval=0.2, shard=shard)
        tasks.append(asyncio.create_task(ctl.run(elector)))
    try:
        host = await fleet.add(0, {"role": fleet.prefix})
        old = names.shard_of(host, SHARDS)
        new = 1 - old
        key = (namespace, "web")
        await kube.create(
            CONFIGURATIONS.path(namespace), configuration("web", namespace, {"role": fleet.prefix})
        )
        await eventually(lambda: fleet.assignment(host, key))
        await fleet.report(host, key, ok=True)

        async def ready_in(shard: int) -> bool:
            obj = await _status(kube, key)
            hosts = {e["shard"]: e["ready"] for e in obj["status"].get("shards") or []}
            return kstatus.compute(obj).status is kstatus.Status.CURRENT and hosts.get(shard) == 1

        await eventually(lambda: ready_in(old), timeout=60)
        before = await fleet.assignment(host, key)
        assert before is not None

        await kube.patch(
            HOSTS.path(name=host), {"metadata": {"labels": {names.LABEL_SHARD: str(new)}}}
        )

        async def moved() -> bool:
            a = await fleet.assignment(host, key)
            lease = await kube.get(LEASES.path(names.host_namespace(host), names.LEASE_NAME))
            return (
                a is not None
                and a["metadata"]["labels"][names.LABEL_SHARD] == str(new)
                and lease["metadata"]["labels"][names.LABEL_SHARD] == str(new)
                and await ready_in(new)
            )

        await eventually(moved, timeout=60)
        after = await fleet.assignment(host, key)
        assert after is not None
        # Rewritten with the same spec: same generation, the agent's status kept.
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["metadata"]["generation"] == before["metadata"]["generation"]
        assert after["status"] == before["status"]
        assert await kube.get_or_none(NAMESPACES.path(name=names.host_namespace(host)))

        # Sharding turned off: one controller for all, and the shards' entries go.
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks = [asyncio.create_task(Controller(kube, liveness_interval=0.2).run())]

        async def unsharded() -> bool:
            obj = await _status(kube, key)
            return "shards" not in obj["status"] and (
                kstatus.compute(obj).status is kstatus.Status.CURRENT
            )

        await eventually(unsharded, timeout=60)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await fleet.cleanup()


async def test_the_shard_of_a_new_host_enrolls_it(controlplane: ControlPlane, kube: Kube) -> None:
    """A certificate request is decided once, by the shard the host's name hashes to, which
    creates the Host labelled with its shard, or with the shard the token's labels name."""
    await setup.ensure(kube, crds=False)  # the bootstrap RBAC, as the controller installs it
    base = f"transom-enroll-test-{os.getpid() % 1000}"
    tasks = []
    for k in range(SHARDS):
        shard = Shard(k, SHARDS, LEASE_NS, base)
        elector = LeaderElector(kube, LEASE_NS, shard.lease_name(), identity=f"s{k}")
        tasks.append(asyncio.create_task(Controller(kube, shard=shard).run(elector)))
    prefix = f"en{os.getpid() % 1000}"
    plain = next(f"{prefix}-{i}" for i in range(100))
    moved = next(
        f"{prefix}-{i}"
        for i in range(1, 100)
        if names.shard_of(f"{prefix}-{i}", SHARDS) == names.shard_of(plain, SHARDS)
    )
    other = str(1 - names.shard_of(moved, SHARDS))
    try:
        for host, labels, want in [
            (plain, {"role": "web"}, str(names.shard_of(plain, SHARDS))),
            (moved, {"role": "web", names.LABEL_SHARD: other}, other),
        ]:
            token = await create_token(kube, [host], labels=labels)
            cfg = KubeConfig(
                server=controlplane.url,
                ca_pem=controlplane.ca.cert.read_bytes(),
                token=token.value,
            )
            async with Kube(cfg) as as_token:
                csr = await submit(as_token, names.host_user(host))
            verdict, message, signed = await decision(kube, csr)
            assert (verdict, signed) == ("Approved", True), message
            created = await kube.get(HOSTS.path(name=host))
            assert created["metadata"]["labels"] == {"role": "web", names.LABEL_SHARD: want}
            approvals = [
                cond
                for cond in (await kube.get(CSRS.path(name=csr)))["status"]["conditions"]
                if cond["type"] in ("Approved", "Denied")
            ]
            assert len(approvals) == 1, approvals  # one shard decided

            async def provisioned(host: str = host) -> bool:
                ns = await kube.get_or_none(NAMESPACES.path(name=names.host_namespace(host)))
                return ns is not None

            await eventually(provisioned)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for host in (plain, moved):
            with contextlib.suppress(ApiError):
                await kube.delete(HOSTS.path(name=host))
