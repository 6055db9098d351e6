"""Approve host certificate requests, and only those the requester may make.

kube-controller-manager signs whatever is approved, so this is where enrollment is decided:
a bootstrap-token holder may enroll the names its token allows (and not take over a live
host), and a host may renew only its own name. Everything else for our names is denied with
the reason; CSRs for other users are left alone.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from transom.api import names
from transom.api.wire import API_VERSION
from transom.controller.cache import Cache, Writer
from transom.controller.hosts import HostReconciler
from transom.kube.client import ApiError
from transom.kube.kinds import CSRS, HOSTS, SECRETS

log = logging.getLogger(__name__)

APPROVED_REASON = "TransomHostIdentity"
DENIED_REASON = "TransomEnrollmentRefused"
ALLOWED_USAGES = {"client auth", "digital signature", "key encipherment"}
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"
ANNOTATION_HOST_LABELS = "transom.dev/host-labels"


class RefusedError(Exception):
    pass


def _decided(obj: dict[str, Any]) -> bool:
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") in {"Approved", "Denied", "Failed"} for c in conds)


def subject(obj: dict[str, Any]) -> tuple[str, list[str]]:
    """(common name, organizations) of the CSR's PKCS#10 request."""
    pem = base64.b64decode(obj["spec"]["request"])
    req = x509.load_pem_x509_csr(pem)
    if not req.is_signature_valid:
        raise RefusedError("request signature is invalid")
    cn = [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if len(cn) != 1:
        raise RefusedError("request must have exactly one common name")
    try:
        req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        raise RefusedError("host client certificates carry no subject alternative names")
    except x509.ExtensionNotFound:
        pass
    return str(cn[0]), orgs


class CsrReconciler:
    def __init__(self, cache: Cache, writer: Writer, hosts: HostReconciler) -> None:
        self.cache = cache
        self.writer = writer
        self.hosts = hosts

    async def reconcile(self, name: str) -> None:
        obj = self.cache.csr(name)
        if obj is None or _decided(obj):
            return
        spec = obj.get("spec") or {}
        if spec.get("signerName") != names.CLIENT_SIGNER:
            return
        try:
            cn, orgs = subject(obj)
        except (RefusedError, ValueError) as e:
            if (spec.get("username") or "").startswith(BOOTSTRAP_USER_PREFIX):
                await self._decide(obj, approve=False, message=str(e))
            return
        host = names.host_from_user(cn)
        if host is None:
            return  # not a Transom host identity: someone else's CSR
        if not await self._mine(host):
            return  # another controller shard's host: that shard decides
        try:
            await self._check(spec, host, orgs)
        except RefusedError as e:
            log.warning("refusing CSR %s for %s: %s", name, cn, e)
            await self._decide(obj, approve=False, message=str(e))
            return
        if (spec.get("username") or "").startswith(BOOTSTRAP_USER_PREFIX):
            # Host, namespace and RBAC before the certificate: the agent's first requests with
            # it then succeed instead of meeting 403s until the host reconciler catches up.
            await self.hosts.provision(host, await self._enrolled(spec, host))
        await self._decide(
            obj, approve=True, message=f"{spec.get('username')} may hold identity {cn}"
        )

    async def _mine(self, host: str) -> bool:
        """Sharded: the shard of the Host if it exists (its label, or its name's hash when
        unlabelled), else of the name's hash, decides its certificate requests."""
        shard = self.cache.shard
        if shard is None or self.cache.host(host) is not None:
            return True
        existing = await self.writer.kube.get_or_none(HOSTS.path(name=host))
        label = ((existing or {}).get("metadata", {}).get("labels") or {}).get(names.LABEL_SHARD)
        return label == str(shard.key) if label is not None else shard.default_owner(host)

    async def _check(self, spec: dict[str, Any], host: str, orgs: list[str]) -> None:
        if orgs != [names.HOSTS_GROUP]:
            raise RefusedError(f"organization must be exactly [{names.HOSTS_GROUP}], got {orgs}")
        usages = set(spec.get("usages") or [])
        if "client auth" not in usages or not usages <= ALLOWED_USAGES:
            raise RefusedError(
                f"usages must include client auth and be within {sorted(ALLOWED_USAGES)}"
            )
        requester = spec.get("username") or ""
        if requester == names.host_user(host):
            return  # rotation: a host renews its own identity
        if names.host_from_user(requester) is not None:
            raise RefusedError(f"{requester} may not request a certificate for host {host}")
        if names.BOOTSTRAPPERS_GROUP not in (spec.get("groups") or []) or not requester.startswith(
            BOOTSTRAP_USER_PREFIX
        ):
            raise RefusedError(f"{requester} is neither host {host} nor a Transom enrollment token")
        token = await self._token(requester)
        allowed = [
            h.strip()
            for h in (token["metadata"].get("annotations") or {})
            .get(names.ANNOTATION_ALLOWED_HOSTS, "")
            .split(",")
            if h.strip()
        ]
        if "*" not in allowed and host not in allowed:
            raise RefusedError(
                f"enrollment token {requester} may not enroll host {host} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
        existing = self.cache.host(host)
        if (
            existing is not None
            and self.cache.online(host)
            and not (existing.get("spec") or {}).get("allowReenrollment")
        ):
            raise RefusedError(
                f"host {host} is already enrolled and online; set "
                "spec.allowReenrollment on its Host to replace it"
            )

    async def _token(self, requester: str) -> dict[str, Any]:
        token_id = requester[len(BOOTSTRAP_USER_PREFIX) :]
        secret = await self.writer.kube.get_or_none(
            SECRETS.path("kube-system", f"bootstrap-token-{token_id}")
        )
        if secret is None:
            raise RefusedError(f"enrollment token {token_id} no longer exists")
        annotations = secret["metadata"].get("annotations") or {}
        max_uses = int(annotations.get(names.ANNOTATION_MAX_USES, "0") or 0)
        uses = int(annotations.get(names.ANNOTATION_USES, "0") or 0)
        if max_uses and uses >= max_uses:
            raise RefusedError(
                f"enrollment token {token_id} has been used {uses} of {max_uses} times"
            )
        return secret

    async def _decide(self, obj: dict[str, Any], *, approve: bool, message: str) -> None:
        body = {
            **obj,
            "status": {
                **(obj.get("status") or {}),
                "conditions": [
                    *((obj.get("status") or {}).get("conditions") or []),
                    {
                        "type": "Approved" if approve else "Denied",
                        "status": "True",
                        "reason": APPROVED_REASON if approve else DENIED_REASON,
                        "message": message,
                    },
                ],
            },
        }
        try:
            await self.writer.replace(CSRS, body, subresource="approval")
        except ApiError as e:
            if e.status in (404, 409):
                return  # gone, or changed under us: the watch brings it back
            raise

    async def _enrolled(self, spec: dict[str, Any], host: str) -> str:
        """Count the token's use, and create the Host with the token's labels; the Host's uid
        ("" when it is not known here: made by someone else, or another shard's)."""
        token = await self._token(spec["username"])
        annotations = token["metadata"].get("annotations") or {}
        uses = int(annotations.get(names.ANNOTATION_USES, "0") or 0) + 1
        max_uses = int(annotations.get(names.ANNOTATION_MAX_USES, "0") or 0)
        path = SECRETS.path("kube-system", token["metadata"]["name"])
        if max_uses and uses >= max_uses:
            # Exhausted: the bootstrap credential stops working.
            await self.writer.kube.delete(path)
        else:
            await self.writer.kube.patch(
                path, {"metadata": {"annotations": {names.ANNOTATION_USES: str(uses)}}}
            )
        labels = dict(
            item.split("=", 1)
            for item in annotations.get(ANNOTATION_HOST_LABELS, "").split(",")
            if "=" in item
        )
        known = self.cache.host(host)
        if known is None:
            known = await self.writer.create(
                HOSTS,
                {
                    "apiVersion": API_VERSION,
                    "kind": "Host",
                    # The token's labels may name another shard: that one takes the Host over.
                    "metadata": {"name": host, "labels": {**self.cache.shard_labels(), **labels}},
                    "spec": {},
                },
                exists_ok=True,
            )
        return str(known["metadata"]["uid"]) if known else ""
