"""Each credential source made real on loopback: what the host is given (an agent.yaml
`credentials` block) and what stands behind it (an issuer client, a managed identity endpoint,
a plugin, a kubeconfig, AWS credentials from a credential_process)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.integration.identity.conftest import (
    ACCOUNT,
    API_APP,
    EKS_BASE_KEYS,
    EKS_CLUSTER,
    EKS_HOST_KEYS,
    HOST_AUDIENCE,
    TENANT,
    IdentityCluster,
    script,
)
from transom.dev import pki
from transom.dev.azure_metadata import ManagedIdentity, ManagedIdentityEndpoint
from transom.dev.eks_webhook import StsAssumeRole
from transom.dev.oidc_issuer import HOST_CLAIM

SOURCES = (
    "oidc-secret",
    "oidc-assertion",
    "entra",
    "arc",
    "exec",
    "kubeconfig",
    "kubeconfig-exec",
    "eks",
    "eks-role",
)


@dataclass
class Prepared:
    host: str
    credentials: dict[str, Any]
    #: Values that must never appear in any output (client secrets, keys).
    secrets: list[str] = field(default_factory=list)
    #: Checks on what the stand-in saw, run after the agent authenticated.
    checks: list[Callable[[], None]] = field(default_factory=list)


def prepare(name: str, cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    d.mkdir(parents=True, exist_ok=True)
    return _PREPARE[name](cluster, d, stack)


def _oidc_secret(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    host, client, secret = "h-oidc", f"client-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    cluster.hosts.register_client(client, secret, host)
    secret_file = d / "client.secret"
    secret_file.write_text(secret + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    return Prepared(
        host,
        {
            "source": "oidc",
            "issuer": cluster.hosts.url,
            "clientId": client,
            "clientSecret": {"file": str(secret_file)},
            "authMethod": "client_secret_basic",
            "issuerCertificateAuthority": str(cluster.hosts.ca_path),
        },
        secrets=[secret],
    )


def _oidc_assertion(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    """An app registration with a certificate credential (Entra ID, AD FS)."""
    host, client = "h-oidccert", f"app-{uuid.uuid4().hex[:8]}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (d / "app.key").write_bytes(key_pem)
    (d / "app.key").chmod(0o600)
    (d / "app.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cluster.hosts.register_client(
        client,
        None,
        host,
        public_key_pem=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return Prepared(
        host,
        {
            "source": "oidc",
            "issuer": cluster.hosts.url,
            "clientId": client,
            "clientAssertion": {
                "keyFile": str(d / "app.key"),
                "certificateFile": str(d / "app.crt"),
            },
            "issuerCertificateAuthority": str(cluster.hosts.ca_path),
        },
        secrets=[key_pem.decode().splitlines()[1]],
    )


def _entra(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    """An Azure VM with a user-assigned identity chosen by its ARM resource ID; the VM's
    system-assigned identity holds another host's role, so picking the wrong one shows."""
    host = "h-entra"
    resource_id = (
        "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/hosts/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/h-entra"
    )
    mine = ManagedIdentity(
        str(uuid.uuid4()), resource_id=resource_id, roles=(f"transom.host.{host}",)
    )
    other = ManagedIdentity(str(uuid.uuid4()), roles=("transom.host.not-me",), system_assigned=True)
    imds = stack.enter_context(ManagedIdentityEndpoint(cluster.entra, TENANT, [other, mine]))

    def sent_the_resource_id() -> None:
        assert imds.requests, "the agent never asked the metadata endpoint"
        assert {r.get("msi_res_id") for r in imds.requests} == {resource_id}
        assert {r.get("resource") for r in imds.requests} == {API_APP}

    return Prepared(
        host,
        {"source": "entra", "resource": API_APP, "resourceId": resource_id, "endpoint": imds.url},
        checks=[sent_the_resource_id],
    )


def _arc(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    host = "h-arc"
    tokens = d / "Tokens"
    tokens.mkdir(mode=0o700)
    machine = ManagedIdentity(
        str(uuid.uuid4()), roles=(f"transom.host.{host}",), system_assigned=True
    )
    arc = stack.enter_context(
        ManagedIdentityEndpoint(
            cluster.entra, TENANT, [machine], mode="arc", token_directory=tokens
        )
    )

    def answered_the_challenge() -> None:
        first, second = arc.requests[0], arc.requests[1]
        assert "Authorization" not in first
        assert second["Authorization"].startswith("Basic ")
        assert not list(tokens.iterdir()), "the used challenge key file is left behind"

    return Prepared(
        host,
        {"source": "arc", "resource": API_APP, "endpoint": arc.url, "tokenDirectory": str(tokens)},
        checks=[answered_the_challenge],
    )


def _client_cert(cluster: IdentityCluster, d: Path, host: str) -> pki.KeyPair:
    """What an admin hands a host out of band: a client certificate from the cluster CA."""
    return pki.issue(
        cluster.cp.ca, d, host, f"transom:host:{host}", organizations=("transom:hosts",)
    )


def _exec(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    """A site's own plugin handing out a client certificate (ExecCredential status)."""
    host = "h-exec"
    pair = _client_cert(cluster, d, host)
    plugin = script(
        d / "cert-plugin",
        "import json, os, sys\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['spec']['interactive'] is False\n"
        "cert, key = (open(p).read() for p in sys.argv[1:3])\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "    'status': {'clientCertificateData': cert, 'clientKeyData': key}}))\n",
    )
    return Prepared(
        host,
        {"source": "exec", "command": str(plugin), "args": [str(pair.cert), str(pair.key)]},
        secrets=[pair.key.read_text().splitlines()[1]],
    )


