"""Entra ID tokens from a managed identity, for the AKS server audience: the Azure VM instance
metadata service (IMDS), and the Azure Arc agent's challenge flow on Arc-enabled servers (the
on-premises Windows Server case). Same wire format as azure-identity, without its weight."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from transom.agent.credentials.base import BearerToken, Clock, CredentialError

#: The Entra application every AKS cluster's apiserver accepts tokens for.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
IMDS_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
ARC_URL = "http://localhost:40342/metadata/identity/oauth2/token"
#: The Arc agent writes at most this much; anything larger is not its key file.
_ARC_KEY_MAX_BYTES = 4096


def arc_token_directory() -> Path:
    """Where the Arc agent (himds) writes challenge key files; readable by administrators only."""
    if sys.platform == "win32":
        program_data = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(program_data) / "AzureConnectedMachineAgent" / "Tokens"
    return Path("/var/opt/azcmagent/tokens")


class _ManagedIdentity:
    refresh_margin = 300.0  # azure-identity refreshes 5 minutes ahead too

    def __init__(
        self,
        *,
        url: str,
        api_version: str,
        resource: str,
        timeout: float,
        clock: Clock,
    ) -> None:
        self.url = url
        self.resource = resource
        self._params = {"api-version": api_version, "resource": resource}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, resource={self.resource!r})"

    async def _get(
        self, session: aiohttp.ClientSession, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, str, str | None]:
        try:
            async with session.get(self.url, params=params, headers=headers) as resp:
                body = await resp.text()
                return resp.status, body, resp.headers.get("WWW-Authenticate")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise CredentialError(f"{self!r}: cannot reach the endpoint: {e!r}") from None

    def _token(self, status: int, body: str) -> BearerToken:
        doc = _json_object(body)
        if status != 200:
            # error / error_description are safe to show: they never echo a credential.
            detail = doc.get("error_description") or doc.get("error") or body[:200]
            raise CredentialError(f"{self!r}: HTTP {status}: {detail}")
        token = doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise CredentialError(f"{self!r}: response has no access_token")
        return BearerToken(token, expires_at=self._expiry(doc))

    def _expiry(self, doc: dict[str, Any]) -> float | None:
        # Both arrive as strings of seconds: expires_on absolute, expires_in relative.
        try:
            if "expires_on" in doc:
                return float(doc["expires_on"])
            if "expires_in" in doc:
                return self._clock() + float(doc["expires_in"])
        except (TypeError, ValueError):
            raise CredentialError(f"{self!r}: unreadable token expiry") from None
        return None


class AzureImdsSource(_ManagedIdentity):
    """An Azure VM's managed identity; `client_id` or `resource_id` (the identity's ARM ID)
    picks a user-assigned one."""

    def __init__(
        self,
        *,
        resource: str = AKS_SERVER_APP_ID,
        client_id: str | None = None,
        resource_id: str | None = None,
        url: str = IMDS_URL,
        timeout: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            url=url, api_version="2018-02-01", resource=resource, timeout=timeout, clock=clock
        )
        if client_id is not None and resource_id is not None:
            raise CredentialError("managed identity: give client_id or resource_id, not both")
        if client_id is not None:
            self._params["client_id"] = client_id
        if resource_id is not None:
            self._params["msi_res_id"] = resource_id

    async def fetch(self) -> BearerToken:
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            status, body, _ = await self._get(session, self._params, {"Metadata": "true"})
        return self._token(status, body)


class AzureArcSource(_ManagedIdentity):
    """An Arc-enabled server's system-assigned identity. The agent answers the first request
    with 401 and the path of a key file only an administrator can read; presenting its
    contents proves the caller runs with that privilege on this machine."""

    def __init__(
        self,
        *,
        resource: str = AKS_SERVER_APP_ID,
        url: str = ARC_URL,
        token_directory: Path | None = None,
        timeout: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            url=url, api_version="2019-11-01", resource=resource, timeout=timeout, clock=clock
        )
        self.token_directory = token_directory or arc_token_directory()

    async def fetch(self) -> BearerToken:
        headers = {"Metadata": "true"}
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            status, body, challenge = await self._get(session, self._params, headers)
            if status == 401:
                secret = self._read_key(challenge)
                headers["Authorization"] = f"Basic {secret}"
                status, body, _ = await self._get(session, self._params, headers)
        return self._token(status, body)

    def _read_key(self, challenge: str | None) -> str:
        scheme, _, realm = (challenge or "").partition(" realm=")
        if scheme.strip().lower() != "basic" or not realm:
            raise CredentialError(f"{self!r}: 401 without a Basic realm challenge")
        path = Path(realm.strip().strip('"'))
        # A local process could answer on the port first: only read where himds writes.
        if path.suffix != ".key" or path.resolve().parent != self.token_directory.resolve():
            raise CredentialError(
                f"{self!r}: challenge names {str(path)!r}, not a .key file in "
                f"{str(self.token_directory)!r}"
            )
        try:
            if path.stat().st_size > _ARC_KEY_MAX_BYTES:
                raise CredentialError(f"{self!r}: challenge key file {str(path)!r} is too large")
            return path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise CredentialError(
                f"{self!r}: cannot read challenge key file {str(path)!r}: {e.strerror}"
            ) from None


def managed_identity_from_environment(
    resource: str = AKS_SERVER_APP_ID, *, client_id: str | None = None
) -> AzureImdsSource | AzureArcSource:
    """The Arc agent sets IDENTITY_ENDPOINT and IMDS_ENDPOINT machine-wide (as azure-identity
    detects it); otherwise this is an Azure VM."""
    endpoint = os.environ.get("IDENTITY_ENDPOINT")
    if endpoint and os.environ.get("IMDS_ENDPOINT"):
        if client_id is not None:
            raise CredentialError("Azure Arc supports only the system-assigned identity")
        return AzureArcSource(resource=resource, url=endpoint)
    return AzureImdsSource(resource=resource, client_id=client_id)


def _json_object(body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}
