"""EKS bearer tokens: a presigned STS GetCallerIdentity URL, as `aws eks get-token` makes them
(awscli `customizations/eks/get_token.py`); the cluster's authenticator replays the URL against
STS to learn the caller's IAM identity. Needs botocore (the `aws` extra), so the package does
not import this module for you."""

from __future__ import annotations

import asyncio
import base64
import calendar
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.exceptions  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
from botocore.auth import SigV4QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import (  # type: ignore[import-untyped]
    AssumeRoleCredentialFetcher,
    DeferredRefreshableCredentials,
)

from transom.agent.credentials.base import BearerToken, CredentialError

#: botocore's failures: its own, and an AWS service's answer (AssumeRole denied).
_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a wire-format prefix, not a secret)
CLUSTER_ID_HEADER = "x-k8s-aws-id"
#: Seconds the presigned URL is valid for, as awscli sends it.
URL_EXPIRES = 60
#: STS honours the token for 15 minutes from X-Amz-Date, whatever X-Amz-Expires says.
TOKEN_LIFETIME = 15 * 60


def sts_host(region: str | None) -> str:
    """The global endpoint when no region is given, else the regional one."""
    if region is None:
        return "sts.amazonaws.com"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"sts.{region}.{suffix}"


class EksTokenSource:
    """Signs with botocore credentials: explicit ones, or those of `session` (default: the
    default chain — environment, shared config and its `credential_process`, instance metadata,
    web identity) when `credentials` is None. With `role_arn`, those credentials first assume
    that role (refreshed by botocore before it expires)."""

    #: awscli reports an expiry of 14 minutes: refresh one minute before the real end.
    refresh_margin = 60.0

    def __init__(
        self,
        cluster_name: str,
        *,
        region: str | None = None,
        credentials: Any = None,
        session: Any = None,
        role_arn: str | None = None,
        role_session_name: str = "transom-agent",
    ) -> None:
        self.cluster_name = cluster_name
        self.region = region
        self.role_arn = role_arn
        self._credentials = credentials
        self._session = session
        self._role_session_name = role_session_name

    def __repr__(self) -> str:
        return f"EksTokenSource(cluster_name={self.cluster_name!r}, region={self.region!r})"

    def _resolve_credentials(self) -> Any:
        if self._credentials is None:
            session = self._session or botocore.session.get_session()
            try:
                found = session.get_credentials()
            except _BOTO_ERRORS as e:
                # botocore's messages name profiles and processes, never key material.
                raise CredentialError(f"{self!r}: AWS credentials: {e}") from None
            if found is None:
                raise CredentialError(f"{self!r}: no AWS credentials found")
            if self.role_arn is not None:
                found = self._assume_role(session, found)
            self._credentials = found
        return self._credentials

    def _assume_role(self, session: Any, source: Any) -> Any:
        def sts_client(service: str, **kwargs: Any) -> Any:
            # STS needs a region to sign in; the global endpoint's is us-east-1.
            return session.create_client(service, region_name=self.region or "us-east-1", **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=sts_client,
            source_credentials=source,
            role_arn=self.role_arn,
            extra_args={"RoleSessionName": self._role_session_name},
        )
        return DeferredRefreshableCredentials(
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )

    def presigned_url(self) -> str:
        # Frozen per call: refreshable credentials (instance roles) may rotate in between.
        try:
            frozen = self._resolve_credentials().get_frozen_credentials()
        except _BOTO_ERRORS as e:
            raise CredentialError(f"{self!r}: AWS credentials: {e}") from None
        request = AWSRequest(
            method="GET",
            url=f"https://{sts_host(self.region)}/",
            params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
            headers={CLUSTER_ID_HEADER: self.cluster_name},
        )
        SigV4QueryAuth(frozen, "sts", self.region or "us-east-1", expires=URL_EXPIRES).add_auth(
            request
        )
        return str(request.url)

    async def fetch(self) -> BearerToken:
        # botocore is synchronous and may call instance metadata to refresh credentials.
        url = await asyncio.to_thread(self.presigned_url)
        encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
        return BearerToken(TOKEN_PREFIX + encoded, expires_at=signed_at(url) + TOKEN_LIFETIME)


def signed_at(url: str) -> float:
    """Epoch seconds of a presigned URL's X-Amz-Date (`20261126T140931Z`)."""
    stamp = parse_qs(urlsplit(url).query)["X-Amz-Date"][0]
    return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))
