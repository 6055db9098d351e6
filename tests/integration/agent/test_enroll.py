"""Enrollment through the real CSR API: kube-controller-manager really signs, and the agent
then authenticates as transom:host:<name>."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from transom.agent.enroll import (
    CERT_NAME,
    CONFIG_FILE,
    KEY_NAME,
    EnrollmentError,
    enroll,
    load_identity,
)
from transom.api import names
from transom.cli.agent import TOKEN_ENV
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.kinds import Kind

from .conftest import Agents, StandIn, host_name

SELF_SUBJECT_REVIEWS = Kind("authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False)

pytestmark = pytest.mark.controlplane


async def test_enroll_then_authenticate_as_host(agents: Agents, tmp_path: Path) -> None:
    host = host_name("enr")
    identity = await agents.enroll(host)

    async with Kube(identity.kube_config()) as kube:
        review = await kube.create(
            SELF_SUBJECT_REVIEWS.path(),
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    user = review["status"]["userInfo"]
    assert user["username"] == names.host_user(host)
    assert names.HOSTS_GROUP in user["groups"]

    state = tmp_path / host / "state"
    assert {p.name for p in state.iterdir()} >= {CONFIG_FILE, KEY_NAME, CERT_NAME}
    if os.name == "posix":
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for name in (KEY_NAME, CERT_NAME):
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600


async def test_bootstrap_token_never_written(
    standin: StandIn, controlplane: ControlPlane, tmp_path: Path
) -> None:
    host = host_name("tok")
    token = await standin.token(host)
    await standin.provision(host)
    state = tmp_path / "state"
    await enroll(
        controlplane.url,
        token,
        host,
        state_dir=state,
        ca_pem=controlplane.ca.cert.read_bytes(),
        timeout=30,
    )
    secret_part = token.split(".")[1].encode()
    for path in state.rglob("*"):
        if path.is_file():
            assert secret_part not in path.read_bytes(), path


async def test_forged_csr_is_denied_with_a_clear_message(
    standin: StandIn, controlplane: ControlPlane, tmp_path: Path
) -> None:
    allowed, forged = host_name("ok"), host_name("forged")
    token = await standin.token(allowed)
    with pytest.raises(EnrollmentError) as err:
        await enroll(
            controlplane.url,
            token,
            forged,
            state_dir=tmp_path / "state",
            ca_pem=controlplane.ca.cert.read_bytes(),
            timeout=30,
        )
    message = str(err.value)
    assert "denied" in message
    assert f"may not enroll host {forged}" in message
    assert not (tmp_path / "state" / CERT_NAME).exists()


async def test_wrong_token_is_refused(controlplane: ControlPlane, tmp_path: Path) -> None:
    with pytest.raises(EnrollmentError, match="refused"):
        await enroll(
            controlplane.url,
            "abcdef.0123456789abcdef",
            "nobody",
            state_dir=tmp_path / "state",
            ca_pem=controlplane.ca.cert.read_bytes(),
            timeout=5,
        )


async def test_enroll_times_out_without_approval(
    standin: StandIn, controlplane: ControlPlane, tmp_path: Path
) -> None:
    await standin.stop()  # nobody approves now
    token = await standin.token("*")
    with pytest.raises(EnrollmentError, match="not signed within"):
        await enroll(
            controlplane.url,
            token,
            host_name("late"),
            state_dir=tmp_path / "state",
            ca_pem=controlplane.ca.cert.read_bytes(),
            timeout=2,
        )


async def test_cli_enroll_takes_the_token_from_the_environment(
    standin: StandIn, controlplane: ControlPlane, tmp_path: Path
) -> None:
    host = host_name("cli")
    token = await standin.token(host)
    await standin.provision(host)
    state = tmp_path / "state"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transom.cli.main",
        "agent",
        "enroll",
        f"--server={controlplane.url}",
        f"--name={host}",
        f"--ca-file={controlplane.ca.cert}",
        f"--state-dir={state}",
        "--timeout=30",
        env={**os.environ, TOKEN_ENV: token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert f"enrolled {host}" in out.decode()
    assert token.split(".")[1] not in out.decode()
    identity = load_identity(state)
    assert identity.config.host == host and identity.config.server == controlplane.url
