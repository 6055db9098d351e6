"""The one list-then-watch cache of a collection, like client-go's informer, shared by the
controller and the agent.

List, then watch from the list's resourceVersion with bookmarks (so a resumed watch starts
from a recent version); relist at once when the server answers 410 Gone; back off
exponentially on other failures, resetting on the first event that arrives. ``restart()``
ends the current watch and resumes from where it was (after a client-certificate rotation an
old connection would otherwise hang on a closed session).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from transom.kube.backoff import Backoff
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube, Obj

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace or "", name)
EventHandler = Callable[[str, Obj], None]
ListHandler = Callable[[list[Obj]], None]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class _GoneError(Exception):
    """The watch's resourceVersion is too old: list again."""


class Informer:
    """A cache of one collection kept current by a watch.

    ``on_event(type, obj)`` is called for every ADDED, MODIFIED and DELETED object. After a
    (re)list, ``on_list(items)`` receives the whole collection when given; without it, the
    informer reports the difference as events instead (DELETED for what vanished while it was
    not watching, ADDED for everything listed).
    """

    def __init__(
        self,
        kube: Kube,
        path: str,
        on_event: EventHandler | None = None,
        *,
        on_list: ListHandler | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        optional: bool = False,
        timeout_seconds: int = 300,
        backoff_max_seconds: float = 5.0,
    ) -> None:
        self.kube = kube
        self.path = path
        self.on_event = on_event
        self.on_list = on_list
        self.label_selector = label_selector
        self.field_selector = field_selector
        #: A kind that may not be installed (Flux's): a 404 leaves the cache empty.
        self.optional = optional
        self.timeout_seconds = timeout_seconds
        self.items: dict[Key, Obj] = {}
        #: Set once the first list has been handed on.
        self.synced = asyncio.Event()
        #: The resourceVersion to resume from; None means list first.
        self.resource_version: str | None = None
        self._backoff = Backoff(backoff_max_seconds, initial=0.2)
        self._watch: asyncio.Task[None] | None = None
        self._relisted = asyncio.Event()

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.items.get((namespace, name))

    def observe(self, obj: Obj) -> None:
        """Take a write's answer into the cache before its watch event arrives, so the next
        read sees it (the event, when it comes, carries the same object)."""
        self.items[key_of(obj)] = obj

    def forget(self, namespace: str, name: str) -> None:
        """Drop an object this process deleted."""
        self.items.pop((namespace, name), None)

    def restart(self) -> None:
        """End the current watch; the loop resumes from the last resourceVersion."""
        if self._watch is not None:
            self._watch.cancel()

    async def resync(self) -> None:
        """List again now (a consistent read) and watch on from there: what another writer
        wrote before this call is in the cache when it returns."""
        self._relisted.clear()
        self.resource_version = None
        self.restart()
        await self._relisted.wait()

    async def run(self) -> None:
        while True:
            self._watch = asyncio.create_task(self._list_and_watch())
            try:
                await self._watch
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                continue  # only the watch was cancelled (restart): resume where it was
            except _GoneError:
                self.resource_version = None
                continue
            except ApiError as e:
                if e.status == 410:
                    self.resource_version = None
                    continue
                if e.status == 404 and self.optional:
                    self.synced.set()
                    await asyncio.sleep(10)
                    continue
                log.warning("watch %s failed: %s", self.path, e)
                await self._backoff.sleep()
            except NETWORK_ERRORS as e:
                log.info("watch %s interrupted: %s", self.path, e)
                await self._backoff.sleep()

    def _params(self) -> dict[str, str]:
        params = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    async def _list_and_watch(self) -> None:
        if self.resource_version is None:
            await self._relist()
        async for event in self.kube.watch(
            self.path,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=self.timeout_seconds,
        ):
            kind, obj = str(event.get("type")), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _GoneError
                raise ApiError(int(obj.get("code", 500)), obj)
            self.resource_version = obj.get("metadata", {}).get(
                "resourceVersion", self.resource_version
            )
            self._backoff.reset()
            if kind == "BOOKMARK":
                continue
            if kind == DELETED:
                self.items.pop(key_of(obj), None)
            else:
                self.items[key_of(obj)] = obj
            if self.on_event is not None:
                self.on_event(kind, obj)

    async def _relist(self) -> None:
        listed = await self.kube.list(self.path, **self._params())
        items = listed.get("items") or []
        fresh = {key_of(o): o for o in items}
        gone = [self.items[k] for k in self.items if k not in fresh]
        self.items = fresh
        self.resource_version = listed["metadata"]["resourceVersion"]
        self._backoff.reset()
        if self.on_list is not None:
            self.on_list(items)
        elif self.on_event is not None:
            for obj in gone:
                self.on_event(DELETED, obj)
            for obj in items:
                self.on_event(ADDED, obj)
        self.synced.set()
        self._relisted.set()
