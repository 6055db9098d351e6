"""Reading a viewer's token from a request, API paths as review attributes, and the bounded
review cache (one computation per key at a time; answers expire; failures are not kept)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.kube.kinds import ASSIGNMENTS, EVENTS, GIT_REPOSITORIES, HOSTS
from transom.ui.access import Access, ResourceAttributes, TtlCache, attributes_of, token_of

token_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=60)


@given(token_text, st.text(alphabet="abc", max_size=5))
def test_token_from_bearer_or_basic_password(token: str, user: str) -> None:
    assert token_of(f"Bearer {token}") == token
    pair = base64.b64encode(f"{user}:{token}".encode()).decode()
    assert token_of(f"Basic {pair}") == token


def test_no_token() -> None:
    for header in ("", "Bearer", "Basic !!!", "Negotiate abc", "Basic " + "dXNlcg=="):
        assert token_of(header) == ""


def test_paths_name_their_resource() -> None:
    assert attributes_of(HOSTS.path(name="web01")) == ResourceAttributes(
        "transom.dev", "hosts", "", "web01"
    )
    assert attributes_of(ASSIGNMENTS.path("transom-host-a", "x", "status")) == ResourceAttributes(
        "transom.dev", "assignments", "transom-host-a", "x", "status"
    )
    assert attributes_of(EVENTS.path("ns")) == ResourceAttributes("events.k8s.io", "events", "ns")
    assert attributes_of(GIT_REPOSITORIES.path("flux-system", "repo")).group == (
        "source.toolkit.fluxcd.io"
    )
    assert attributes_of("/api/v1/namespaces/ns/secrets/s") == ResourceAttributes(
        "", "secrets", "ns", "s"
    )
    with pytest.raises(ValueError):
        attributes_of("/healthz")


def test_access_per_namespace() -> None:
    a = Access(hosts=False, assignments=False, configuration_namespaces=frozenset({"prod"}))
    assert a.configuration("prod/web") and not a.configuration("dev/web")
    assert not a.nothing
    assert Access(False, False, frozenset()).nothing


async def test_cache_coalesces_expires_and_forgets_failures() -> None:
    now = [0.0]
    cache = TtlCache(ttl=5.0, max_entries=3, clock=lambda: now[0])
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    assert await asyncio.gather(*(cache.get("k", compute) for _ in range(10))) == [1] * 10
    now[0] = 4.9
    assert await cache.get("k", compute) == 1
    now[0] = 5.1
    assert await cache.get("k", compute) == 2
    for k in ("a", "b", "c", "d"):
        await cache.get(k, compute)
    assert len(cache) == 3  # bounded: the oldest went

    async def fail() -> int:
        raise RuntimeError("apiserver down")

    with pytest.raises(RuntimeError):
        await cache.get("f", fail)
    assert await cache.get("f", compute) == calls
