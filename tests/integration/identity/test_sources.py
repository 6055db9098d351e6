"""Every credential source, configured only through agent.yaml, against the real apiserver:
`transom agent whoami` says the cluster sees `transom:host:<name>`, and `transom agent run`
converges an Assignment as that host. What stands behind each source is real where it can be
(OIDC issuer, exec plugins, kubeconfigs, botocore's credential_process) and a loopback stand-in
where the real one is a cloud endpoint (IMDS, Arc, STS behind the EKS authenticator)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.agent.conftest import StandIn, eventually, file_resource
from tests.integration.identity.conftest import (
    EKS_CLUSTER,
    EKS_WRONG_KEYS,
    IdentityCluster,
)
from tests.integration.identity.sources import SOURCES, Prepared, aws_profile, prepare
from transom.api import kstatus
from transom.cli.main import main

pytestmark = pytest.mark.controlplane


@pytest.fixture(params=SOURCES)
def source(
    request: pytest.FixtureRequest, identity_cluster: IdentityCluster, tmp_path: Path
) -> Iterator[Prepared]:
    with ExitStack() as stack:
        yield prepare(request.param, identity_cluster, tmp_path / "source", stack)


def whoami(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["agent", "whoami", "--config", str(config), "--output", "json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_whoami_sees_the_host_user(
    identity_cluster: IdentityCluster,
    source: Prepared,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = identity_cluster.agent_config(tmp_path, source.host, source.credentials)
    code, out, err = whoami(config, capsys)
    assert code == 0, err
    verdict = json.loads(out)
    assert verdict["ok"] is True
    assert verdict["username"] == f"transom:host:{source.host}"
    assert "transom:hosts" in verdict["groups"]
    assert verdict["source"] == source.credentials["source"]
    for check in source.checks:
        check()
    for secret in source.secrets:
        assert secret not in out + err


async def test_agent_run_converges_as_the_host(
    identity_cluster: IdentityCluster, source: Prepared, standin: StandIn, tmp_path: Path
) -> None:
    """The real `transom agent run` process, configured by the file alone."""
    config = identity_cluster.agent_config(tmp_path, source.host, source.credentials)
    await standin.provision(source.host)
    target = tmp_path / "root" / "motd"
    await standin.assign(source.host, [file_resource("motd", target, f"{source.host}\n")])
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "transom.cli.main", "agent", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:

            async def applied() -> bool:
                assert agent.poll() is None, log.read_text()
                obj = await standin.assignment(source.host)
                status = obj.get("status") or {}
                if status.get("observedGeneration") != 1:
                    return False
                return kstatus.compute(obj).status is kstatus.Status.CURRENT

            await eventually(applied, timeout=60)
            assert target.read_text() == f"{source.host}\n"
        finally:
            agent.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(agent.wait, 30)
    text = log.read_text()
    assert code == 0, text
    for secret in source.secrets:
        assert secret not in text


def test_agent_refuses_a_credential_mapped_to_another_user(
    identity_cluster: IdentityCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The EKS access entry maps this role to another host: whoami says so, run refuses."""
    credentials = {
        "source": "eks",
        "clusterName": EKS_CLUSTER,
        "region": "eu-west-1",
        "profile": "roles-anywhere",
        "awsConfigFile": str(aws_profile(tmp_path, EKS_WRONG_KEYS)),
    }
    config = identity_cluster.agent_config(tmp_path, "h-mismapped", credentials)
    code, out, _ = whoami(config, capsys)
    verdict = json.loads(out)
    assert code == 1
    assert verdict["username"] == "transom:host:someone-else"
    assert "not 'transom:host:h-mismapped'" in verdict["problem"]

    assert main(["agent", "run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "refusing to run as host 'h-mismapped'" in err
    assert "transom:host:someone-else" in err
    assert "Traceback" not in err
    assert EKS_WRONG_KEYS.secret_access_key not in err


def test_eks_token_for_another_cluster_is_rejected(
    identity_cluster: IdentityCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """x-k8s-aws-id is signed: a token made for another cluster fails STS's signature check,
    so the apiserver answers 401, and the agent says which source it was."""
    credentials = {
        "source": "eks",
        "clusterName": "another-cluster",
        "profile": "roles-anywhere",
        "awsConfigFile": str(aws_profile(tmp_path, EKS_WRONG_KEYS)),
    }
    config = identity_cluster.agent_config(tmp_path, "h-eks", credentials)
    code, _, err = whoami(config, capsys)
    assert code == 1
    assert "does not accept the credential from source 'eks' (401 Unauthorized)" in err
    assert any("signature does not match" in r for r in identity_cluster.eks.reviews)


def test_a_bad_config_names_the_field_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "server: https://k8s.example:6443\nhostName: web01\n"
        "credentials: {source: oidc, issuer: 'https://sts.example', clientId: web01,\n"
        "  clientSecrt: TopSecret-41d}\n",
        encoding="utf-8",
    )
    assert main(["agent", "run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "credentials.clientSecrt: unknown field; allowed: source, issuer, clientId" in err
    assert "TopSecret-41d" not in err
    assert "Traceback" not in err
