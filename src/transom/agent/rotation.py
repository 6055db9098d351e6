"""Certificate rotation: at ~70% of its lifetime the agent asks for a new certificate as
itself and swaps it into its API clients without a restart (the kubelet pattern)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from transom.agent.enroll import (
    DEFAULT_EXPIRATION_SECONDS,
    certificate_window,
    request_certificate,
    save_credentials,
)
from transom.agent.store import SecretStore
from transom.kube.client import Kube

log = logging.getLogger(__name__)

DEFAULT_FRACTION = 0.7
_RETRY_MIN_SECONDS = 1.0
_RETRY_MAX_SECONDS = 60.0


def rotation_due(cert_pem: bytes, fraction: float) -> datetime:
    not_before, not_after = certificate_window(cert_pem)
    return not_before + (not_after - not_before) * fraction


class CertificateRotator:
    """Renews the certificate ``clients[0]`` authenticates with and gives it to every client."""

    def __init__(
        self,
        host: str,
        clients: Sequence[Kube],
        store: SecretStore | None,
        *,
        fraction: float = DEFAULT_FRACTION,
        expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS,
        on_rotated: Callable[[bytes], None] | None = None,
    ) -> None:
        self.host = host
        self.clients = list(clients)
        self.store = store
        self.fraction = fraction
        self.expiration_seconds = expiration_seconds
        self.on_rotated = on_rotated
        self.rotations = 0

    @property
    def cert_pem(self) -> bytes:
        cert = self.clients[0].config.cert_pem
        if cert is None:
            raise ValueError("the agent's client has no client certificate to rotate")
        return cert

    async def rotate(self) -> None:
        cert, key = await request_certificate(
            self.clients[0], self.host, expiration_seconds=self.expiration_seconds, watch=False
        )
        if self.store is not None:
            save_credentials(self.store, cert, key)
        for client in self.clients:
            client.set_client_certificate(cert, key)
        self.rotations += 1
        _, not_after = certificate_window(cert)
        log.info("rotated client certificate; new one valid until %s", not_after.isoformat())
        if self.on_rotated is not None:
            self.on_rotated(cert)

    async def run(self) -> None:
        retry = _RETRY_MIN_SECONDS
        while True:
            wait = (rotation_due(self.cert_pem, self.fraction) - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.rotate()
                retry = _RETRY_MIN_SECONDS
            except Exception as exc:  # keep the old certificate and try again, with backoff
                _, not_after = certificate_window(self.cert_pem)
                log.warning(
                    "certificate rotation failed (current one valid until %s): %s",
                    not_after.isoformat(),
                    exc,
                )
                await asyncio.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX_SECONDS)
