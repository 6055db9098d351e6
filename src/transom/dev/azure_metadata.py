"""Loopback stand-ins for the two local endpoints an Azure host gets its managed identity's
token from: the VM instance metadata service (IMDS) and the Azure Arc agent's challenge
endpoint. Tokens are real JWTs, signed by an `OidcIssuer` that plays Entra ID
(`https://.../<tenant>/v2.0`) and shaped like Entra's v2 access tokens for an app, so the
apiserver's structured authentication verifies them exactly as it would Entra's.

Both check what the real endpoints check: the `Metadata: true` header, the api-version, which
identity is asked for; Arc answers the first request with 401 and a fresh key file, and only a
request carrying that file's contents gets a token.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from transom.dev.loopback import LoopbackServer
from transom.dev.oidc_issuer import OidcIssuer

TOKEN_PATH = "/metadata/identity/oauth2/token"  # noqa: S105 - a URL path
IMDS_API_VERSION = "2018-02-01"
ARC_API_VERSION = "2019-11-01"


@dataclass(frozen=True)
class ManagedIdentity:
    """One identity: system-assigned (the machine's own) or user-assigned (by client ID or ARM
    resource ID), with the app roles assigned to it in the API application."""

    object_id: str
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    resource_id: str = ""
    roles: tuple[str, ...] = ()
    system_assigned: bool = False


def entra_claims(tenant: str, identity: ManagedIdentity, audience: str) -> dict[str, Any]:
    """The claims of an Entra ID v2 access token issued to a managed identity for an app."""
    return {
        "aud": audience,
        "tid": tenant,
        "oid": identity.object_id,
        "sub": identity.object_id,
        "azp": identity.client_id,
        "azpacr": "2",
        "idtyp": "app",
        "ver": "2.0",
        "roles": list(identity.roles),
        "uti": secrets.token_urlsafe(16),
        **({"xms_mirid": identity.resource_id} if identity.resource_id else {}),
    }


class ManagedIdentityEndpoint:
    """`mode="imds"` answers like 169.254.169.254; `mode="arc"` like the Arc agent on
    localhost:40342, writing challenge keys into `token_directory`. `requests` records the
    query and headers of each request (tests check what the agent sent)."""

    def __init__(
        self,
        issuer: OidcIssuer,
        tenant: str,
        identities: list[ManagedIdentity],
        *,
        mode: str = "imds",
        token_directory: Path | None = None,
    ) -> None:
        if mode == "arc" and token_directory is None:
            raise ValueError("the Arc stand-in needs a token directory")
        self.issuer = issuer
        self.tenant = tenant
        self.identities = identities
        self.mode = mode
        self.token_directory = token_directory
        self.requests: list[dict[str, str]] = []
        self._challenges: dict[str, Path] = {}
        self._server = LoopbackServer(self._app)

    @property
    def url(self) -> str:
        return f"{self._server.url}{TOKEN_PATH}"

    def start(self) -> ManagedIdentityEndpoint:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ManagedIdentityEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(TOKEN_PATH, self._token)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append({**request.query, **request.headers})
        if request.headers.get("Metadata") != "true":
            return _error(400, "invalid_request", "Required metadata header not specified")
        expected = ARC_API_VERSION if self.mode == "arc" else IMDS_API_VERSION
        if request.query.get("api-version") != expected:
            return _error(400, "invalid_request", f"api-version must be {expected}")
        resource = request.query.get("resource")
        if not resource:
            return _error(400, "invalid_request", "Required audience parameter not specified")
        if self.mode == "arc":
            denied = self._challenge(request)
            if denied is not None:
                return denied
        identity = self._identity(request.query)
        if identity is None:
            return _error(400, "invalid_request", "Identity not found")
        token = self.issuer.token_for(entra_claims(self.tenant, identity, resource))
        lifetime = self.issuer.token_lifetime
        return web.json_response(
            {
                "access_token": token,
                "expires_in": str(lifetime),
                "expires_on": str(int(time.time()) + lifetime),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            }
        )

    def _identity(self, query: Any) -> ManagedIdentity | None:
        client_id, resource_id = query.get("client_id"), query.get("msi_res_id")
        for identity in self.identities:
            if client_id is not None and identity.client_id == client_id:
                return identity
            if resource_id is not None and identity.resource_id.lower() == resource_id.lower():
                return identity
            if client_id is None and resource_id is None and identity.system_assigned:
                return identity
        return None

    def _challenge(self, request: web.Request) -> web.Response | None:
        """None when the request carries a current key's contents; else a new challenge."""
        assert self.token_directory is not None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            presented = auth.removeprefix("Basic ")
            for key, path in list(self._challenges.items()):
                if hmac.compare_digest(key.encode(), presented.encode()):
                    del self._challenges[key]
                    path.unlink(missing_ok=True)
                    return None
            return _error(401, "invalid_request", "challenge key does not match")
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        path = self.token_directory / f"{uuid.uuid4()}.key"
        path.write_text(key, encoding="utf-8")
        path.chmod(0o600)
        self._challenges[key] = path
        return web.json_response(
            {"error": "unauthorized"},
            status=401,
            headers={"WWW-Authenticate": f"Basic realm={path}"},
        )


def _error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)
