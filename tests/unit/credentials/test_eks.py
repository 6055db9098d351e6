"""EKS tokens: the exact wire format, and a SigV4 signature recomputed from the spec."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from transom.agent.credentials import BearerToken, CachedCredential
from transom.agent.credentials.eks import EksTokenSource

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE/session+token=="
T0 = dt.datetime(2026, 11, 26, 14, 0, 0)
T0_EPOCH = T0.replace(tzinfo=dt.UTC).timestamp()


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def utc(self, remove_tzinfo: bool = True) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now, dt.UTC).replace(tzinfo=None)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """One fake time for both the cache and botocore's signer (which reads the clock itself)."""
    fake = FakeClock(T0_EPOCH)
    monkeypatch.setattr("botocore.auth.get_current_datetime", fake.utc)
    return fake


def decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body and "+" not in body and "/" not in body
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def expected_signature(url: str, region: str, secret: str, cluster: str) -> str:
    """SigV4 (AWS General Reference, 'Create a signed AWS API request'), written from the spec:
    canonical request -> string to sign -> HMAC chain of date, region, service, aws4_request."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Signature"]
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params)
    )
    canonical_request = "\n".join(
        [
            "GET",
            "/",
            canonical_query,
            f"host:{parts.hostname}\nx-k8s-aws-id:{cluster}\n",
            "host;x-k8s-aws-id",
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    amz_date = dict(params)["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{region}/sts/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("region", "host", "signing_region"),
    [
        ("eu-west-1", "sts.eu-west-1.amazonaws.com", "eu-west-1"),
        (None, "sts.amazonaws.com", "us-east-1"),
        ("cn-north-1", "sts.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ],
)
async def test_token_is_a_presigned_get_caller_identity_url(
    clock: FakeClock, region: str | None, host: str, signing_region: str
) -> None:
    creds = Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
    token = await EksTokenSource("prod-cluster", region=region, credentials=creds).fetch()
    url = decode(token.token)
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("https", host, "/")
    query = dict(parse_qsl(parts.query))
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Date"] == "20261126T140000Z"
    assert query["X-Amz-Credential"] == f"{ACCESS_KEY}/20261126/{signing_region}/sts/aws4_request"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Security-Token"] == SESSION_TOKEN
    # The operation parameters come first, as STS and the authenticator expect.
    assert parts.query.startswith("Action=GetCallerIdentity&Version=2011-06-15&")
    assert query["X-Amz-Signature"] == expected_signature(
        url, signing_region, SECRET_KEY, "prod-cluster"
    )
    assert token.expires_at == T0_EPOCH + 15 * 60


async def test_signature_binds_the_cluster_and_secret(clock: FakeClock) -> None:
    creds = Credentials(ACCESS_KEY, SECRET_KEY)
    url = decode((await EksTokenSource("a", region="us-west-2", credentials=creds).fetch()).token)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    assert "X-Amz-Security-Token" not in url
    assert signature == expected_signature(url, "us-west-2", SECRET_KEY, "a")
    assert signature != expected_signature(url, "us-west-2", SECRET_KEY, "b")
    assert signature != expected_signature(url, "us-west-2", SECRET_KEY + "x", "a")


async def test_cached_token_is_refreshed_at_14_minutes(clock: FakeClock) -> None:
    cache = CachedCredential(
        EksTokenSource("c", region="us-west-2", credentials=Credentials(ACCESS_KEY, SECRET_KEY)),
        clock=clock,
    )
    first = await cache.token()
    clock.now = T0_EPOCH + 14 * 60 - 1
    assert await cache.token() == first
    clock.now = T0_EPOCH + 14 * 60
    second = await cache.token()
    assert second != first
    assert "X-Amz-Date=20261126T141400Z" in decode(second)


async def test_secrets_stay_out_of_reprs(clock: FakeClock) -> None:
    source = EksTokenSource("c", credentials=Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN))
    token = await source.fetch()
    assert isinstance(token, BearerToken)
    for text in (repr(token), repr(source), repr(CachedCredential(source))):
        assert token.token not in text
        assert SECRET_KEY not in text
        assert SESSION_TOKEN not in text
