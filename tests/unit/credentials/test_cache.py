"""The refresh-before-expiry cache every source sits behind."""

from __future__ import annotations

import asyncio

import pytest

from transom.agent.credentials import (
    BearerToken,
    CachedCredential,
    ClientCertificate,
    Credential,
    CredentialError,
)


class CountingSource:
    refresh_margin = 30.0

    def __init__(self, lifetime: float | None, now: list[float]) -> None:
        self.lifetime, self.now, self.calls = lifetime, now, 0

    async def fetch(self) -> Credential:
        self.calls += 1
        await asyncio.sleep(0.01)  # let concurrent callers pile up behind the lock
        expires = None if self.lifetime is None else self.now[0] + self.lifetime
        return BearerToken(f"token-{self.calls}", expires_at=expires)


async def test_concurrent_callers_share_one_fetch() -> None:
    now = [1000.0]
    source = CountingSource(100, now)
    cache = CachedCredential(source, clock=lambda: now[0])
    tokens = await asyncio.gather(*(cache.token() for _ in range(20)))
    assert set(tokens) == {"token-1"} and source.calls == 1


async def test_refreshes_margin_seconds_before_expiry_and_after_invalidate() -> None:
    now = [1000.0]
    source = CountingSource(100, now)
    cache = CachedCredential(source, clock=lambda: now[0])
    assert await cache.token() == "token-1"
    now[0] = 1069.9
    assert await cache.token() == "token-1"
    now[0] = 1070.0
    assert await cache.token() == "token-2"
    cache.invalidate()
    assert await cache.token() == "token-3"


async def test_credentials_without_expiry_are_kept() -> None:
    now = [0.0]
    cache = CachedCredential(CountingSource(None, now), clock=lambda: now[0])
    now[0] = 1e12
    assert await cache.token() == await cache.token() == "token-1"


async def test_certificate_is_not_a_token() -> None:
    class CertSource:
        refresh_margin = 0.0

        async def fetch(self) -> Credential:
            return ClientCertificate(b"CERT", b"PRIVATE KEY")

    cache = CachedCredential(CertSource())
    cert = await cache.get()
    assert "PRIVATE KEY" not in repr(cert)
    with pytest.raises(CredentialError, match="client certificate"):
        await cache.token()
