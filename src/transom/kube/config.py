"""Where the API server is and how to prove who we are, read from a kubeconfig."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TokenSource = Callable[[], Awaitable[str]]


@dataclass
class KubeConfig:
    server: str
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    token: str | None = None
    #: Called before each request when set (EKS, OIDC, exec plugins refresh themselves).
    token_source: TokenSource | None = None
    insecure: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def ssl_context(self) -> ssl.SSLContext:
        if self.ca_pem:
            # Trust the cluster's CA only. Loading the system bundle as well costs ~0.15 s per
            # context, which a simulator with 1,000 agents pays 1,000 times.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=self.ca_pem.decode())
        else:
            ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_pem and self.key_pem:
            load_cert_chain_pem(ctx, self.cert_pem, self.key_pem)
        return ctx

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], context: str | None = None) -> KubeConfig:
        path = Path(path)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        ctx_name = context or doc.get("current-context")
        ctx = _named(doc.get("contexts", []), ctx_name, "context")
        cluster = _named(doc.get("clusters", []), ctx["cluster"], "cluster")
        user = _named(doc.get("users", []), ctx["user"], "user")
        base = path.parent
        return cls(
            server=cluster["server"],
            ca_pem=_data_or_file(cluster, "certificate-authority", base),
            cert_pem=_data_or_file(user, "client-certificate", base),
            key_pem=_data_or_file(user, "client-key", base),
            token=user.get("token"),
            insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
            extra={"exec": user["exec"]} if "exec" in user else {},
        )

    @classmethod
    def load(cls, path: str | None = None) -> KubeConfig:
        """A `--kubeconfig` option's value, or $KUBECONFIG (then ~/.kube/config) without one."""
        return cls.from_file(path) if path else cls.from_env()

    @classmethod
    def from_env(cls) -> KubeConfig:
        path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        return cls.from_file(path.split(os.pathsep)[0])


def _named(items: list[dict[str, Any]], name: str | None, what: str) -> dict[str, Any]:
    for item in items:
        if item.get("name") == name:
            return dict(item[what])
    raise ValueError(f"kubeconfig has no {what} named {name!r}")


def _data_or_file(section: dict[str, Any], key: str, base: Path) -> bytes | None:
    if f"{key}-data" in section:
        return base64.b64decode(str(section[f"{key}-data"]))
    if key in section:
        return (base / str(section[key])).read_bytes()
    return None


def load_cert_chain_pem(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """ssl can only load a client key from a file: write both to a private temp dir, load,
    and remove them at once."""
    with tempfile.TemporaryDirectory(prefix="transom-tls-") as d:
        cert, key = Path(d) / "c.pem", Path(d) / "k.pem"
        for p, data in ((cert, cert_pem), (key, key_pem)):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(str(cert), str(key))
