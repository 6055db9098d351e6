"""A list-then-watch cache of one kind, like client-go's informer, on the thin adapter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from transom.kube.client import ApiError, Kube

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace or "", name)
Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Informer:
    def __init__(
        self,
        kube: Kube,
        path: str,
        on_change: Handler,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        optional: bool = False,
    ) -> None:
        self.kube = kube
        self.path = path
        self.on_change = on_change
        self.label_selector = label_selector
        self.field_selector = field_selector
        #: A kind that may not be installed (Flux's): a 404 leaves the cache empty.
        self.optional = optional
        self.items: dict[Key, Obj] = {}
        self.synced = asyncio.Event()
        self._rv: str | None = None

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.items.get((namespace, name))

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                if self._rv is None:
                    await self._relist()
                await self._watch()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.status == 410:
                    self._rv = None  # too old: list again
                    continue
                if e.status == 404 and self.optional:
                    self.synced.set()
                    await asyncio.sleep(10)
                    continue
                log.warning("watch %s failed: %s", self.path, e)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                log.info("watch %s interrupted: %s", self.path, e)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _relist(self) -> None:
        params = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        listed = await self.kube.list(self.path, **params)
        fresh = {key_of(o): o for o in listed.get("items") or []}
        gone = [k for k in self.items if k not in fresh]
        self.items = fresh
        self._rv = listed["metadata"]["resourceVersion"]
        for k in gone:
            self.on_change("DELETED", {"metadata": {"namespace": k[0], "name": k[1]}})
        for obj in fresh.values():
            self.on_change("ADDED", obj)
        self.synced.set()

    async def _watch(self) -> None:
        async for event in self.kube.watch(
            self.path,
            resource_version=self._rv,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        ):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise ApiError(int(obj.get("code", 500)), obj)
            self._rv = obj.get("metadata", {}).get("resourceVersion", self._rv)
            if kind == "BOOKMARK":
                continue
            k = key_of(obj)
            if kind == "DELETED":
                self.items.pop(k, None)
            else:
                self.items[k] = obj
            self.on_change(str(kind), obj)
