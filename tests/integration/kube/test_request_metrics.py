"""`transom_api_requests_total` from the one client against the real apiserver: answers by
status code, refusals, watches, a server that does not answer, and no error for a request its
caller cancelled."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from transom.dev.controlplane import ControlPlane
from transom.dev.processes import free_port
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import NAMESPACES, SECRETS
from transom.kube.metrics import NO_ANSWER_CODE, ApiRequestMetrics

pytestmark = pytest.mark.controlplane


def count(registry: CollectorRegistry, verb: str, resource: str, code: str) -> float:
    labels = {"verb": verb, "resource": resource, "code": code}
    return registry.get_sample_value("transom_api_requests_total", labels) or 0.0


async def test_requests_are_counted_by_verb_resource_and_code(
    controlplane: ControlPlane, namespace: str
) -> None:
    registry = CollectorRegistry()
    config = KubeConfig.from_file(controlplane.kubeconfig)
    async with Kube(config, observer=ApiRequestMetrics(registry)) as kube:
        await kube.list(SECRETS.path(namespace))
        assert await kube.get_or_none(SECRETS.path(namespace, "missing")) is None
        with pytest.raises(ApiError):
            await kube.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
        secret = {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
        await kube.create(SECRETS.path(namespace), secret)
        await kube.patch(SECRETS.path(namespace, "s"), {"metadata": {"labels": {"a": "b"}}})
        seen = [e async for e in kube.watch(SECRETS.path(namespace), timeout_seconds=1)]
        assert seen  # the Secret, as ADDED; the server ends the watch after a second

    assert count(registry, "list", "secrets", "200") == 1
    assert count(registry, "get", "secrets", "404") == 1
    assert count(registry, "create", "namespaces", "409") == 1
    assert count(registry, "create", "secrets", "201") == 1
    assert count(registry, "patch", "secrets", "200") == 1
    assert count(registry, "watch", "secrets", "200") == 1
    total = sum(
        s.value
        for fam in registry.collect()
        for s in fam.samples
        if s.name == "transom_api_requests_total"
    )
    assert total == 6


async def test_no_answer_is_an_error_and_a_cancelled_request_is_not(
    controlplane: ControlPlane,
) -> None:
    registry = CollectorRegistry()
    nobody = KubeConfig(server=f"https://127.0.0.1:{free_port()}", token="t")
    async with Kube(nobody, observer=ApiRequestMetrics(registry)) as kube:
        with pytest.raises(aiohttp.ClientConnectionError):
            await kube.get(NAMESPACES.path(name="default"))
    assert count(registry, "get", "namespaces", NO_ANSWER_CODE) == 1

    registry = CollectorRegistry()
    config = KubeConfig.from_file(controlplane.kubeconfig)
    async with Kube(config, observer=ApiRequestMetrics(registry)) as kube:
        task = asyncio.create_task(kube.get(NAMESPACES.path(name="default")))
        await asyncio.sleep(0)  # sent (or about to be), not answered yet
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert count(registry, "get", "namespaces", NO_ANSWER_CODE) == 0
