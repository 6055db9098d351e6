"""OIDC client credentials against the local issuer, for real over HTTPS on loopback; issued
JWTs are verified against the issuer's JWKS with cryptography."""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from transom.agent.credentials import CachedCredential, CredentialError
from transom.agent.credentials.oidc import (
    ClientAssertionSigner,
    OidcClientCredentialsSource,
    unverified_claims,
)
from transom.dev import pki
from transom.dev.oidc_issuer import OidcIssuer, authentication_config

SECRET = "s3cret+/:%&=value"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[OidcIssuer]:
    with OidcIssuer(tmp_path / "oidc", token_lifetime=900) as running:
        running.register_client("host-web01", SECRET, "web01")
        yield running


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def verified_claims(issuer: OidcIssuer, token: str) -> dict[str, Any]:
    """Checks the RS256 signature with the key the issuer publishes at its jwks_uri."""
    ssl_ctx = ssl.create_default_context(cadata=issuer.ca_pem.decode())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as session:
        async with session.get(f"{issuer.url}/.well-known/openid-configuration") as resp:
            jwks_uri = (await resp.json())["jwks_uri"]
        async with session.get(jwks_uri) as resp:
            jwks = await resp.json()
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(b64d(header_b64))
    assert header["alg"] == "RS256"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public_key = rsa.RSAPublicNumbers(
        int.from_bytes(b64d(jwk["e"]), "big"), int.from_bytes(b64d(jwk["n"]), "big")
    ).public_key()
    public_key.verify(
        b64d(signature_b64),
        f"{header_b64}.{claims_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(b64d(claims_b64))
    return claims


def source(issuer: OidcIssuer, **kwargs: Any) -> OidcClientCredentialsSource:
    kwargs.setdefault("client_secret", SECRET)
    return OidcClientCredentialsSource(issuer.url, "host-web01", ca_pem=issuer.ca_pem, **kwargs)


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
async def test_access_token_with_a_client_secret(issuer: OidcIssuer, method: str) -> None:
    before = time.time()
    token = await source(issuer, auth_method=method).fetch()
    claims = await verified_claims(issuer, token.token)
    assert claims["iss"] == issuer.url
    assert claims["aud"] == "transom"
    assert claims["sub"] == "host-web01"
    assert claims["transom_host"] == "web01"
    assert claims["exp"] - claims["iat"] == 900
    assert token.expires_at is not None
    assert before + 900 <= token.expires_at <= time.time() + 900


async def test_id_token_when_configured(issuer: OidcIssuer) -> None:
    token = await source(issuer, scope="openid", use="id_token").fetch()
    claims = await verified_claims(issuer, token.token)
    assert claims["aud"] == "host-web01"
    assert claims["transom_host"] == "web01"
    assert token.expires_at == claims["exp"]
    with pytest.raises(CredentialError, match="response has no id_token"):
        await source(issuer, use="id_token").fetch()


@pytest.mark.parametrize("kind", ["rsa", "ec"])
async def test_private_key_jwt(issuer: OidcIssuer, tmp_path: Path, kind: str) -> None:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issuer.register_client("host-db02", None, "db02", public_key_pem=public_pem)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = ClientAssertionSigner(private_pem, key_id="k1")
    src = OidcClientCredentialsSource(issuer.url, "host-db02", signer=signer, ca_pem=issuer.ca_pem)
    first = await src.fetch()
    assert (await verified_claims(issuer, first.token))["transom_host"] == "db02"
    # Each fetch signs a new assertion (fresh jti): the issuer refuses replays.
    second = await src.fetch()
    assert unverified_claims(second.token)["jti"] != unverified_claims(first.token)["jti"]
    assert private_pem.decode() not in repr(signer) + repr(src)


async def test_assertion_header_and_claims(tmp_path: Path) -> None:
    ca = pki.make_ca(tmp_path, "ca")
    pair = pki.issue(ca, tmp_path, "client", "host-db02")
    cert_pem = pair.cert.read_bytes()
    signer = ClientAssertionSigner(pair.key.read_bytes(), certificate_pem=cert_pem)
    assertion = signer.assertion("host-db02", "https://idp.example/token", 1_800_000_000.0)
    header_b64, claims_b64, signature_b64 = assertion.split(".")
    header = json.loads(b64d(header_b64))
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert header["alg"] == "ES256"
    assert b64d(header["x5t#S256"]) == digest.finalize()
    assert len(b64d(header["x5t"])) == 20
    claims = json.loads(b64d(claims_b64))
    assert claims["iss"] == claims["sub"] == "host-db02"
    assert claims["aud"] == "https://idp.example/token"
    assert claims["exp"] == 1_800_000_300
    assert len(b64d(signature_b64)) == 64  # raw r||s, as JWS wants


async def test_wrong_key_and_wrong_secret_are_refused(issuer: OidcIssuer) -> None:
    registered = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    issuer.register_client(
        "host-db03",
        None,
        "db03",
        public_key_pem=registered.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    signer = ClientAssertionSigner(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(CredentialError, match="401: invalid_client bad assertion signature"):
        await OidcClientCredentialsSource(
            issuer.url, "host-db03", signer=signer, ca_pem=issuer.ca_pem
        ).fetch()
    with pytest.raises(CredentialError, match="401: invalid_client wrong client secret") as err:
        await source(issuer, client_secret="not-" + SECRET).fetch()
    assert SECRET not in str(err.value)


async def test_issuer_refuses_replayed_assertions(issuer: OidcIssuer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer.register_client(
        "host-db04",
        None,
        "db04",
        public_key_pem=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    signer = ClientAssertionSigner(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signer.assertion("host-db04", issuer.token_endpoint, time.time()),
    }
    ssl_ctx = ssl.create_default_context(cadata=issuer.ca_pem.decode())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as session:
        statuses = []
        for _ in range(2):
            async with session.post(issuer.token_endpoint, data=form) as resp:
                statuses.append(resp.status)
    assert statuses == [200, 401]


async def test_untrusted_issuer_and_failed_discovery(issuer: OidcIssuer) -> None:
    with pytest.raises(CredentialError, match="cannot reach the issuer"):
        await OidcClientCredentialsSource(issuer.url, "host-web01", client_secret=SECRET).fetch()
    with pytest.raises(CredentialError, match="discovery answered 404"):
        await OidcClientCredentialsSource(
            issuer.url + "/elsewhere", "host-web01", client_secret=SECRET, ca_pem=issuer.ca_pem
        ).fetch()


async def test_cache_and_reprs_keep_secrets(issuer: OidcIssuer) -> None:
    now = [time.time()]
    src = source(issuer, clock=lambda: now[0])
    cache = CachedCredential(src, clock=lambda: now[0])
    first = await cache.token()
    assert await cache.token() == first
    now[0] += 900 - 60  # a minute before expiry: refresh
    assert await cache.token() != first
    for text in (repr(src), repr(cache), repr(await cache.get())):
        assert SECRET not in text
        assert first not in text


async def test_authentication_config(issuer: OidcIssuer) -> None:
    config = authentication_config(issuer, "transom")
    assert config["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert config["kind"] == "AuthenticationConfiguration"
    (jwt,) = config["jwt"]
    assert jwt["issuer"] == {
        "url": issuer.url,
        "audiences": ["transom"],
        "certificateAuthority": issuer.ca_pem.decode(),
    }
    assert jwt["claimMappings"]["username"] == {
        "expression": "'transom:host:' + claims.transom_host"
    }
    assert jwt["claimMappings"]["groups"] == {"expression": "['transom:hosts']"}
    assert "claims.transom_host.matches(" in jwt["claimValidationRules"][0]["expression"]
    written = yaml.safe_load(issuer.write_authentication_config().read_text())
    assert written == config
