"""Enrollment: a key made on the host, a CSR signed by the cluster, a stored identity.

`transom agent enroll` authenticates once with a bootstrap token, asks for a client
certificate for ``transom:host:<name>`` (group ``transom:hosts``) through the CSR API with the
``kubernetes.io/kube-apiserver-client`` signer, waits for the controller to approve it and
kube-controller-manager to sign it, and keeps the key, the certificate and a small config in
the state directory. The token is used in memory only: never written, never logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from transom.agent.store import SecretStore, default_store, private_dir
from transom.api.names import CLIENT_SIGNER, HOSTS_GROUP, check_host_name, host_namespace, host_user
from transom.api.wire import API_VERSION
from transom.engine.atomicfile import write_atomic
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CSRS

log = logging.getLogger(__name__)

CONFIG_FILE = "agent.yaml"
KEY_NAME = "client.key"
CERT_NAME = "client.crt"
#: Client certificates live a day by default and are rotated at 70% of that.
DEFAULT_EXPIRATION_SECONDS = 86_400
#: The CSR API's minimum.
MIN_EXPIRATION_SECONDS = 600
DEFAULT_TIMEOUT_SECONDS = 300.0
#: How long a 401 is taken for a token the apiserver has not picked up yet.
UNKNOWN_TOKEN_GRACE_SECONDS = 10.0


class EnrollmentError(Exception):
    """Enrollment or renewal failed; the message says why (never a credential)."""


@dataclass(frozen=True)
class AgentConfig:
    """What the agent needs besides its key: where the cluster is, and who it is there."""

    server: str
    host: str
    ca_pem: bytes | None = None

    @property
    def namespace(self) -> str:
        return host_namespace(self.host)

    def save(self, state_dir: Path) -> None:
        doc: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "AgentConfig",
            "server": self.server,
            "host": self.host,
        }
        if self.ca_pem:
            doc["certificateAuthorityData"] = base64.b64encode(self.ca_pem).decode()
        private_dir(state_dir)
        write_atomic(str(state_dir / CONFIG_FILE), yaml.safe_dump(doc).encode())

    @classmethod
    def load(cls, state_dir: Path) -> AgentConfig:
        path = state_dir / CONFIG_FILE
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EnrollmentError(
                f"{path} not found: enroll first with `transom agent enroll`"
            ) from None
        ca = doc.get("certificateAuthorityData")
        return cls(
            server=str(doc["server"]),
            host=check_host_name(str(doc["host"])),
            ca_pem=base64.b64decode(ca) if ca else None,
        )


@dataclass(frozen=True)
class Identity:
    config: AgentConfig
    cert_pem: bytes
    key_pem: bytes

    def kube_config(self) -> KubeConfig:
        return KubeConfig(
            server=self.config.server,
            ca_pem=self.config.ca_pem,
            cert_pem=self.cert_pem,
            key_pem=self.key_pem,
        )


def new_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """An EC P-256 key and its unencrypted PKCS#8 PEM (the store protects it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key, pem


def make_csr(host: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, HOSTS_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, host_user(host)),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_object(host: str, csr_pem: bytes, expiration_seconds: int) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {
            # Unique per attempt: a denied request must not block the next one.
            "name": f"transom-host-{host}-{secrets.token_hex(4)}",
            "labels": {"transom.dev/host": host},
        },
        "spec": {
            "request": base64.b64encode(csr_pem).decode(),
            "signerName": CLIENT_SIGNER,
            "usages": ["client auth", "digital signature"],
            "expirationSeconds": max(expiration_seconds, MIN_EXPIRATION_SECONDS),
        },
    }


def certificate_window(cert_pem: bytes) -> tuple[datetime, datetime]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _outcome(csr: dict[str, Any]) -> bytes | None:
    """The signed certificate, None while pending; raises when denied or failed."""
    status = csr.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") in ("Denied", "Failed") and cond.get("status", "True") == "True":
            verb = "denied" if cond["type"] == "Denied" else "failed"
            detail = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
            raise EnrollmentError(
                f"certificate request {csr['metadata']['name']} was {verb}"
                + (f": {detail}" if detail else "")
            )
    cert = status.get("certificate")
    return base64.b64decode(cert) if cert else None


