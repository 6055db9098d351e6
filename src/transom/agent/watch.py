"""List, then watch one collection of the host's namespace (bookmarks; relist on 410 Gone;
backoff on failures). Interim: it goes when the shared informer (kube/informer.py) lands,
whose interface this one already has."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from transom.agent.retry import NETWORK_ERRORS, Backoff
from transom.kube.client import ApiError, Kube

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Informer:
    def __init__(
        self,
        kube: Kube,
        path: str,
        on_event: Callable[[str, Obj], None],
        *,
        on_list: Callable[[list[Obj]], None],
        timeout_seconds: int,
        backoff_max_seconds: float,
    ) -> None:
        self.kube = kube
        self.path = path
        self.on_event = on_event
        self.on_list = on_list
        self.timeout_seconds = timeout_seconds
        self.synced = asyncio.Event()
        self.resource_version: str | None = None
        self._backoff = Backoff(backoff_max_seconds)
        self._watch: asyncio.Task[None] | None = None

    def restart(self) -> None:
        """End the current watch; the loop resumes from the last resourceVersion."""
        if self._watch is not None:
            self._watch.cancel()

    async def run(self) -> None:
        while True:
            self._watch = asyncio.create_task(self._list_and_watch())
            try:
                await self._watch
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                # Only the watch was cancelled (restart): resume from where it was.
            except ApiError as exc:
                if exc.status == 410:
                    self.resource_version = None
                    continue
                log.warning("watching %s: %s", self.path, exc)
                await self._backoff.sleep()
            except NETWORK_ERRORS as exc:
                log.debug("watching %s: %s", self.path, exc)
                await self._backoff.sleep()

    async def _list_and_watch(self) -> None:
        if self.resource_version is None:
            listed = await self.kube.list(self.path)
            self.resource_version = listed["metadata"]["resourceVersion"]
            self.on_list(listed.get("items") or [])
            self.synced.set()
        async for event in self.kube.watch(
            self.path, resource_version=self.resource_version, timeout_seconds=self.timeout_seconds
        ):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    self.resource_version = None  # too old: list again
                    return
                raise ApiError(int(obj.get("code", 500)), obj)
            self.resource_version = obj.get("metadata", {}).get(
                "resourceVersion", self.resource_version
            )
            self._backoff.reset()
            if kind != "BOOKMARK":
                self.on_event(str(kind), obj)