def _kubeconfig_file(cluster: IdentityCluster, d: Path, user: dict[str, Any]) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "prod",
                "cluster": {
                    "server": cluster.cp.url,
                    "certificate-authority-data": base64.b64encode(
                        cluster.cp.ca.cert.read_bytes()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": "host", "user": user}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "host"}}],
        "current-context": "prod",
    }
    path = d / "host.kubeconfig"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    path.chmod(0o600)
    return path


def _kubeconfig(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    host = "h-kubeconfig"
    pair = _client_cert(cluster, d, host)
    path = _kubeconfig_file(
        cluster, d, {"client-certificate": str(pair.cert), "client-key": str(pair.key)}
    )
    return Prepared(host, {"source": "kubeconfig", "path": str(path)})


def _kubeconfig_exec(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    """A kubeconfig whose user runs a plugin (as `kubelogin` or `aws eks get-token` do)."""
    host = "h-kubeexec"
    token = cluster.hosts.token_for(
        {"aud": HOST_AUDIENCE, "sub": f"plugin-{host}", HOST_CLAIM: host}
    )
    (d / "token").write_text(token, encoding="utf-8")
    plugin = script(
        d / "token-plugin",
        "import json, os\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "token = open(os.environ['TOKEN_FILE']).read()\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "    'status': {'token': token}}))\n",
    )
    path = _kubeconfig_file(
        cluster,
        d,
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(plugin),
                "env": [{"name": "TOKEN_FILE", "value": str(d / "token")}],
                "interactiveMode": "Never",
            }
        },
    )
    return Prepared(host, {"source": "kubeconfig", "path": str(path)}, secrets=[token])


def aws_profile(d: Path, keys: Any, sts_url: str | None = None) -> Path:
    """A shared config file whose profile gets credentials from a credential_process, the way
    IAM Roles Anywhere's `aws_signing_helper credential-process ...` supplies them."""
    expiration = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = {
        "Version": 1,
        "AccessKeyId": keys.access_key_id,
        "SecretAccessKey": keys.secret_access_key,
        "SessionToken": keys.session_token,
        "Expiration": expiration,
    }
    (d / "answer.json").write_text(json.dumps(answer), encoding="utf-8")
    helper = script(
        d / "signing-helper",
        f"import sys\nsys.stdout.write(open({str(d / 'answer.json')!r}).read())\n",
    )
    config = d / "aws-config"
    text = f"[profile roles-anywhere]\ncredential_process = {helper}\n"
    if sts_url is not None:  # botocore's STS client goes there (AssumeRole for roleArn)
        text += f"services = local\n\n[services local]\nsts =\n  endpoint_url = {sts_url}\n"
    config.write_text(text, encoding="utf-8")
    return config


def _eks(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    host = "h-eks"
    config = aws_profile(d, EKS_HOST_KEYS)

    def reviewed() -> None:
        assert f"transom:host:{host}" in cluster.eks.reviews

    return Prepared(
        host,
        {
            "source": "eks",
            "clusterName": EKS_CLUSTER,
            "region": "eu-west-1",
            "profile": "roles-anywhere",
            "awsConfigFile": str(config),
        },
        secrets=[EKS_HOST_KEYS.secret_access_key],
        checks=[reviewed],
    )


def _eks_role(cluster: IdentityCluster, d: Path, stack: ExitStack) -> Prepared:
    """roleArn: the base credentials assume the fleet's shared role with the host name as the
    session name, which the access entry turns into the host user."""
    host, role = "h-eksrole", f"arn:aws:iam::{ACCOUNT}:role/transom-hosts"
    sts = stack.enter_context(StsAssumeRole(cluster.eks, {EKS_BASE_KEYS.access_key_id: [role]}))

    def assumed() -> None:
        assert (role, host) in sts.assumed

    return Prepared(
        host,
        {
            "source": "eks",
            "clusterName": EKS_CLUSTER,
            "region": "eu-west-1",
            "profile": "roles-anywhere",
            "awsConfigFile": str(aws_profile(d, EKS_BASE_KEYS, sts.url)),
            "roleArn": role,
        },
        secrets=[EKS_BASE_KEYS.secret_access_key],
        checks=[assumed],
    )


_PREPARE: dict[str, Callable[[IdentityCluster, Path, ExitStack], Prepared]] = {
    "oidc-secret": _oidc_secret,
    "oidc-assertion": _oidc_assertion,
    "entra": _entra,
    "arc": _arc,
    "exec": _exec,
    "kubeconfig": _kubeconfig,
    "kubeconfig-exec": _kubeconfig_exec,
    "eks": _eks,
    "eks-role": _eks_role,
}
assert tuple(_PREPARE) == SOURCES

__all__ = ["SOURCES", "Prepared", "aws_profile", "prepare"]
