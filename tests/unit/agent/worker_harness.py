"""One Assignment's worker with the real engine, posix providers and journal on a temporary
folder; only the API server is stood in for (``FakeHostApi``, at the kube boundary), so a test
can make it fail and read back exactly what was written."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from transom.agent import status as st
from transom.agent.worker import Worker, WorkerOptions
from transom.api.assignment import AssignmentStatus
from transom.engine.converge import Engine
from transom.engine.journal import Journal
from transom.engine.policy import HostPolicy
from transom.kube.client import ApiError
from transom.providers.posix import posix_providers

NAME = "default.web"
Obj = dict[str, Any]


@dataclass
class FakeHostApi:
    """The host namespace as the API server keeps it: one Assignment, its status, Events."""

    obj: Obj | None = None
    #: "up", "error" (the apiserver answers 500) or "down" (connections fail).
    mode: str = "up"
    writes: list[Obj] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)

    def _reachable(self) -> None:
        if self.mode == "error":
            raise ApiError(500, {"reason": "InternalError", "message": "etcd timeout"})
        if self.mode == "down":
            raise aiohttp.ClientConnectionError("connection refused")

    async def write_status(self, name: str, status: AssignmentStatus) -> None:
        await asyncio.sleep(0)
        self._reachable()
        if self.obj is None or name != NAME:
            raise ApiError(404, {"reason": "NotFound", "message": name})
        self.obj["status"] = st.wire(status)
        self.writes.append(copy.deepcopy(self.obj))

    async def record_event(
        self, about: Obj, *, warning: bool, reason: str, action: str, note: str
    ) -> None:
        await asyncio.sleep(0)
        if self.mode == "up":
            self.events.append((reason, note))

    async def refresh_secrets(self, names: Collection[str]) -> None:
        self._reachable()

    def status(self) -> AssignmentStatus:
        assert self.obj is not None
        return AssignmentStatus.model_validate(self.obj.get("status") or {})

    def seen(self) -> Obj:
        """The object as a watch or a list would deliver it."""
        assert self.obj is not None
        return copy.deepcopy(self.obj)


def spec(
    root: Path, generation: int, content: str, *, valid: bool = True, delete: bool = False
) -> Obj:
    resource: Obj = {"name": "conf", "file": {"path": str(root / "app.conf"), "content": content}}
    if not valid:
        resource = {"name": "conf", "file": {"content": content}}  # no path: invalid
    return {
        "host": "h",
        "source": {
            "configuration": {"namespace": "default", "name": "web"},
            "generation": generation,
            "revision": f"main@sha1:{generation:040x}",
        },
        "resources": [resource],
        "mode": "ApplyAndAutoCorrect",
        "removalPolicy": "Delete" if delete else "Orphan",
    }


def assignment(uid: str, generation: int, body: Obj) -> Obj:
    return {
        "metadata": {
            "name": NAME,
            "namespace": "transom-host-h",
            "uid": uid,
            "generation": generation,
            "resourceVersion": str(generation),
        },
        "spec": body,
        "status": {},
    }


def new_worker(tmp: Path, api: FakeHostApi) -> Worker:
    root = tmp / "root"
    root.mkdir(exist_ok=True)
    engine = Engine(posix_providers(str(tmp / "cache")), policy=HostPolicy(path_roots=(str(root),)))
    return Worker(
        NAME,
        engine=engine,
        journal=Journal(tmp / "state" / NAME),
        api=api,
        # "In progress" is left out (a run here takes milliseconds); retries are quick.
        options=WorkerOptions(in_progress_delay_seconds=60, backoff_max_seconds=0.01),
    ).start()
