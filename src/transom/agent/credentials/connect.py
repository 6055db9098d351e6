"""From the configuration's `credentials` to a connection: the apiserver, how to prove who this
host is there, and the host name the agent runs as."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transom.agent.config import (
    AgentConfiguration,
    ArcCredentials,
    ConfigError,
    EksCredentials,
    EntraCredentials,
    ExecCredentials,
    KubeconfigCredentials,
    OidcCredentials,
    read_file,
)
from transom.agent.credentials.azure import AzureArcSource, AzureImdsSource
from transom.agent.credentials.base import (
    CachedCredential,
    ClientCertificate,
    CredentialError,
    CredentialSource,
)
from transom.agent.credentials.exec_plugin import ExecPluginSource
from transom.agent.credentials.oidc import ClientAssertionSigner, OidcClientCredentialsSource
from transom.agent.enroll import Identity, load_identity
from transom.agent.store import SecretStore, default_store
from transom.api.errors import FieldError
from transom.kube.config import KubeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connection:
    """Everything `Kube` needs, and who the agent must turn out to be."""

    host: str
    #: The configured source's name (`enrollment`, `oidc`, ...), for messages.
    source: str
    kube_config: KubeConfig
    #: The enrolled identity, whose certificate the agent rotates; None for other sources.
    identity: Identity | None = None
    credential: CachedCredential | None = None


def source_for(config: AgentConfiguration) -> CredentialSource | None:
    """The credential source the configuration names; None for enrollment (a certificate in
    the state directory) and for a kubeconfig without an exec plugin."""
    spec = config.credentials
    host = config.host_name or ""
    if isinstance(spec, EksCredentials):
        return _eks(spec, host)
    if isinstance(spec, EntraCredentials):
        return AzureImdsSource(
            resource=spec.resource,
            client_id=spec.client_id,
            resource_id=spec.resource_id,
            url=spec.endpoint,
        )
    if isinstance(spec, ArcCredentials):
        return AzureArcSource(
            resource=spec.resource, url=spec.endpoint, token_directory=spec.token_directory
        )
    if isinstance(spec, OidcCredentials):
        return _oidc(spec)
    if isinstance(spec, ExecCredentials):
        return ExecPluginSource(
            str(spec.command),
            spec.args,
            env={e.name: e.value.reveal() for e in spec.env},
            api_version=spec.api_version,
        )
    if isinstance(spec, KubeconfigCredentials):
        exec_spec = _kubeconfig(spec).extra.get("exec")
        if exec_spec is not None:
            return ExecPluginSource.from_kubeconfig(exec_spec, base_dir=spec.path.parent)
    return None


def _eks(spec: EksCredentials, host: str) -> CredentialSource:
    try:
        import botocore.session  # type: ignore[import-untyped]  # noqa: PLC0415 - the aws extra

        from transom.agent.credentials.eks import EksTokenSource  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            [FieldError("credentials.source", "'eks' needs botocore: pip install transom[aws]")]
        ) from None
    session = botocore.session.Session(profile=spec.profile)
    if spec.aws_config_file is not None:
        session.set_config_variable("config_file", str(spec.aws_config_file))
    return EksTokenSource(
        spec.cluster_name,
        region=spec.region,
        session=session,
        role_arn=spec.role_arn,
        role_session_name=spec.role_session_name or host,
    )


def _oidc(spec: OidcCredentials) -> OidcClientCredentialsSource:
    signer = None
    if spec.client_assertion is not None:
        assertion = spec.client_assertion
        key = read_file(assertion.key_file, "credentials.clientAssertion.keyFile")
        assert key is not None
        try:
            signer = ClientAssertionSigner(
                key,
                certificate_pem=read_file(
                    assertion.certificate_file, "credentials.clientAssertion.certificateFile"
                ),
                key_id=assertion.key_id,
            )
        except (ValueError, CredentialError) as e:
            # cryptography's messages describe the format, never the key.
            raise ConfigError(
                [FieldError("credentials.clientAssertion", f"unusable key or certificate: {e}")]
            ) from None
    return OidcClientCredentialsSource(
        spec.issuer,
        spec.client_id,
        client_secret=spec.client_secret.reveal() if spec.client_secret else None,
        signer=signer,
        auth_method=spec.auth_method,
        scope=spec.scope,
        resource=spec.resource,
        use=spec.use,
        token_endpoint=spec.token_endpoint,
        ca_pem=read_file(
            spec.issuer_certificate_authority, "credentials.issuerCertificateAuthority"
        ),
    )


def _kubeconfig(spec: KubeconfigCredentials) -> KubeConfig:
    try:
        return KubeConfig.from_file(spec.path, spec.context)
    except FileNotFoundError:
        raise ConfigError(
            [FieldError("credentials.path", f"{str(spec.path)!r} not found")]
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            [FieldError("credentials.path", f"{str(spec.path)!r} is not a usable kubeconfig: {e}")]
        ) from None


async def connect(config: AgentConfiguration, store: SecretStore | None = None) -> Connection:
    """The connection the configuration describes. A source that yields a client certificate
    (an exec plugin may) is asked once here; bearer tokens are fetched per request, cached."""
    spec = config.credentials
    if spec.source == "enrollment":
        return _enrolled(config, store)
    if isinstance(spec, KubeconfigCredentials):
        kube_config = _kubeconfig(spec)
        if config.server:
            kube_config.server = config.server
        if config.certificate_authority:
            kube_config.ca_pem = config.ca_pem()
    else:
        assert config.server is not None  # the model requires it for these sources
        kube_config = KubeConfig(server=config.server, ca_pem=config.ca_pem())
    assert config.host_name is not None
    source = source_for(config)
    credential = None
    if source is not None:
        credential = CachedCredential(source)
        first = await credential.get()
        if isinstance(first, ClientCertificate):
            kube_config.cert_pem, kube_config.key_pem = first.cert_pem, first.key_pem
        else:
            kube_config.token_source = credential.token
    return Connection(config.host_name, spec.source, kube_config, credential=credential)


def enrolled_connection(state_dir: Path, store: SecretStore | None = None) -> Connection:
    """The identity `transom agent enroll` left in ``state_dir``."""
    identity = load_identity(state_dir, store or default_store(state_dir))
    return Connection(identity.config.host, "enrollment", identity.kube_config(), identity)


def _enrolled(config: AgentConfiguration, store: SecretStore | None) -> Connection:
    enrolled = enrolled_connection(config.state_dir, store)
    identity = enrolled.identity
    assert identity is not None
    if config.host_name and config.host_name != identity.config.host:
        raise ConfigError(
            [
                FieldError(
                    "hostName",
                    f"{config.host_name!r}, but {config.state_dir} is enrolled as "
                    f"{identity.config.host!r}",
                )
            ]
        )
    kube_config = enrolled.kube_config
    if config.server:
        kube_config.server = config.server
    if config.certificate_authority:
        kube_config.ca_pem = config.ca_pem()
    return Connection(identity.config.host, "enrollment", kube_config, identity=identity)


def describe(connection: Connection) -> dict[str, Any]:
    """What may be shown about a connection: never a token, secret or key."""
    return {
        "host": connection.host,
        "source": connection.source,
        "server": connection.kube_config.server,
        "credential": repr(connection.credential.source) if connection.credential else None,
    }
