"""A loopback stand-in for the EKS authenticator (aws-iam-authenticator) behind the apiserver's
webhook token authenticator (`--authentication-token-webhook-config-file`).

It checks a `k8s-aws-v1.` token by the authenticator's documented rules (prefix, unpadded
base64url, an https STS host, path `/`, only the known query parameters, Action
GetCallerIdentity, `x-k8s-aws-id` among the signed headers, X-Amz-Expires at most 900, X-Amz-Date
no older than 15 minutes), then does what STS would: recomputes the SigV4 signature with the
secret key of the access key ID it names (an implementation independent of botocore's) and
returns the caller. The caller's ARN is canonicalised (an assumed role becomes its role) and
mapped through EKS access entries, `{{SessionName}}` included.

`StsAssumeRole` plays STS's AssumeRole for the agent's `roleArn`: it hands out new credentials
for a role a known caller may assume, and registers them with the webhook, as STS would know
them.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

import yaml
from aiohttp import web

from transom.dev import pki
from transom.dev.loopback import LoopbackServer

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a wire-format prefix
CLUSTER_ID_HEADER = "x-k8s-aws-id"
MAX_TOKEN_BYTES = 4096
TOKEN_LIFETIME = 15 * 60
ALLOWED_PARAMETERS = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
_STS_HOST = re.compile(r"^sts(\.[a-z]{2}(-[a-z]+)+-\d+)?\.amazonaws\.com(\.cn)?$")
_ASSUMED_ROLE = re.compile(r"^arn:(aws[-a-z]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class TokenRejectedError(Exception):
    """Why the token is not accepted (shown to the apiserver, which logs it)."""


@dataclass(frozen=True)
class AwsCredentials:
    """What STS knows about one set of credentials and whose they are."""

    access_key_id: str
    secret_access_key: str
    #: STS GetCallerIdentity's Arn: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role.
    arn: str
    session_token: str | None = None


@dataclass(frozen=True)
class Caller:
    arn: str
    canonical_arn: str
    session_name: str
    access_key_id: str


@dataclass(frozen=True)
class AccessEntry:
    """An EKS access entry: the IAM principal, the Kubernetes user (`{{SessionName}}` is
    replaced) and groups."""

    principal_arn: str
    username: str
    groups: tuple[str, ...] = ()


def canonical_arn(arn: str) -> tuple[str, str]:
    """(IAM ARN, session name): an assumed-role ARN becomes its role's ARN."""
    m = _ASSUMED_ROLE.match(arn)
    if m is None:
        return arn, ""
    partition, account, role, session = m.groups()
    return f"arn:{partition}:iam::{account}:role/{role}", session


