"""Credential sources for the agent: each proves the host is `transom:host:<name>`.

`CachedCredential(source).token` plugs into `KubeConfig.token_source`. The EKS source needs
botocore (the `aws` extra): import it from `transom.agent.credentials.eks`.
"""

from transom.agent.credentials.azure import (
    AKS_SERVER_APP_ID,
    AzureArcSource,
    AzureImdsSource,
    managed_identity_from_environment,
)
from transom.agent.credentials.base import (
    BearerToken,
    CachedCredential,
    ClientCertificate,
    Credential,
    CredentialError,
    CredentialSource,
)
from transom.agent.credentials.exec_plugin import ExecPluginSource
from transom.agent.credentials.oidc import ClientAssertionSigner, OidcClientCredentialsSource

__all__ = [
    "AKS_SERVER_APP_ID",
    "AzureArcSource",
    "AzureImdsSource",
    "BearerToken",
    "CachedCredential",
    "ClientAssertionSigner",
    "ClientCertificate",
    "Credential",
    "CredentialError",
    "CredentialSource",
    "ExecPluginSource",
    "OidcClientCredentialsSource",
    "managed_identity_from_environment",
]
