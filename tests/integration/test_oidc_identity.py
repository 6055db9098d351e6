"""A host proves itself with an OIDC client-credentials token: the real apiserver, configured
with structured authentication for a local issuer, maps it to transom:host:<name>, and RBAC
then confines it to its own namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from transom.agent.credentials import CachedCredential
from transom.agent.credentials.oidc import OidcClientCredentialsSource
from transom.api import names, rbac
from transom.dev.controlplane import ControlPlane
from transom.dev.oidc_issuer import OidcIssuer
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.install import install_crds
from transom.kube.kinds import (
    ASSIGNMENTS,
    NAMESPACES,
    Kind,
    path_of,
)

pytestmark = pytest.mark.controlplane

REVIEWS = Kind("authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False)


@pytest.fixture(scope="module")
def oidc_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ControlPlane, OidcIssuer]]:
    base: Path = tmp_path_factory.mktemp("oidc")
    with OidcIssuer(base / "issuer") as issuer:
        issuer.register_client("host-web01", "s3cret-web01", "web01")
        issuer.register_client("host-web02", "s3cret-web02", "web02")
        config = issuer.write_authentication_config("transom")
        with ControlPlane(apiserver_args=[f"--authentication-config={config}"]) as cp:
            yield cp, issuer


def host_kube(cp: ControlPlane, issuer: OidcIssuer, client: str, secret: str) -> Kube:
    source = OidcClientCredentialsSource(
        issuer.url, client, client_secret=secret, ca_pem=issuer.ca_pem
    )
    return Kube(
        KubeConfig(
            server=cp.url,
            ca_pem=cp.ca.cert.read_bytes(),
            token_source=CachedCredential(source).token,
        )
    )


async def test_oidc_token_maps_to_host_user_and_rbac_confines_it(
    oidc_cluster: tuple[ControlPlane, OidcIssuer],
) -> None:
    cp, issuer = oidc_cluster
    async with Kube(KubeConfig.from_file(cp.kubeconfig)) as admin:
        await install_crds(admin)
        for host in ("web01", "web02"):
            await admin.apply(
                NAMESPACES.path(name=names.host_namespace(host)),
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": names.host_namespace(host)},
                },
            )
            for obj in rbac.host_rbac(host):
                await admin.apply(path_of(obj), obj)

    async with host_kube(cp, issuer, "host-web01", "s3cret-web01") as web01:
        review = await web01.create(
            REVIEWS.path(), {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        user = review["status"]["userInfo"]
        assert user["username"] == names.host_user("web01")
        assert names.HOSTS_GROUP in user["groups"]
        # Its own namespace: allowed. Another host's: forbidden.
        await web01.list(ASSIGNMENTS.path(names.host_namespace("web01")))
        with pytest.raises(ApiError) as info:
            await web01.list(ASSIGNMENTS.path(names.host_namespace("web02")))
        assert info.value.status == 403


async def test_wrong_client_secret_gets_no_token(
    oidc_cluster: tuple[ControlPlane, OidcIssuer],
) -> None:
    cp, issuer = oidc_cluster
    async with host_kube(cp, issuer, "host-web01", "NotTheSecret-7f3a") as web01:
        with pytest.raises(Exception) as info:
            await web01.list(ASSIGNMENTS.path(names.host_namespace("web01")))
        assert "NotTheSecret-7f3a" not in str(info.value)  # the secret never shows in the error
