"""A real controller in the test's event loop, and hosts whose agent side the test plays.

These tests exercise the controller's decisions (rollout order, halting, conflicts, secrets,
CSR approval) against the real apiserver; tests/integration/agent and tests/e2e run the real
agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from transom.api import names
from transom.api.assignment import AssignmentStatus, ResourceResult
from transom.api.wire import API_VERSION
from transom.controller.manager import Controller
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, HOSTS, LEASES, NAMESPACES


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Fleet:
    """Hosts created as an admin would after enrollment, with the agent's Lease and status
    written by the test itself."""

    def __init__(self, kube: Kube, prefix: str) -> None:
        self.kube = kube
        self.prefix = prefix
        self.hosts: list[str] = []

    def name(self, i: int) -> str:
        return f"{self.prefix}-{i}"

    async def add(self, i: int, labels: dict[str, str], *, online: bool = True) -> str:
        host = self.name(i)
        await self.kube.create(
            HOSTS.path(),
            {
                "apiVersion": API_VERSION,
                "kind": "Host",
                "metadata": {"name": host, "labels": labels},
            },
        )
        self.hosts.append(host)
        await self.wait_namespace(host)
        if online:
            await self.heartbeat(host)
        return host

    async def wait_namespace(self, host: str) -> None:
        for _ in range(100):
            if await self.kube.get_or_none(NAMESPACES.path(name=names.host_namespace(host))):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"controller made no namespace for {host}")

    async def heartbeat(self, host: str, duration: int = 3600) -> None:
        ns = names.host_namespace(host)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": names.LEASE_NAME, "namespace": ns},
            "spec": {"holderIdentity": host, "leaseDurationSeconds": duration, "renewTime": now()},
        }
        await self.kube.apply(LEASES.path(ns, names.LEASE_NAME), body)

    async def assignment(self, host: str, conf: tuple[str, str]) -> dict[str, Any] | None:
        return await self.kube.get_or_none(
            ASSIGNMENTS.path(names.host_namespace(host), names.assignment_name(*conf))
        )

    async def report(
        self, host: str, conf: tuple[str, str], *, ok: bool, resource: str = "", message: str = ""
    ) -> None:
        """Write the Assignment status the way the agent does: results, and the conditions
        their verdict gives."""
        a = await self.assignment(host, conf)
        assert a is not None
        results = (
            []
            if ok
            else [
                ResourceResult(name=resource, type="File", in_desired_state=False, message=message)
            ]
        )
        status = AssignmentStatus.model_validate(a.get("status") or {}).with_results(
            results,
            a["metadata"]["generation"],
            a["spec"]["source"].get("revision", ""),
            finished_run=True,
        )
        await self.kube.patch(
            ASSIGNMENTS.path(names.host_namespace(host), a["metadata"]["name"], "status"),
            {"status": status.model_dump(mode="json", by_alias=True, exclude_none=True)},
        )

    async def cleanup(self) -> None:
        for host in self.hosts:
            with contextlib.suppress(ApiError):
                await self.kube.delete(HOSTS.path(name=host))


@pytest.fixture
async def fleet(kube: Kube, controller: Controller) -> AsyncIterator[Fleet]:
    f = Fleet(kube, f"h{secrets.token_hex(3)}")
    yield f
    await f.cleanup()


def configuration(
    name: str,
    namespace: str,
    selector: dict[str, str],
    *,
    resources: list[dict[str, Any]] | None = None,
    rollout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": selector},
            "resources": resources
            or [{"name": "motd", "file": {"path": f"/tmp/{name}-motd", "content": "hi\n"}}],
            "rollout": rollout or {"maxUnavailable": 1},
        },
    }


async def get_configuration(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(CONFIGURATIONS.path(namespace, name))


async def eventually(check: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Await ``check()`` until it returns something truthy; fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout} s; last: {last!r}")