async def wait_for_certificate(
    kube: Kube, name: str, *, timeout: float, resource_version: str | None, watch: bool = True
) -> bytes:
    """Wait for a CSR to be signed. Bootstrappers may watch; a host renewing its certificate
    may only get its CSR, so it polls (once a second, for a rare event)."""
    deadline = time.monotonic() + timeout
    rv = resource_version
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EnrollmentError(
                f"certificate request {name} was not signed within {timeout:.0f} s: is the "
                "controller running and is this token allowed to enroll this name?"
            )
        if not watch:
            cert = _outcome(await kube.get(CSRS.path(name=name)))
            if cert is not None:
                return cert
            await asyncio.sleep(min(1.0, remaining))
            continue
        try:
            async with asyncio.timeout(remaining):
                if rv is None:
                    current = await kube.get(CSRS.path(name=name))
                    cert = _outcome(current)
                    if cert is not None:
                        return cert
                    rv = current["metadata"]["resourceVersion"]
                async for event in kube.watch(
                    CSRS.path(),
                    resource_version=rv,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=max(1, int(remaining)),
                ):
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        rv = None  # expired resourceVersion: read it again
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        cert = _outcome(obj)
                        if cert is not None:
                            return cert
        except TimeoutError:
            continue
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("waiting for certificate request %s: %s", name, exc)
            await asyncio.sleep(1.0)


def _refused(exc: ApiError) -> NoReturn:
    if exc.status in (401, 403):
        raise EnrollmentError(
            f"the API server refused the certificate request ({exc.status} {exc.reason}): "
            "the token may be wrong, expired or not in group system:bootstrappers:transom"
        ) from None
    raise EnrollmentError(f"could not submit the certificate request: {exc}") from None


async def request_certificate(
    kube: Kube,
    host: str,
    *,
    expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    watch: bool = True,
) -> tuple[bytes, bytes]:
    """Submit a CSR for ``host`` as whoever ``kube`` authenticates as; return (cert, key) PEM."""
    key, key_pem = new_key()
    body = csr_object(host, make_csr(host, key), expiration_seconds)
    deadline = time.monotonic() + UNKNOWN_TOKEN_GRACE_SECONDS
    delay = 0.2
    while True:
        try:
            created = await kube.create(CSRS.path(), body)
            break
        except ApiError as exc:
            if exc.status == 401 and time.monotonic() + delay < deadline:
                # The apiserver reads bootstrap tokens through its own Secret cache: a token
                # created a moment ago may not be known yet.
                log.info("token not accepted yet (401); retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            _refused(exc)
    name = created["metadata"]["name"]
    log.info("submitted certificate request %s for %s", name, host_user(host))
    cert = await wait_for_certificate(
        kube,
        name,
        timeout=timeout,
        resource_version=created["metadata"].get("resourceVersion"),
        watch=watch,
    )
    return cert, key_pem


def save_credentials(store: SecretStore, cert_pem: bytes, key_pem: bytes) -> None:
    # Key first: a crash in between leaves a key without its certificate, never a certificate
    # whose key is gone.
    store.write(KEY_NAME, key_pem)
    store.write(CERT_NAME, cert_pem)


def load_identity(state_dir: Path, store: SecretStore | None = None) -> Identity:
    config = AgentConfig.load(state_dir)
    store = store or default_store(state_dir)
    cert, key = store.read(CERT_NAME), store.read(KEY_NAME)
    if cert is None or key is None:
        raise EnrollmentError(f"no client certificate in {state_dir}: enroll first")
    return Identity(config, cert, key)


async def enroll(
    server: str,
    token: str,
    host: str,
    *,
    state_dir: Path,
    ca_pem: bytes | None = None,
    expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    store: SecretStore | None = None,
) -> Identity:
    """Enroll this host as ``host``: returns the stored identity."""
    check_host_name(host)
    bootstrap = KubeConfig(server=server, ca_pem=ca_pem, token=token)
    async with Kube(bootstrap, field_manager="transom-agent") as kube:
        cert, key = await request_certificate(
            kube, host, expiration_seconds=expiration_seconds, timeout=timeout
        )
    store = store or default_store(state_dir)
    private_dir(state_dir)
    save_credentials(store, cert, key)
    config = AgentConfig(server=server, host=host, ca_pem=ca_pem)
    config.save(state_dir)
    _, not_after = certificate_window(cert)
    log.info("enrolled as %s; certificate valid until %s", host_user(host), not_after.isoformat())
    return Identity(config, cert, key)
