"""A JWT from an OpenID Connect issuer by the client credentials grant (RFC 6749 §4.4), for
the apiserver's structured authentication: AD FS, an Entra ID app, or any standard issuer.
The client proves itself with a secret or with a key (private_key_jwt, RFC 7523)."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
import uuid
from typing import Any, Literal
from urllib.parse import quote_plus

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from transom.agent.credentials.base import BearerToken, Clock, CredentialError

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Short-lived: the assertion is only ever presented once, right away.
_ASSERTION_LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified, or {} for an opaque token: only its expiry is read here
    (the apiserver verifies the signature)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class ClientAssertionSigner:
    """Signs RFC 7523 client assertions with an RSA (RS256) or P-256 (ES256) key. With the
    key's certificate the header names it by thumbprint (`x5t`, `x5t#S256`), which Entra ID
    and AD FS use to find the registered credential."""

    def __init__(
        self,
        private_key_pem: bytes,
        *,
        certificate_pem: bytes | None = None,
        key_id: str | None = None,
    ) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            self.algorithm = "ES256"
        else:
            raise CredentialError("client assertion key must be RSA or EC P-256")
        self._key = key
        self._header: dict[str, str] = {"alg": self.algorithm, "typ": "JWT"}
        if key_id is not None:
            self._header["kid"] = key_id
        if certificate_pem is not None:
            der = x509.load_pem_x509_certificate(certificate_pem).public_bytes(
                serialization.Encoding.DER
            )
            # SHA-1 here is an identifier the protocol defines (RFC 7515 §4.1.7), not security.
            self._header["x5t"] = b64url(hashlib.sha1(der, usedforsecurity=False).digest())
            self._header["x5t#S256"] = b64url(hashlib.sha256(der).digest())

    def __repr__(self) -> str:
        return f"ClientAssertionSigner(algorithm={self.algorithm!r})"

    def assertion(self, client_id: str, audience: str, now: float) -> str:
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": uuid.uuid4().hex,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + _ASSERTION_LIFETIME,
        }
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode())
            for part in (self._header, claims)
        ).encode()
        return f"{signing_input.decode()}.{b64url(self._sign(signing_input))}"

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        # JWS wants the raw r||s pair, not cryptography's DER encoding.
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class OidcClientCredentialsSource:
    """POSTs `grant_type=client_credentials` to the issuer's token endpoint (found by
    discovery unless given) and returns the access_token or the id_token, as `use` says.

    `scope` (Entra ID: `api://<app>/.default`) and `resource` (AD FS) are sent when set."""

    refresh_margin = 60.0

    def __init__(
        self,
        issuer: str,
        client_id: str,
        *,
        client_secret: str | None = None,
        signer: ClientAssertionSigner | None = None,
        auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post",
        scope: str | None = None,
        resource: str | None = None,
        use: Literal["access_token", "id_token"] = "access_token",
        token_endpoint: str | None = None,
        ca_pem: bytes | None = None,
        timeout: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        if (client_secret is None) == (signer is None):
            raise CredentialError(f"OIDC client {client_id!r}: give a client secret or a signer")
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._signer = signer
        self._auth_method = auth_method
        self._extra = {k: v for k, v in (("scope", scope), ("resource", resource)) if v}
        self.use = use
        self.token_endpoint = token_endpoint
        self._ssl = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock

    def __repr__(self) -> str:
        return f"OidcClientCredentialsSource(issuer={self.issuer!r}, client_id={self.client_id!r})"

    async def fetch(self) -> BearerToken:
        async with aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=self._ssl)
        ) as session:
            try:
                endpoint = self.token_endpoint or await self._discover(session)
                status, doc = await self._request_token(session, endpoint)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise CredentialError(f"{self!r}: cannot reach the issuer: {e!r}") from None
        if status != 200:
            # RFC 6749 §5.2 error fields; they never echo the client's credential.
            detail = " ".join(str(doc[k]) for k in ("error", "error_description") if k in doc)
            raise CredentialError(f"{self!r}: token endpoint answered {status}: {detail}")
        return self._token(doc)

    async def _discover(self, session: aiohttp.ClientSession) -> str:
        async with session.get(f"{self.issuer}/.well-known/openid-configuration") as resp:
            if resp.status != 200:
                raise CredentialError(f"{self!r}: discovery answered {resp.status}")
            try:
                doc = await resp.json(content_type=None)
            except ValueError:
                doc = None
        if not isinstance(doc, dict):
            raise CredentialError(f"{self!r}: discovery document is not a JSON object")
        # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched from.
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            raise CredentialError(f"{self!r}: discovery names issuer {doc.get('issuer')!r}")
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str):
            raise CredentialError(f"{self!r}: discovery has no token_endpoint")
        self.token_endpoint = endpoint
        return endpoint

    async def _request_token(
        self, session: aiohttp.ClientSession, endpoint: str
    ) -> tuple[int, dict[str, Any]]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, **self._extra}
        headers = {"Accept": "application/json"}
        if self._signer is not None:
            form["client_assertion_type"] = JWT_BEARER_ASSERTION
            form["client_assertion"] = self._signer.assertion(
                self.client_id, endpoint, self._clock()
            )
        elif self._auth_method == "client_secret_basic":
            assert self._secret is not None
            del form["client_id"]
            # RFC 6749 §2.3.1: both are form-urlencoded before going into the Basic header.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
            headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
        else:
            assert self._secret is not None
            form["client_secret"] = self._secret
        async with session.post(endpoint, data=form, headers=headers) as resp:
            try:
                doc = await resp.json(content_type=None)
            except ValueError:
                doc = {}
            return resp.status, doc if isinstance(doc, dict) else {}

    def _token(self, doc: dict[str, Any]) -> BearerToken:
        token = doc.get(self.use)
        if not isinstance(token, str) or not token:
            raise CredentialError(f"{self!r}: response has no {self.use}")
        if self.use == "access_token" and "expires_in" in doc:
            try:
                lifetime = float(doc["expires_in"])
            except (TypeError, ValueError):
                raise CredentialError(f"{self!r}: unreadable expires_in") from None
            return BearerToken(token, expires_at=self._clock() + lifetime)
        exp = unverified_claims(token).get("exp")
        return BearerToken(token, expires_at=float(exp) if isinstance(exp, int | float) else None)
