"""Credentials from a kubeconfig exec plugin (client.authentication.k8s.io/v1), the way
kubectl runs them: any tool that prints an ExecCredential works, e.g. `aws eks get-token`,
`kubelogin get-token`, or a site's own."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transom.agent.credentials.base import (
    BearerToken,
    ClientCertificate,
    Credential,
    CredentialError,
)

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
_STDERR_TAIL = 2000


class ExecPluginSource:
    """Runs `command args...` with KUBERNETES_EXEC_INFO set (never interactive: the agent is
    a service) and reads the ExecCredential it prints."""

    #: Like client-go: use the credential until its expirationTimestamp; plugins pad their own.
    refresh_margin = 0.0

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        api_version: str = API_VERSIONS[0],
        cluster: Mapping[str, Any] | None = None,
        timeout: float = 60.0,
    ) -> None:
        if api_version not in API_VERSIONS:
            raise CredentialError(
                f"exec plugin '{command}': unsupported apiVersion {api_version!r}"
            )
        self.command = command
        self.args = list(args)
        self.api_version = api_version
        self._env = dict(env or {})
        #: Sent as spec.cluster when the kubeconfig sets provideClusterInfo.
        self._cluster = dict(cluster) if cluster is not None else None
        self._timeout = timeout

    @classmethod
    def from_kubeconfig(
        cls,
        exec_spec: Mapping[str, Any],
        *,
        base_dir: Path | None = None,
        cluster: Mapping[str, Any] | None = None,
    ) -> ExecPluginSource:
        """From a kubeconfig user's `exec` stanza (`KubeConfig.extra["exec"]`). A command with
        a path separator is relative to the kubeconfig's directory, as kubectl resolves it."""
        command = str(exec_spec["command"])
        if base_dir is not None and (os.sep in command or "/" in command):
            command = str(base_dir / command)
        return cls(
            command,
            [str(a) for a in exec_spec.get("args") or []],
            env={str(e["name"]): str(e["value"]) for e in exec_spec.get("env") or []},
            api_version=str(exec_spec.get("apiVersion", API_VERSIONS[0])),
            cluster=cluster if exec_spec.get("provideClusterInfo") else None,
        )

    def __repr__(self) -> str:
        # Arguments and env may carry secrets (client secrets passed as flags): name the command.
        return f"ExecPluginSource(command={self.command!r})"

    @property
    def _label(self) -> str:
        # Quoted as written, not repr(): repr doubles every backslash of a Windows path.
        return f"exec plugin '{self.command}'"

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self._cluster is not None:
            spec["cluster"] = self._cluster
        return json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})

    async def fetch(self) -> Credential:
        env = {**os.environ, **self._env, "KUBERNETES_EXEC_INFO": self._exec_info()}
        try:
            proc = await asyncio.create_subprocess_exec(
                self.command,
                *self.args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise CredentialError(f"{self._label}: cannot start: {e.strerror or e}") from None
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), self._timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise CredentialError(f"{self._label}: no answer within {self._timeout:g} s") from None
        if proc.returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-_STDERR_TAIL:]
            raise CredentialError(f"{self._label}: exit status {proc.returncode}: {tail}")
        return self._parse(stdout)

    def _parse(self, stdout: bytes) -> Credential:
        # Never quote stdout in an error: it is where the secret is.
        try:
            doc = json.loads(stdout)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CredentialError(f"{self._label}: output is not JSON") from None
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
            raise CredentialError(f"{self._label}: output is not an ExecCredential")
        if doc.get("apiVersion") != self.api_version:
            raise CredentialError(
                f"{self._label}: answered apiVersion {doc.get('apiVersion')!r}, "
                f"expected {self.api_version!r}"
            )
        status = doc.get("status")
        if not isinstance(status, dict):
            raise CredentialError(f"{self._label}: ExecCredential has no status")
        expires_at = self._expiry(status.get("expirationTimestamp"))
        token, cert, key = (
            status.get(k) for k in ("token", "clientCertificateData", "clientKeyData")
        )
        if isinstance(token, str) and token:
            return BearerToken(token, expires_at=expires_at)
        if isinstance(cert, str) and isinstance(key, str) and cert and key:
            return ClientCertificate(cert.encode(), key.encode(), expires_at=expires_at)
        raise CredentialError(
            f"{self._label}: status has neither token nor clientCertificateData and clientKeyData"
        )

    def _expiry(self, value: object) -> float | None:
        if value is None:
            return None
        try:
            stamp = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise CredentialError(
                f"{self._label}: expirationTimestamp {value!r} is not RFC 3339"
            ) from None
        if stamp.tzinfo is None:
            raise CredentialError(f"{self._label}: expirationTimestamp {value!r} has no time zone")
        return stamp.timestamp()
