"""One control plane for the identity tests, started with what each credential source needs
from the cluster side: structured authentication trusting three local issuers (hosts by
claim, an Entra ID-shaped tenant, an AD FS-shaped issuer for people) and the webhook token
authenticator pointed at the EKS authenticator stand-in. The session's shared control plane is
left as it is."""

from __future__ import annotations

import stat
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.agent.conftest import StandIn
from transom.controller import setup
from transom.dev.controlplane import ControlPlane
from transom.dev.eks_webhook import AccessEntry, AwsCredentials, EksAuthenticatorWebhook
from transom.dev.oidc_issuer import (
    OidcIssuer,
    entra_authenticator,
    host_authenticator,
    people_authenticator,
    write_authentication_configuration,
)
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.install import install_crds

pytestmark = pytest.mark.controlplane

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
#: The cluster's API application in Entra ID (its client ID is the tokens' audience).
API_APP = "3f6b2c1e-8d7a-4b9e-a1c2-5d4e6f708192"
HOST_AUDIENCE = "transom"
PEOPLE_AUDIENCE = "transom-kubectl"
EKS_CLUSTER = "prod-eu"
ACCOUNT = "111122223333"
#: What an IAM Roles Anywhere credential_process would print for the host h-eks.
EKS_HOST_KEYS = AwsCredentials(
    access_key_id="ASIAQTRANSOMHEKS0001",
    secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/transom-host-h-eks/h-eks",
    session_token="IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN/h-eks+==",
)
#: A role mapped to another host's name: the agent must refuse it.
EKS_WRONG_KEYS = AwsCredentials(
    access_key_id="ASIAQTRANSOMWRONG001",
    secret_access_key="SecretOfTheMisMappedRoleEXAMPLEKEY000000",
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/transom-host-mismapped/session",
    session_token="IQoJb3JpZ2luX2VjEXAMPLEWRONGTOKEN==",
)


#: Base credentials that may only assume the shared role transom-hosts.
EKS_BASE_KEYS = AwsCredentials(
    access_key_id="ASIAQTRANSOMBASE0001",
    secret_access_key="BaseCredentialsOfTheFleetEXAMPLEKEY00000",
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/transom-fleet/roles-anywhere",
    session_token="IQoJb3JpZ2luX2VjEXAMPLEBASETOKEN==",
)


@dataclass
class IdentityCluster:
    cp: ControlPlane
    hosts: OidcIssuer
    entra: OidcIssuer
    people: OidcIssuer
    eks: EksAuthenticatorWebhook
    base: Path

    def admin(self) -> Kube:
        return Kube(KubeConfig.from_file(self.cp.kubeconfig))

    def agent_config(
        self, directory: Path, host: str, credentials: dict[str, Any], **extra: Any
    ) -> Path:
        """An agent.yaml for ``host`` whose files live under ``directory``."""
        (directory / "root").mkdir(parents=True, exist_ok=True)
        doc = {
            "apiVersion": "transom.dev/v1alpha1",
            "kind": "AgentConfiguration",
            "server": self.cp.url,
            "certificateAuthority": str(self.cp.ca.cert),
            "hostName": host,
            "stateDir": str(directory / "state"),
            "credentials": credentials,
            "policy": {"pathRoots": [str(directory / "root")]},
            "leaseDurationSeconds": 10,
            "renewIntervalSeconds": 1,
            **extra,
        }
        path = directory / "agent.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path


@pytest.fixture(scope="package")
def identity_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityCluster]:
    base = tmp_path_factory.mktemp("identity")
    with (
        OidcIssuer(base / "hosts", audience=HOST_AUDIENCE) as hosts,
        OidcIssuer(base / "entra", audience=API_APP, path=f"/{TENANT}/v2.0") as entra,
        OidcIssuer(base / "adfs", audience=PEOPLE_AUDIENCE, path="/adfs") as people,
        EksAuthenticatorWebhook(
            base / "eks",
            EKS_CLUSTER,
            [EKS_HOST_KEYS, EKS_WRONG_KEYS, EKS_BASE_KEYS],
            [
                AccessEntry(
                    f"arn:aws:iam::{ACCOUNT}:role/transom-host-h-eks",
                    "transom:host:h-eks",
                    ("transom:hosts",),
                ),
                # One role for many hosts, named by the session (docs/identity.md).
                AccessEntry(
                    f"arn:aws:iam::{ACCOUNT}:role/transom-hosts",
                    "transom:host:{{SessionName}}",
                    ("transom:hosts",),
                ),
                AccessEntry(
                    f"arn:aws:iam::{ACCOUNT}:role/transom-host-mismapped",
                    "transom:host:someone-else",
                    ("transom:hosts",),
                ),
            ],
        ) as eks,
    ):
        auth = write_authentication_configuration(
            base / "authentication-config.yaml",
            [
                host_authenticator(hosts, HOST_AUDIENCE),
                entra_authenticator(entra, TENANT, API_APP),
                people_authenticator(people, PEOPLE_AUDIENCE),
            ],
        )
        with ControlPlane(
            apiserver_args=[f"--authentication-config={auth}"],
            token_webhook_config=eks.write_config(base / "eks-webhook.kubeconfig"),
        ) as cp:
            cluster = IdentityCluster(cp, hosts, entra, people, eks, base)
            yield cluster


@pytest.fixture
async def admin(identity_cluster: IdentityCluster) -> AsyncIterator[Kube]:
    async with identity_cluster.admin() as kube:
        await install_crds(kube)
        await setup.ensure(kube, crds=False)
        yield kube


@pytest.fixture
async def standin(identity_cluster: IdentityCluster, admin: Kube) -> AsyncIterator[StandIn]:
    """Plays the controller's part: host namespace, RBAC, Host, Assignments."""
    s = StandIn(admin, identity_cluster.cp)
    yield s
    await s.stop()


def script(path: Path, body: str) -> Path:
    """An executable Python script run by this interpreter (absolute paths only)."""
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path
