"""A small OpenID Connect issuer on loopback, for tests and demos of structured
authentication: discovery, a JWKS, and a token endpoint serving the client credentials grant
to registered clients (secret or private_key_jwt). Tokens carry a `transom_host` claim that
`authentication_config` maps to the host user `transom:host:<name>`.

Served over HTTPS (the apiserver accepts only https issuers) from its own thread and event
loop, so a synchronous test can start it and the apiserver can reach it while the test waits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import yaml
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from transom.dev import pki
from transom.dev.loopback import LoopbackServer

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HOST_CLAIM = "transom_host"
#: A DNS-1123 label, because the host name also names its namespace.
HOST_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class _Client:
    host_name: str
    secret: str | None
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class OidcIssuer:
    """`with OidcIssuer(tmp_dir) as issuer:` or `start()`/`stop()`. `url` is the issuer
    (and discovery base); `ca_pem` is what a client, or the apiserver, must trust."""

    def __init__(
        self,
        directory: Path,
        *,
        audience: str = "transom",
        token_lifetime: int = 600,
        port: int = 0,
        path: str = "",
    ) -> None:
        """``path`` makes the issuer `https://127.0.0.1:PORT<path>`, the way Entra ID
        (`/<tenant>/v2.0`) and AD FS (`/adfs`) name theirs."""
        self.directory = directory
        self.path = path.rstrip("/")
        self.audience = audience
        self.token_lifetime = token_lifetime
        self._port = port
        self._clients: dict[str, _Client] = {}
        self._seen_assertions: set[str] = set()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self._jwk = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
        # RFC 7638 thumbprint: a stable key id derived from the key itself.
        canonical = json.dumps(self._jwk, separators=(",", ":"), sort_keys=True).encode()
        self.key_id = _b64url(hashlib.sha256(canonical).digest())
        self._server: LoopbackServer | None = None
        self.url = ""
        self.ca_path = directory / "oidc-ca.crt"

    def __repr__(self) -> str:
        return f"OidcIssuer(url={self.url!r})"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> OidcIssuer:
        self.directory.mkdir(parents=True, exist_ok=True)
        ca = pki.make_ca(self.directory, "oidc-ca")
        serving = pki.issue(
            ca,
            self.directory,
            "oidc-serving",
            "127.0.0.1",
            server_names=("localhost",),
            server_ips=("127.0.0.1",),
            client=False,
        )
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(serving.cert), str(serving.key))
        self._server = LoopbackServer(self._app, tls=tls, port=self._port).start()
        self.url = f"{self._server.url}{self.path}"
        return self

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"{self.path}/.well-known/openid-configuration", self._discovery)
        app.router.add_get(f"{self.path}/jwks", self._jwks)
        app.router.add_post(f"{self.path}/token", self._token)
        return app

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients and keys ----------------------------------------------------------------------

    @property
    def ca_pem(self) -> bytes:
        return self.ca_path.read_bytes()

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/token"

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._jwk, "use": "sig", "alg": "RS256", "kid": self.key_id}]}

    def register_client(
        self,
        client_id: str,
        secret: str | None,
        host_name: str,
        *,
        public_key_pem: bytes | None = None,
    ) -> None:
        """A client authenticates with `secret`, or with assertions signed by the private half
        of `public_key_pem` (RSA or P-256); its tokens say `transom_host: host_name`."""
        public_key = None
        if public_key_pem is not None:
            loaded = serialization.load_pem_public_key(public_key_pem)
            if not isinstance(loaded, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                raise ValueError("client keys must be RSA or EC")
            public_key = loaded
        self._clients[client_id] = _Client(host_name, secret, public_key)

    def token_for(self, claims: dict[str, Any], *, lifetime: int | None = None) -> str:
        """A token from this issuer with ``claims`` (a person's `sub`, `groups`, an Entra
        managed identity's `oid`, `roles`): `iss`, `iat`, `nbf` and `exp` are added."""
        now = int(time.time())
        exp = now + (self.token_lifetime if lifetime is None else lifetime)
        return self.sign({"iss": self.url, "iat": now, "nbf": now, "exp": exp, **claims})

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key_id}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    # -- endpoints -----------------------------------------------------------------------------

    async def _discovery(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks",
                "token_endpoint": self.token_endpoint,
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                ],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            }
        )

    async def _jwks(self, _: web.Request) -> web.Response:
        return web.json_response(self.jwks)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        try:
            if fields.get("grant_type") != "client_credentials":
                raise _OAuthError(400, "unsupported_grant_type", "only client_credentials")
            client_id, client = self._authenticate(request, fields)
        except _OAuthError as e:
            return web.json_response(
                {"error": e.error, "error_description": e.description}, status=e.status
            )
        now = int(time.time())
        common = {"iss": self.url, "sub": client_id, "iat": now, "nbf": now}
        common |= {"exp": now + self.token_lifetime, HOST_CLAIM: client.host_name}
        body: dict[str, Any] = {
            "access_token": self.sign(
                {**common, "aud": self.audience, "client_id": client_id, "jti": uuid.uuid4().hex}
            ),
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        if "openid" in fields.get("scope", "").split():
            body["id_token"] = self.sign({**common, "aud": client_id, "azp": client_id})
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    def _authenticate(self, request: web.Request, fields: dict[str, str]) -> tuple[str, _Client]:
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                raise _OAuthError(401, "invalid_client", "malformed Basic credentials") from None
            return self._check_secret(unquote_plus(user), unquote_plus(password))
        if "client_assertion" in fields:
            if fields.get("client_assertion_type") != JWT_BEARER_ASSERTION:
                raise _OAuthError(400, "invalid_request", "unknown client_assertion_type")
            return self._check_assertion(fields["client_assertion"], fields.get("client_id"))
        return self._check_secret(fields.get("client_id", ""), fields.get("client_secret", ""))

    def _check_secret(self, client_id: str, secret: str) -> tuple[str, _Client]:
        client = self._clients.get(client_id)
        if client is None or client.secret is None:
            raise _OAuthError(401, "invalid_client", "unknown client")
        if not hmac.compare_digest(client.secret.encode(), secret.encode()):
            raise _OAuthError(401, "invalid_client", "wrong client secret")
        return client_id, client

    def _check_assertion(self, assertion: str, form_client_id: str | None) -> tuple[str, _Client]:
        """RFC 7523 §3: signed by the client's key, iss = sub = client, aud = this endpoint,
        unexpired, and never replayed."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError:
            raise _OAuthError(400, "invalid_request", "malformed client assertion") from None
        client_id = str(claims.get("sub", ""))
        client = self._clients.get(client_id)
        if client is None or client.public_key is None:
            raise _OAuthError(401, "invalid_client", "unknown client")
        if claims.get("iss") != client_id or form_client_id not in (None, client_id):
            raise _OAuthError(401, "invalid_client", "assertion iss/sub/client_id disagree")
        signed = f"{header_b64}.{claims_b64}".encode()
        if not _verify(client.public_key, str(header.get("alg")), signed, signature):
            raise _OAuthError(401, "invalid_client", "bad assertion signature")
        if claims.get("aud") not in (self.token_endpoint, self.url):
            raise _OAuthError(401, "invalid_client", "assertion audience is not this issuer")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            raise _OAuthError(401, "invalid_client", "assertion expired")
        jti = str(claims.get("jti", ""))
        if not jti or jti in self._seen_assertions:
            raise _OAuthError(401, "invalid_client", "assertion replayed or without jti")
        self._seen_assertions.add(jti)
        return client_id, client

    # -- apiserver configuration ---------------------------------------------------------------

    def write_authentication_config(self, audience: str | None = None) -> Path:
        """Writes `authentication_config(self, ...)` for `--authentication-config=<path>`."""
        path = self.directory / "authentication-config.yaml"
        config = authentication_config(self, audience or self.audience)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path


def _verify(
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, alg: str, signed: bytes, signature: bytes
) -> bool:
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            return True
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


def authentication_config(issuer: OidcIssuer, audience: str) -> dict[str, Any]:
    """An apiserver AuthenticationConfiguration (apiserver.config.k8s.io/v1, GA in 1.34) that
    trusts `issuer` for `audience` and makes each token's `transom_host` the host user."""
    return authentication_configuration([host_authenticator(issuer, audience)])


def authentication_configuration(authenticators: list[dict[str, Any]]) -> dict[str, Any]:
    """One AuthenticationConfiguration for several issuers (each `jwt[]` entry's issuer URL
    must be distinct)."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": authenticators,
    }


def write_authentication_configuration(path: Path, authenticators: list[dict[str, Any]]) -> Path:
    config = authentication_configuration(authenticators)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _issuer(issuer: OidcIssuer, audience: str) -> dict[str, Any]:
    return {
        "url": issuer.url,
        "audiences": [audience],
        "certificateAuthority": issuer.ca_pem.decode(),
    }


def host_authenticator(issuer: OidcIssuer, audience: str) -> dict[str, Any]:
    """Tokens whose `transom_host` claim names the host: user `transom:host:<name>`."""
    return {
        "issuer": _issuer(issuer, audience),
        "claimValidationRules": [
            {
                "expression": (
                    f"has(claims.{HOST_CLAIM}) && "
                    f"claims.{HOST_CLAIM}.matches('{HOST_NAME_PATTERN}')"
                ),
                "message": f"{HOST_CLAIM} must be a DNS-1123 label naming the host",
            }
        ],
        "claimMappings": {
            "username": {"expression": f"'transom:host:' + claims.{HOST_CLAIM}"},
            "groups": {"expression": "['transom:hosts']"},
            "uid": {"expression": "claims.sub"},
        },
    }


#: The app role a host's Entra identity holds: `transom.host.<name>` (docs/identity.md).
ENTRA_HOST_ROLE_PREFIX = "transom.host."


def entra_authenticator(issuer: OidcIssuer, tenant: str, api_app: str) -> dict[str, Any]:
    """Entra ID v2 access tokens for the cluster's API application, as docs/identity.md
    configures them: the one `transom.host.<name>` app role names the host."""
    prefix = ENTRA_HOST_ROLE_PREFIX
    return {
        "issuer": _issuer(issuer, api_app),
        "claimValidationRules": [
            {"expression": f"claims.tid == '{tenant}'", "message": "token is from another tenant"},
            {
                "expression": (
                    "has(claims.roles) && "
                    f"dyn(claims.roles).exists_one(r, r.startsWith('{prefix}'))"
                ),
                "message": f"the client must hold exactly one {prefix}<name> app role",
            },
        ],
        "claimMappings": {
            "username": {
                "expression": (
                    "'transom:host:' + dyn(claims.roles).filter(r, r.startsWith("
                    f"'{prefix}'))[0].substring({len(prefix)})"
                )
            },
            "groups": {"expression": "['transom:hosts']"},
            "uid": {"expression": "claims.oid"},
        },
    }


#: What the apiserver puts before a person's name and groups from an organisation's issuer,
#: so that no token can claim `system:masters` or `transom:hosts`.
PEOPLE_PREFIX = "oidc:"


def people_authenticator(
    issuer: OidcIssuer, audience: str, prefix: str = PEOPLE_PREFIX
) -> dict[str, Any]:
    r"""People from AD FS or Entra ID: the user from `upn`, the groups from the `groups` claim
    (AD FS: "Token-Groups - Qualified by Domain Name"; Entra ID: groups emitted as
    `NetBIOSDomain\sAMAccountName`), both prefixed."""
    return {
        "issuer": _issuer(issuer, audience),
        "claimMappings": {
            "username": {"claim": "upn", "prefix": prefix},
            "groups": {"claim": "groups", "prefix": prefix},
        },
    }
