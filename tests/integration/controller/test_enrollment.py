"""The controller approves host CSRs only for names the requester may hold."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.controller.conftest import eventually
from transom.api import names
from transom.controller.enrollment import create_token
from transom.controller.manager import Controller
from transom.dev.controlplane import ControlPlane
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CSRS, HOSTS, NAMESPACES, SECRETS

pytestmark = pytest.mark.controlplane


def make_csr(cn: str, orgs: tuple[str, ...] = (names.HOSTS_GROUP,)) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    req = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return req.public_bytes(serialization.Encoding.PEM), key_pem


async def submit(kube: Kube, cn: str, **kw: object) -> str:
    request, _ = make_csr(cn, **kw)  # type: ignore[arg-type]
    name = f"test-{secrets.token_hex(4)}"
    await kube.create(
        CSRS.path(),
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(request).decode(),
                "signerName": names.CLIENT_SIGNER,
                "usages": ["client auth", "digital signature"],
                "expirationSeconds": 3600,
            },
        },
    )
    return name


async def decision(kube: Kube, name: str) -> tuple[str, str, bool]:
    async def decided() -> tuple[str, str, bool] | None:
        obj = await kube.get(CSRS.path(name=name))
        status = obj.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond["type"] in ("Approved", "Denied"):
                if cond["type"] == "Approved" and not status.get("certificate"):
                    return None  # approved, not yet signed by kube-controller-manager
                return cond["type"], cond.get("message", ""), bool(status.get("certificate"))
        return None

    result: tuple[str, str, bool] = await eventually(decided)
    return result


@pytest.fixture
async def bootstrap(
    controlplane: ControlPlane, kube: Kube, controller: Controller
) -> AsyncIterator[tuple[Kube, str]]:
    host = f"enr{secrets.token_hex(3)}"
    token = await create_token(kube, [host], labels={"role": "web"})
    cfg = KubeConfig(
        server=controlplane.url, ca_pem=controlplane.ca.cert.read_bytes(), token=token.value
    )
    async with Kube(cfg) as as_token:
        yield as_token, host
    await kube.delete(HOSTS.path(name=host))


async def test_token_holder_enrolls_its_named_host(kube: Kube, bootstrap: tuple[Kube, str]) -> None:
    as_token, host = bootstrap
    verdict, _, signed = await decision(kube, await submit(as_token, names.host_user(host)))
    assert (verdict, signed) == ("Approved", True)
    created = await eventually(lambda: kube.get_or_none(HOSTS.path(name=host)))
    assert created["metadata"]["labels"] == {"role": "web"}


async def test_token_holder_cannot_enroll_another_name(
    kube: Kube, bootstrap: tuple[Kube, str]
) -> None:
    as_token, host = bootstrap
    verdict, message, signed = await decision(
        kube, await submit(as_token, names.host_user("intruder"))
    )
    assert (verdict, signed) == ("Denied", False)
    assert "may not enroll host intruder" in message and host in message


async def test_wrong_organization_is_denied(kube: Kube, bootstrap: tuple[Kube, str]) -> None:
    as_token, host = bootstrap
    name = await submit(as_token, names.host_user(host), orgs=("transom:admins",))
    verdict, message, _ = await decision(kube, name)
    assert verdict == "Denied" and "organization must be exactly" in message


async def test_exhausted_token_stops_working(kube: Kube, bootstrap: tuple[Kube, str]) -> None:
    as_token, host = bootstrap
    assert (await decision(kube, await submit(as_token, names.host_user(host))))[0] == "Approved"

    # The token allowed one host: the controller deleted it, so it no longer authenticates.
    async def token_gone() -> bool:
        secrets_ = await kube.list(SECRETS.path("kube-system"))
        return not any(
            s["metadata"]["name"].startswith("bootstrap-token-")
            and host
            in (s["metadata"].get("annotations") or {}).get(names.ANNOTATION_ALLOWED_HOSTS, "")
            for s in secrets_["items"]
        )

    await eventually(token_gone)

    # The apiserver caches successful token authentications for 10 s.
    async def refused() -> bool:
        try:
            await submit(as_token, names.host_user(host))
        except ApiError as e:
            return e.status == 401
        return False

    await eventually(refused, timeout=30, interval=1)


async def test_an_enrolled_host_is_provisioned_once(
    kube: Kube, controller: Controller, bootstrap: tuple[Kube, str]
) -> None:
    # Approval applies the namespace and RBAC before the certificate; the Host reconciler's
    # first pass applied them again (three writes per host for nothing: 3,186 of them in the
    # 7,000-host benchmark's first update).
    as_token, host = bootstrap
    await decision(kube, await submit(as_token, names.host_user(host)))

    async def reconciled() -> bool:  # the Host reconciler writes the status last
        obj = await kube.get_or_none(HOSTS.path(name=host))
        return bool(obj and (obj.get("status") or {}).get("conditions"))

    await eventually(reconciled)
    ns = NAMESPACES.path(name=names.host_namespace(host))
    applied = {k: v for k, v in controller.kube.requests.items() if k.startswith("PATCH ")}
    assert applied.get(f"PATCH {ns}") == 1, applied
    rbac_writes = [
        k
        for k in applied
        if k.startswith(
            f"PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/{names.host_namespace(host)}/"
        )
    ]
    assert rbac_writes and all(applied[k] == 1 for k in rbac_writes), applied
