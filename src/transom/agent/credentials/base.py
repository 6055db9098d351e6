"""One interface for every way a host proves who it is, and the cache in front of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

Clock = Callable[[], float]


class CredentialError(Exception):
    """A credential could not be obtained. Messages name the source and the reason, never a
    secret."""


@dataclass(frozen=True)
class BearerToken:
    token: str = field(repr=False)
    #: Epoch seconds; None when the issuer does not say (the token is then used until a 401).
    expires_at: float | None = None


@dataclass(frozen=True)
class ClientCertificate:
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    expires_at: float | None = None


Credential = BearerToken | ClientCertificate


class CredentialSource(Protocol):
    """Fetches a fresh credential on every call; wrap it in `CachedCredential` to reuse it."""

    #: Seconds before expiry at which `CachedCredential` fetches the next one.
    @property
    def refresh_margin(self) -> float: ...

    async def fetch(self) -> Credential: ...


class CachedCredential:
    """Reuses a credential until the source's `refresh_margin` seconds before it expires, then
    fetches a new one; concurrent callers share a single fetch.

    `token` fits `KubeConfig.token_source`; call `invalidate()` after a 401 so the next request
    fetches anew (a revoked or clock-skewed token then costs one failed request)."""

    def __init__(self, source: CredentialSource, *, clock: Clock = time.time) -> None:
        self.source = source
        self._clock = clock
        self._current: Credential | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, cred: Credential) -> bool:
        if cred.expires_at is None:
            return True
        return self._clock() < cred.expires_at - self.source.refresh_margin

    async def get(self) -> Credential:
        current = self._current
        if current is not None and self._fresh(current):
            return current
        async with self._lock:
            current = self._current
            if current is None or not self._fresh(current):
                current = self._current = await self.source.fetch()
            return current

    async def token(self) -> str:
        cred = await self.get()
        if not isinstance(cred, BearerToken):
            raise CredentialError(
                f"{type(self.source).__name__} yields a client certificate, not a bearer token: "
                "use it with Kube.set_client_certificate"
            )
        return cred.token

    def invalidate(self) -> None:
        self._current = None

    def __repr__(self) -> str:
        return f"CachedCredential({self.source!r})"
