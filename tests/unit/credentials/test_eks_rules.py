"""The EKS token against the EKS authenticator's documented rules, checked by the loopback
stand-in's verifier (its own SigV4, not botocore's): whatever cluster, region and credentials,
a token the agent makes is accepted, and any change to it is not."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import sys
import time
from pathlib import Path

import botocore.session  # type: ignore[import-untyped]
import pytest
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from transom.agent.credentials.base import CredentialError
from transom.agent.credentials.eks import EksTokenSource
from transom.dev.eks_webhook import (
    AccessEntry,
    AwsCredentials,
    EksAuthenticatorWebhook,
    StsAssumeRole,
    TokenRejectedError,
    canonical_arn,
    map_caller,
    verify_token,
)

ARN = "arn:aws:sts::111122223333:assumed-role/transom-hosts/i-0abc123"


def token_for(cluster: str, region: str | None, creds: Credentials) -> str:
    source = EksTokenSource(cluster, region=region, credentials=creds)
    return asyncio.run(source.fetch()).token


def known(creds: Credentials) -> dict[str, AwsCredentials]:
    return {creds.access_key: AwsCredentials(creds.access_key, creds.secret_key, ARN, creds.token)}


_key = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=20).map("ASIA".__add__)
_secret = st.text(
    st.characters(codec="ascii", categories=("L", "N")) | st.sampled_from("/+="),
    min_size=20,
    max_size=40,
)
_cluster = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,40}", fullmatch=True)
_region = st.none() | st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"])


@settings(max_examples=40, deadline=None)
@given(key=_key, secret=_secret, session=_secret, cluster=_cluster, region=_region)
def test_agent_tokens_pass_every_rule(
    key: str, secret: str, session: str, cluster: str, region: str | None
) -> None:
    creds = Credentials(key, secret, session)
    token = token_for(cluster, region, creds)
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    caller = verify_token(token, cluster_id=cluster, credentials=known(creds))
    assert caller.canonical_arn == "arn:aws:iam::111122223333:role/transom-hosts"
    assert caller.session_name == "i-0abc123"
    with pytest.raises(TokenRejectedError, match="signature does not match"):
        verify_token(token, cluster_id=cluster + "x", credentials=known(creds))


def _url(token: str) -> str:
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def _token(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda u: u.replace("https://", "http://"), "unexpected scheme"),
        (lambda u: u.replace("sts.eu-west-1.amazonaws.com", "sts.evil.example"), "unexpected host"),
        (lambda u: u.replace(".com/?", ".com/x?"), "unexpected path"),
        (lambda u: u + "&Foo=1", "'Foo' is not allowed"),
        (lambda u: u.replace("GetCallerIdentity", "AssumeRole"), "not GetCallerIdentity"),
        (lambda u: u.replace("x-k8s-aws-id", "x-other"), "did not sign the x-k8s-aws-id"),
        (lambda u: u.replace("X-Amz-Expires=60", "X-Amz-Expires=901"), "between 0 and 900"),
        (lambda u: u.replace("X-Amz-Expires=60", "X-Amz-Expires=120"), "signature does not"),
    ],
)
def test_any_change_is_rejected(mutate: object, why: str) -> None:
    creds = Credentials("ASIAEXAMPLEEXAMPLE12", "secret/key+EXAMPLE", "session-token")
    url = _url(token_for("prod", "eu-west-1", creds))
    assert callable(mutate)
    with pytest.raises(TokenRejectedError, match=why):
        verify_token(_token(mutate(url)), cluster_id="prod", credentials=known(creds))


def test_expired_padded_and_foreign_tokens_are_rejected() -> None:
    creds = Credentials("ASIAEXAMPLEEXAMPLE12", "secret/key+EXAMPLE", "session-token")
    token = token_for("prod", None, creds)
    with pytest.raises(TokenRejectedError, match="expired"):
        verify_token(
            token, cluster_id="prod", credentials=known(creds), now=time.time() + 15 * 60 + 5
        )
    with pytest.raises(TokenRejectedError, match="unpadded"):
        verify_token(token + "==", cluster_id="prod", credentials=known(creds))
    with pytest.raises(TokenRejectedError, match="prefix"):
        verify_token("k8s-aws-v2." + token[11:], cluster_id="prod", credentials=known(creds))
    with pytest.raises(TokenRejectedError, match="security token"):
        verify_token(token, cluster_id="prod", credentials={})


def test_access_entries_map_the_canonical_role_and_session_name() -> None:
    assert canonical_arn(ARN) == ("arn:aws:iam::111122223333:role/transom-hosts", "i-0abc123")
    creds = Credentials("ASIAEXAMPLEEXAMPLE12", "secret/key+EXAMPLE", "session-token")
    caller = verify_token(
        token_for("prod", None, creds), cluster_id="prod", credentials=known(creds)
    )
    entry = AccessEntry(
        "arn:aws:iam::111122223333:role/transom-hosts", "transom:host:{{SessionName}}", ("g",)
    )
    assert map_caller(caller, [entry]) == ("transom:host:i-0abc123", ("g",))
    with pytest.raises(TokenRejectedError, match="no access entry"):
        map_caller(caller, [])


@pytest.mark.posix_only("the credential_process stand-in is a posix script")
def test_credential_process_profile_signs_the_token(tmp_path: Path) -> None:
    """IAM Roles Anywhere hands credentials to botocore through credential_process."""
    answer = {
        "Version": 1,
        "AccessKeyId": "ASIAROLESANYWHERE001",
        "SecretAccessKey": "roles/anywhere+secret",
        "SessionToken": "ra-session",
        "Expiration": "2099-01-01T00:00:00Z",
    }
    helper = tmp_path / "helper"
    helper.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(answer))})\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "config"
    config.write_text(f"[profile ra]\ncredential_process = {helper}\n")
    session = botocore.session.Session(profile="ra")
    session.set_config_variable("config_file", str(config))
    token = asyncio.run(EksTokenSource("prod", session=session).fetch()).token
    assert "X-Amz-Credential=ASIAROLESANYWHERE001" in _url(token)
    keys = {
        "ASIAROLESANYWHERE001": AwsCredentials(
            "ASIAROLESANYWHERE001", "roles/anywhere+secret", ARN, "ra-session"
        )
    }
    verify_token(token, cluster_id="prod", credentials=keys)


def test_missing_profile_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("[profile other]\nregion = eu-west-1\n")
    session = botocore.session.Session(profile="absent")
    session.set_config_variable("config_file", str(tmp_path / "config"))
    with pytest.raises(CredentialError, match="absent"):
        asyncio.run(EksTokenSource("prod", session=session).fetch())


@pytest.mark.posix_only("the credential_process stand-in is a posix script")
def test_role_arn_is_assumed_first_and_its_session_name_maps(tmp_path: Path) -> None:
    """roleArn: botocore's AssumeRole against a loopback STS (the shared config's sts
    endpoint_url); the token then proves the assumed role with the host's session name, and a
    role the caller may not assume is a clear error."""
    base = AwsCredentials("ASIABASE000000000001", "base/secret+key", ARN, "base-session")
    role = "arn:aws:iam::111122223333:role/transom-hosts"
    webhook = EksAuthenticatorWebhook(
        tmp_path,
        "prod",
        [base],
        [AccessEntry(role, "transom:host:{{SessionName}}", ("transom:hosts",))],
    )
    answer = {
        "Version": 1,
        "AccessKeyId": base.access_key_id,
        "SecretAccessKey": base.secret_access_key,
        "SessionToken": base.session_token,
        "Expiration": "2099-01-01T00:00:00Z",
    }
    helper = tmp_path / "helper"
    helper.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(answer))})\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    with StsAssumeRole(webhook, {base.access_key_id: [role]}) as sts:
        config = tmp_path / "config"
        config.write_text(
            f"[profile ra]\ncredential_process = {helper}\nservices = local\n\n"
            f"[services local]\nsts =\n  endpoint_url = {sts.url}\n"
        )

        def source(role_arn: str) -> EksTokenSource:
            session = botocore.session.Session(profile="ra")
            session.set_config_variable("config_file", str(config))
            return EksTokenSource(
                "prod", session=session, role_arn=role_arn, role_session_name="web01"
            )

        token = asyncio.run(source(role).fetch()).token
        caller = verify_token(token, cluster_id="prod", credentials=webhook.credentials)
        assert sts.assumed == [(role, "web01")]
        assert map_caller(caller, webhook.entries) == ("transom:host:web01", ("transom:hosts",))
        with pytest.raises(CredentialError, match="AccessDenied"):
            asyncio.run(source("arn:aws:iam::111122223333:role/admin").fetch())
