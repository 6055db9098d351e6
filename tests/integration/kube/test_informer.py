"""The one informer against the real apiserver: list, watch, relist on 410, restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube, Obj
from transom.kube.informer import ADDED, DELETED, MODIFIED, Informer
from transom.kube.kinds import Kind

pytestmark = pytest.mark.controlplane

CONFIG_MAPS = Kind("", "v1", "configmaps", kind="ConfigMap")


def config_map(namespace: str, name: str, value: str = "1") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"v": value},
    }


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 20)
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_lists_then_watches_every_change(kube: Kube, namespace: str) -> None:
    await kube.create(CONFIG_MAPS.path(namespace), config_map(namespace, "before"))
    events: list[tuple[str, str]] = []
    informer = Informer(
        kube,
        CONFIG_MAPS.path(namespace),
        lambda kind, obj: events.append((kind, obj["metadata"]["name"])),
    )
    async with running(informer):
        assert (ADDED, "before") in events
        await kube.create(CONFIG_MAPS.path(namespace), config_map(namespace, "after"))
        await kube.patch(CONFIG_MAPS.path(namespace, "before"), {"data": {"v": "2"}})
        await kube.delete(CONFIG_MAPS.path(namespace, "after"))
        await until(lambda: (DELETED, "after") in events)
        assert [e for e in events if e[1] == "after"] == [(ADDED, "after"), (DELETED, "after")]
        assert (MODIFIED, "before") in events
        await until(lambda: (informer.get(namespace, "before") or {}).get("data") == {"v": "2"})
        assert informer.get(namespace, "after") is None


async def compact_etcd(controlplane: ControlPlane, revision: str) -> None:
    """What the apiserver does every few minutes: history before ``revision`` is gone, and a
    watch from before it answers 410 Gone."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{controlplane.etcd_port}/v3/kv/compaction",
            json={"revision": revision, "physical": True},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def test_a_gone_resource_version_relists_and_reports_what_vanished(
    controlplane: ControlPlane, kube: Kube, namespace: str
) -> None:
    for name in ("keep", "drop"):
        await kube.create(CONFIG_MAPS.path(namespace), config_map(namespace, name))
    events: list[tuple[str, str]] = []
    informer = Informer(
        kube,
        CONFIG_MAPS.path(namespace),
        lambda kind, obj: events.append((kind, obj["metadata"]["name"])),
    )
    async with running(informer):
        pass
    # While nobody watches: one object goes, and the informer's place is far in the past.
    await kube.delete(CONFIG_MAPS.path(namespace, "drop"))
    marker = await kube.create(CONFIG_MAPS.path(namespace), config_map(namespace, "marker"))
    await compact_etcd(controlplane, marker["metadata"]["resourceVersion"])
    # A restarted apiserver's watch cache starts now: an old resourceVersion is Gone. (From
    # this thread: the control plane's processes die with the thread that started them.)
    controlplane.restart_apiserver()
    informer.resource_version = "1"
    events.clear()
    lists_before = informer.kube.requests[f"GET {informer.path}"]
    async with running(informer):
        await until(lambda: (DELETED, "drop") in events)
        assert informer.kube.requests[f"GET {informer.path}"] == lists_before + 1
        assert set(informer.items) == {(namespace, "keep"), (namespace, "marker")}


async def test_restart_resumes_without_listing_again(kube: Kube, namespace: str) -> None:
    events: list[str] = []
    informer = Informer(
        kube, CONFIG_MAPS.path(namespace), lambda kind, obj: events.append(obj["metadata"]["name"])
    )
    async with running(informer):
        lists = kube.requests[f"GET {informer.path}"]
        watches = kube.requests[f"WATCH {informer.path}"]
        informer.restart()
        await until(lambda: kube.requests[f"WATCH {informer.path}"] > watches)
        await kube.create(CONFIG_MAPS.path(namespace), config_map(namespace, "later"))
        await until(lambda: "later" in events)
        assert kube.requests[f"GET {informer.path}"] == lists


async def test_on_list_receives_the_whole_collection(kube: Kube, namespace: str) -> None:
    await kube.create(CONFIG_MAPS.path(namespace), config_map(namespace, "one"))
    lists: list[list[str]] = []
    events: list[str] = []
    informer = Informer(
        kube,
        CONFIG_MAPS.path(namespace),
        lambda kind, obj: events.append(kind),
        on_list=lambda items: lists.append([o["metadata"]["name"] for o in items]),
    )
    async with running(informer):
        assert lists == [["one"]] and events == []


async def test_an_optional_kind_that_is_not_installed_syncs_empty(kube: Kube) -> None:
    missing = Kind("absent.transom.dev", "v1", "nothings", kind="Nothing")
    informer = Informer(kube, missing.path(), optional=True)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 20)
        assert informer.items == {}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
