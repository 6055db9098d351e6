"""Credential sources for the agent: each proves the host is `transom:host:<name>`.

`CachedCredential(source).token` plugs into `KubeConfig.token_source`. The EKS source needs
botocore (the `aws` extra): import it from `transom.agent.credentials.eks`.
"""

from transom.agent.credentials.base import (
    BearerToken,
    CachedCredential,
    ClientCertificate,
    Credential,
    CredentialError,
    CredentialSource,
)

__all__ = [
    "BearerToken",
    "CachedCredential",
    "ClientCertificate",
    "Credential",
    "CredentialError",
    "CredentialSource",
]
