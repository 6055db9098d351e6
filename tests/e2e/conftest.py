"""The whole system on one machine: the real controller and real enrolled agents (posix
backend, one root per host) against the real control plane."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from transom.agent.enroll import enroll
from transom.agent.runner import AgentOptions
from transom.agent.service import RunSettings, run_agent
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.engine.policy import HostPolicy
from transom.kube.client import Kube
from transom.kube.kinds import HOSTS

#: Fast heartbeats so offline hosts are noticed within seconds in tests.
FAST = AgentOptions(lease_duration_seconds=4, renew_interval_seconds=1.0)


@dataclass
class Fleet:
    cp: ControlPlane
    kube: Kube
    root: Path
    role: str
    hosts: list[str] = field(default_factory=list)
    stops: dict[str, asyncio.Event] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def enroll(self, count: int) -> None:
        names_ = [f"{self.role}-{i}" for i in range(count)]
        token = await create_token(self.kube, names_, labels={"role": self.role})
        for host in names_:
            await enroll(
                self.cp.url,
                token.value,
                host,
                state_dir=self.root / "state" / host,
                ca_pem=self.cp.ca.cert.read_bytes(),
            )
            self.hosts.append(host)

    def start(self, host: str, policy: HostPolicy | None = None) -> None:
        stop = asyncio.Event()
        settings = RunSettings(
            state_dir=self.root / "state" / host,
            policy=policy or HostPolicy(path_roots=(str(self.root / "hosts"),), allow_scripts=True),
            options=FAST,
        )
        self.stops[host] = stop
        self.tasks[host] = asyncio.create_task(run_agent(settings, stop=stop))

    async def stop(self, host: str) -> None:
        self.stops[host].set()
        await asyncio.gather(self.tasks.pop(host), return_exceptions=True)

    async def close(self) -> None:
        for host in list(self.tasks):
            await self.stop(host)
        for host in self.hosts:
            await self.kube.delete(HOSTS.path(name=host))

    def path(self, host: str, *parts: str) -> Path:
        return self.root.joinpath("hosts", host, *parts)


@pytest.fixture
async def fleet(
    controlplane: ControlPlane, kube: Kube, controller: Controller, tmp_path: Path
) -> AsyncIterator[Fleet]:
    f = Fleet(controlplane, kube, tmp_path, f"e2e{secrets.token_hex(2)}")
    (tmp_path / "hosts").mkdir()
    yield f
    await f.close()
