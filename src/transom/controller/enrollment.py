"""Enrollment tokens: bootstrap tokens limited to named hosts, a number of uses and a TTL."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transom.api import names
from transom.controller.csr import ANNOTATION_HOST_LABELS
from transom.kube.client import Kube
from transom.kube.kinds import SECRETS

_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class EnrollmentToken:
    token_id: str
    secret: str
    expires: dt.datetime

    @property
    def value(self) -> str:
        return f"{self.token_id}.{self.secret}"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


async def create_token(
    kube: Kube,
    hosts: Sequence[str],
    *,
    ttl: dt.timedelta = dt.timedelta(hours=1),
    max_uses: int = 0,
    labels: Mapping[str, str] | None = None,
) -> EnrollmentToken:
    """A bootstrap token (``[a-z0-9]{6}.[a-z0-9]{16}``) whose holder may enroll ``hosts``
    (or any name with ``*``); ``max_uses`` 0 means as many as there are named hosts."""
    if not hosts:
        raise ValueError("name at least one host, or * for any")
    for h in hosts:
        if h != "*":
            names.check_host_name(h)
    if ttl.total_seconds() < 60:
        raise ValueError("ttl must be at least 1 minute")
    token = EnrollmentToken(
        token_id="".join(secrets.choice(_ALPHABET) for _ in range(6)),
        secret="".join(secrets.choice(_ALPHABET) for _ in range(16)),
        expires=dt.datetime.now(dt.UTC) + ttl,
    )
    uses = max_uses or (0 if "*" in hosts else len(hosts))
    annotations = {names.ANNOTATION_ALLOWED_HOSTS: ",".join(hosts)}
    if uses:
        annotations[names.ANNOTATION_MAX_USES] = str(uses)
    if labels:
        annotations[ANNOTATION_HOST_LABELS] = ",".join(f"{k}={v}" for k, v in labels.items())
    await kube.create(
        SECRETS.path("kube-system"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "bootstrap.kubernetes.io/token",
            "metadata": {
                "name": f"bootstrap-token-{token.token_id}",
                "namespace": "kube-system",
                "annotations": annotations,
                "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY},
            },
            "data": {
                "token-id": _b64(token.token_id),
                "token-secret": _b64(token.secret),
                "expiration": _b64(token.expires.strftime("%Y-%m-%dT%H:%M:%SZ")),
                "usage-bootstrap-authentication": _b64("true"),
                "auth-extra-groups": _b64(names.BOOTSTRAPPERS_GROUP),
                "description": _b64(f"Transom enrollment for {', '.join(hosts)}"),
            },
        },
    )
    return token
