"""Managed identity against a real HTTP server on loopback that speaks IMDS and the Arc
challenge flow (never the real 169.254.169.254)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from transom.agent.credentials import CachedCredential, CredentialError
from transom.agent.credentials.azure import (
    AKS_SERVER_APP_ID,
    ARC_URL,
    IMDS_URL,
    AzureArcSource,
    AzureImdsSource,
    managed_identity_from_environment,
)

ACCESS_TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJvaWQiOiJob3N0In0.c2lnbmF0dXJl"
ARC_SECRET = "arc-challenge-secret-0f3c9a"


@dataclass
class FakeAzure:
    """IMDS at /imds/..., Arc at /arc/...; records what each request carried."""

    key_file: Path
    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)
    expires: dict[str, str] = field(default_factory=lambda: {"expires_on": "1800000000"})

    def _check(self, request: web.Request, api_version: str) -> web.Response | None:
        self.requests.append(
            {**request.query, **{k: v for k, v in request.headers.items() if k != "Host"}}
        )
        if request.headers.get("Metadata") != "true":
            return web.json_response(
                {"error": "invalid_request", "error_description": "Required metadata header"},
                status=400,
            )
        if request.query.get("api-version") != api_version:
            return web.json_response({"error": "invalid_request"}, status=400)
        if request.query.get("resource") != AKS_SERVER_APP_ID:
            return web.json_response(
                {"error": "invalid_resource", "error_description": "AADSTS500011: not found"},
                status=400,
            )
        return None

    def _token(self) -> web.Response:
        return web.json_response(
            {
                "access_token": ACCESS_TOKEN,
                "resource": AKS_SERVER_APP_ID,
                "token_type": "Bearer",
                **self.expires,
            }
        )

    async def imds(self, request: web.Request) -> web.Response:
        return self._check(request, "2018-02-01") or self._token()

    async def arc(self, request: web.Request) -> web.Response:
        if (error := self._check(request, "2019-11-01")) is not None:
            return error
        auth = request.headers.get("Authorization")
        if auth is None:
            return web.Response(
                status=401, headers={"WWW-Authenticate": f"Basic realm={self.key_file}"}
            )
        if auth != f"Basic {ARC_SECRET}":
            return web.json_response(
                {"error": "unauthorized", "error_description": "invalid secret"}, status=401
            )
        return self._token()


@pytest.fixture
def token_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tokens"
    d.mkdir()
    (d / "challenge.key").write_text(ARC_SECRET + "\n")
    return d


@pytest.fixture
async def azure(token_dir: Path) -> AsyncIterator[FakeAzure]:
    fake = FakeAzure(key_file=token_dir / "challenge.key")
    app = web.Application()
    app.router.add_get("/imds/metadata/identity/oauth2/token", fake.imds)
    app.router.add_get("/arc/metadata/identity/oauth2/token", fake.arc)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def imds(azure: FakeAzure, client_id: str | None = None) -> AzureImdsSource:
    return AzureImdsSource(
        url=f"{azure.url}/imds/metadata/identity/oauth2/token",
        client_id=client_id,
        clock=lambda: 1000.0,
    )


def arc(azure: FakeAzure, token_dir: Path) -> AzureArcSource:
    return AzureArcSource(
        url=f"{azure.url}/arc/metadata/identity/oauth2/token", token_directory=token_dir
    )


async def test_imds_token(azure: FakeAzure) -> None:
    token = await imds(azure).fetch()
    assert token.token == ACCESS_TOKEN
    assert token.expires_at == 1800000000.0
    (req,) = azure.requests
    assert req["api-version"] == "2018-02-01"
    assert req["resource"] == "6dae42f8-4368-4678-94ff-3960e28e3630"
    assert req["Metadata"] == "true"
    assert "client_id" not in req


async def test_imds_user_assigned_identity_and_relative_expiry(azure: FakeAzure) -> None:
    azure.expires = {"expires_in": "3599"}
    token = await imds(azure, client_id="1111-2222").fetch()
    assert token.expires_at == 1000.0 + 3599
    assert azure.requests[0]["client_id"] == "1111-2222"


async def test_imds_error_is_reported(azure: FakeAzure) -> None:
    with pytest.raises(CredentialError, match=r"HTTP 400: AADSTS500011"):
        await AzureImdsSource(
            url=f"{azure.url}/imds/metadata/identity/oauth2/token", resource="api://nope"
        ).fetch()


async def test_arc_challenge_flow(azure: FakeAzure, token_dir: Path) -> None:
    token = await arc(azure, token_dir).fetch()
    assert token.token == ACCESS_TOKEN
    first, second = azure.requests
    assert first["api-version"] == "2019-11-01"
    assert first["resource"] == AKS_SERVER_APP_ID
    assert first["Metadata"] == second["Metadata"] == "true"
    assert "Authorization" not in first
    assert second["Authorization"] == f"Basic {ARC_SECRET}"


async def test_arc_wrong_secret_is_rejected_without_leaking_it(
    azure: FakeAzure, token_dir: Path
) -> None:
    (token_dir / "challenge.key").write_text("not-the-secret")
    with pytest.raises(CredentialError, match="HTTP 401: invalid secret") as err:
        await arc(azure, token_dir).fetch()
    assert "not-the-secret" not in str(err.value)
    assert len(azure.requests) == 2


@pytest.mark.parametrize("name", ["challenge.txt", "../challenge.key"])
async def test_arc_refuses_key_files_outside_its_directory(
    azure: FakeAzure, token_dir: Path, name: str
) -> None:
    outside = token_dir / name
    outside.write_text(ARC_SECRET)
    azure.key_file = outside
    with pytest.raises(CredentialError, match=r"not a \.key file in") as err:
        await arc(azure, token_dir).fetch()
    assert ARC_SECRET not in str(err.value)
    assert len(azure.requests) == 1


async def test_arc_missing_key_file(azure: FakeAzure, token_dir: Path) -> None:
    azure.key_file = token_dir / "gone.key"
    with pytest.raises(CredentialError, match="cannot read challenge key file"):
        await arc(azure, token_dir).fetch()


async def test_unreachable_endpoint(azure: FakeAzure, token_dir: Path) -> None:
    source = AzureArcSource(url="http://127.0.0.1:9/x", token_directory=token_dir, timeout=2)
    with pytest.raises(CredentialError, match="cannot reach"):
        await source.fetch()


async def test_cache_refreshes_five_minutes_ahead(azure: FakeAzure, token_dir: Path) -> None:
    now = [1800000000.0 - 301]
    cache = CachedCredential(arc(azure, token_dir), clock=lambda: now[0])
    assert await cache.token() == ACCESS_TOKEN
    assert await cache.token() == ACCESS_TOKEN
    assert len(azure.requests) == 2  # one challenge round trip, then cached
    now[0] += 1
    await cache.token()
    assert len(azure.requests) == 4


async def test_token_stays_out_of_reprs(azure: FakeAzure, token_dir: Path) -> None:
    source = arc(azure, token_dir)
    token = await source.fetch()
    for text in (repr(token), repr(source), repr(CachedCredential(source))):
        assert ACCESS_TOKEN not in text
        assert ARC_SECRET not in text


def test_environment_selects_arc_or_imds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("IMDS_ENDPOINT", raising=False)
    source = managed_identity_from_environment()
    assert isinstance(source, AzureImdsSource)
    assert source.url == IMDS_URL
    monkeypatch.setenv("IDENTITY_ENDPOINT", ARC_URL)
    monkeypatch.setenv("IMDS_ENDPOINT", "http://localhost:40342")
    source = managed_identity_from_environment()
    assert isinstance(source, AzureArcSource)
    assert source.url == ARC_URL
    with pytest.raises(CredentialError, match="system-assigned"):
        managed_identity_from_environment(client_id="x")