def verify_token(
    token: str,
    *,
    cluster_id: str,
    credentials: Mapping[str, AwsCredentials],
    now: float | None = None,
) -> Caller:
    """The caller a token proves, or TokenRejectedError."""
    now = time.time() if now is None else now
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejectedError("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejectedError(f"token is missing the {TOKEN_PREFIX!r} prefix")
    body = token.removeprefix(TOKEN_PREFIX)
    if "=" in body:
        raise TokenRejectedError("token is padded base64: it must be unpadded base64url")
    try:
        url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise TokenRejectedError("token is not base64url") from None
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise TokenRejectedError(f"unexpected scheme {parts.scheme!r} in the presigned URL")
    if not _STS_HOST.match(parts.netloc):
        raise TokenRejectedError(f"unexpected host {parts.netloc!r} in the presigned URL")
    if parts.path != "/":
        raise TokenRejectedError("unexpected path in the presigned URL")
    raw_pairs = [p.partition("=")[::2] for p in parts.query.split("&") if p]
    params: dict[str, str] = {}
    for key, value in raw_pairs:
        lower = unquote(key).lower()
        if lower not in ALLOWED_PARAMETERS:
            raise TokenRejectedError(f"query parameter {unquote(key)!r} is not allowed")
        if lower in params:
            raise TokenRejectedError(f"query parameter {unquote(key)!r} given twice")
        params[lower] = unquote(value)
    if params.get("action") != "GetCallerIdentity":
        raise TokenRejectedError("the presigned URL's Action is not GetCallerIdentity")
    signed_headers = params.get("x-amz-signedheaders", "").lower().split(";")
    if CLUSTER_ID_HEADER not in signed_headers:
        raise TokenRejectedError(f"the client did not sign the {CLUSTER_ID_HEADER} header")
    try:
        expires = int(params.get("x-amz-expires", ""))
    except ValueError:
        expires = -1
    if not 0 <= expires <= 900:
        raise TokenRejectedError("X-Amz-Expires must be between 0 and 900")
    stamp = params.get("x-amz-date", "")
    try:
        signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise TokenRejectedError(f"X-Amz-Date {stamp!r} is not YYYYMMDDTHHMMSSZ") from None
    if now > signed_at + TOKEN_LIFETIME:
        raise TokenRejectedError("X-Amz-Date is more than 15 minutes ago: the token expired")
    return _sts_get_caller_identity(parts.netloc, raw_pairs, params, cluster_id, credentials)


def _sts_get_caller_identity(
    host: str,
    raw_pairs: Sequence[tuple[str, str]],
    params: Mapping[str, str],
    cluster_id: str,
    credentials: Mapping[str, AwsCredentials],
) -> Caller:
    """What STS does with the replayed URL (the authenticator sends `x-k8s-aws-id` with its
    own cluster ID, so a token made for another cluster fails the signature)."""
    if params.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise TokenRejectedError("X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    scope = params.get("x-amz-credential", "").split("/")
    if len(scope) != 5 or scope[3] != "sts" or scope[4] != "aws4_request":
        raise TokenRejectedError("X-Amz-Credential is not an STS credential scope")
    access_key_id, day, region = scope[0], scope[1], scope[2]
    creds = credentials.get(access_key_id)
    if creds is None:
        raise TokenRejectedError("STS: the security token included in the request is invalid")
    if creds.session_token is not None and params.get("x-amz-security-token") != (
        creds.session_token
    ):
        raise TokenRejectedError("STS: the security token included in the request is invalid")
    stamp = params["x-amz-date"]
    header_values = {"host": host, CLUSTER_ID_HEADER: cluster_id}
    signed = params["x-amz-signedheaders"].lower().split(";")
    if any(h not in header_values for h in signed):
        raise TokenRejectedError("STS: a signed header was not sent")
    canonical_query = "&".join(
        f"{k}={v}" for k, v in sorted(raw_pairs) if unquote(k).lower() != "x-amz-signature"
    )
    canonical_headers = "".join(f"{h}:{header_values[h]}\n" for h in signed)
    canonical_request = "\n".join(
        ["GET", "/", canonical_query, canonical_headers, ";".join(signed), _EMPTY_SHA256]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            stamp,
            f"{day}/{region}/sts/aws4_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{creds.secret_access_key}".encode()
    for part in (day, region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params.get("x-amz-signature", "")):
        raise TokenRejectedError(
            "STS: the request signature does not match (another cluster's token, or altered)"
        )
    iam_arn, session = canonical_arn(creds.arn)
    return Caller(creds.arn, iam_arn, session, access_key_id)


def map_caller(caller: Caller, entries: Sequence[AccessEntry]) -> tuple[str, tuple[str, ...]]:
    for entry in entries:
        if entry.principal_arn == caller.canonical_arn:
            return entry.username.replace("{{SessionName}}", caller.session_name), entry.groups
    raise TokenRejectedError(f"no access entry for {caller.canonical_arn}")


class EksAuthenticatorWebhook:
    """HTTPS on loopback, answering the apiserver's TokenReviews for `cluster_id`.
    `write_config(path)` writes the file for `--authentication-token-webhook-config-file`."""

    def __init__(
        self,
        directory: Path,
        cluster_id: str,
        credentials: Sequence[AwsCredentials],
        entries: Sequence[AccessEntry],
    ) -> None:
        self.directory = directory
        self.cluster_id = cluster_id
        #: Access key ID -> what STS knows of it (StsAssumeRole adds the roles it hands out).
        self.credentials = {c.access_key_id: c for c in credentials}
        self.entries = list(entries)
        #: The outcome of each review: the user, or why the token was rejected.
        self.reviews: list[str] = []
        self._server: LoopbackServer | None = None

    def start(self) -> EksAuthenticatorWebhook:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = pki.make_ca(self.directory, "eks-webhook-ca")
        serving = pki.issue(
            self.ca,
            self.directory,
            "eks-webhook",
            "127.0.0.1",
            server_names=("localhost",),
            server_ips=("127.0.0.1",),
            client=False,
        )
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(serving.cert), str(serving.key))
        self._server = LoopbackServer(self._app, tls=tls).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> EksAuthenticatorWebhook:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"{self._server.url}/authenticate"

    def write_config(self, path: Path) -> Path:
        ca = base64.b64encode(self.ca.cert.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "eks-authenticator",
                    "cluster": {"server": self.url, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": "apiserver", "user": {}}],
            "contexts": [
                {
                    "name": "webhook",
                    "context": {"cluster": "eks-authenticator", "user": "apiserver"},
                }
            ],
            "current-context": "webhook",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/authenticate", self._review)
        return app

    async def _review(self, request: web.Request) -> web.Response:
        review: dict[str, Any] = json.loads(await request.read())
        token = str((review.get("spec") or {}).get("token", ""))
        status: dict[str, Any]
        try:
            caller = verify_token(token, cluster_id=self.cluster_id, credentials=self.credentials)
            username, groups = map_caller(caller, self.entries)
            status = {
                "authenticated": True,
                "user": {
                    "username": username,
                    "uid": f"aws-iam-authenticator:{caller.canonical_arn}",
                    "groups": list(groups),
                    "extra": {"arn": [caller.arn], "accessKeyId": [caller.access_key_id]},
                },
            }
            self.reviews.append(username)
        except TokenRejectedError as e:
            status = {"authenticated": False, "error": str(e)}
            self.reviews.append(f"rejected: {e}")
        return web.json_response(
            {
                "apiVersion": review.get("apiVersion", "authentication.k8s.io/v1"),
                "kind": "TokenReview",
                "status": status,
            }
        )


class StsAssumeRole:
    """A loopback STS that answers AssumeRole (the query API, form-encoded POST): a caller
    whose access key ID it knows may assume the roles ``trust`` lists for it; the new
    credentials are added to ``webhook.credentials`` with the assumed-role ARN. Served over
    plain HTTP on 127.0.0.1 (botocore's `endpoint_url` for sts in the shared config)."""

    def __init__(self, webhook: EksAuthenticatorWebhook, trust: Mapping[str, Sequence[str]]):
        self.webhook = webhook
        self.trust = {k: tuple(v) for k, v in trust.items()}
        #: (role ARN, session name) of every role assumed.
        self.assumed: list[tuple[str, str]] = []
        self._server = LoopbackServer(self._app)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> StsAssumeRole:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> StsAssumeRole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._assume_role)
        return app

    async def _assume_role(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        credential = request.headers.get("Authorization", "").partition("Credential=")[2]
        caller = credential.split("/")[0]
        role, session = form.get("RoleArn", ""), form.get("RoleSessionName", "")
        if form.get("Action") != "AssumeRole":
            return _sts_error(400, "InvalidAction", "only AssumeRole")
        if caller not in self.webhook.credentials or role not in self.trust.get(caller, ()):
            return _sts_error(403, "AccessDenied", f"{caller} may not assume {role}")
        m = re.match(r"^arn:(aws[-a-z]*):iam::(\d{12}):role/(.+)$", role)
        if m is None or not re.match(r"^[\w+=,.@-]{2,64}$", session):
            return _sts_error(400, "ValidationError", "bad RoleArn or RoleSessionName")
        partition, account, name = m.groups()
        assumed = AwsCredentials(
            access_key_id="ASIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            arn=f"arn:{partition}:sts::{account}:assumed-role/{name}/{session}",
            session_token=secrets.token_urlsafe(60),
        )
        self.webhook.credentials[assumed.access_key_id] = assumed
        self.assumed.append((role, session))
        expiration = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        body = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleResult><Credentials>"
            f"<AccessKeyId>{assumed.access_key_id}</AccessKeyId>"
            f"<SecretAccessKey>{escape(assumed.secret_access_key)}</SecretAccessKey>"
            f"<SessionToken>{escape(assumed.session_token or '')}</SessionToken>"
            f"<Expiration>{expiration}</Expiration>"
            "</Credentials><AssumedRoleUser>"
            f"<AssumedRoleId>AROA{secrets.token_hex(8).upper()}:{escape(session)}</AssumedRoleId>"
            f"<Arn>{escape(assumed.arn)}</Arn>"
            "</AssumedRoleUser></AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{secrets.token_hex(16)}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )
        return web.Response(text=body, content_type="text/xml")


def _sts_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        f"<Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{secrets.token_hex(16)}</RequestId></ErrorResponse>"
    )
    return web.Response(status=status, text=body, content_type="text/xml")
