"""agent.yaml: every source validates into its typed model and becomes the right credential
source; errors name the field, the value and what is allowed, and never a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from transom.agent.config import (
    SOURCES,
    AgentConfiguration,
    ConfigError,
    EksCredentials,
    OidcCredentials,
    load_config,
    merge,
    validate,
)
from transom.agent.credentials.azure import AzureArcSource, AzureImdsSource
from transom.agent.credentials.connect import source_for
from transom.agent.credentials.eks import EksTokenSource
from transom.agent.credentials.exec_plugin import ExecPluginSource
from transom.agent.credentials.oidc import OidcClientCredentialsSource

BASE = {"server": "https://k8s.example:6443", "hostName": "web01"}


def examples(tmp: Path) -> dict[str, dict[str, Any]]:
    (tmp / "oidc.secret").write_text("s3cret\n")
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "https://k8s.example"}}],
                "users": [{"name": "u", "user": {"exec": {"command": "/usr/bin/true"}}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return {
        "enrollment": {"source": "enrollment", "rotationFraction": 0.5},
        "eks": {"source": "eks", "clusterName": "prod", "region": "eu-west-1"},
        "entra": {"source": "entra", "clientId": "3f6b2c1e-8d7a-4b9e-a1c2-5d4e6f708192"},
        "arc": {"source": "arc", "resource": "api://transom"},
        "oidc": {
            "source": "oidc",
            "issuer": "https://adfs.contoso.com/adfs",
            "clientId": "web01",
            "clientSecret": {"file": str(tmp / "oidc.secret")},
        },
        "exec": {"source": "exec", "command": "/usr/local/bin/get-token", "args": ["--x"]},
        "kubeconfig": {"source": "kubeconfig", "path": str(kubeconfig)},
    }


@pytest.mark.posix_only("the examples name posix paths, e.g. /usr/local/bin/get-token")
def test_every_source_has_an_example_and_builds_its_source(tmp_path: Path) -> None:
    cases = examples(tmp_path)
    assert set(cases) == set(SOURCES)
    expected = {
        "enrollment": type(None),
        "eks": EksTokenSource,
        "entra": AzureImdsSource,
        "arc": AzureArcSource,
        "oidc": OidcClientCredentialsSource,
        "exec": ExecPluginSource,
        "kubeconfig": ExecPluginSource,
    }
    for name, credentials in cases.items():
        config = validate({**BASE, "credentials": credentials}, "agent.yaml")
        assert config.credentials.source == name
        assert type(source_for(config)) is expected[name], name


def test_secret_file_is_read_without_its_newline_and_never_shown(tmp_path: Path) -> None:
    config = validate({**BASE, "credentials": examples(tmp_path)["oidc"]}, "agent.yaml")
    assert isinstance(config.credentials, OidcCredentials)
    assert config.credentials.client_secret is not None
    assert config.credentials.client_secret.reveal() == "s3cret"
    inline = validate(
        {**BASE, "credentials": {**examples(tmp_path)["oidc"], "clientSecret": "hunter2"}}, "f"
    )
    assert "hunter2" not in repr(inline)
    assert "hunter2" not in repr(source_for(inline))


def test_unknown_field_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        validate({**BASE, "credentials": {"source": "eks", "cluster": "prod"}}, "agent.yaml")
    text = str(info.value)
    assert "agent.yaml: credentials.cluster: unknown field; allowed: source, clusterName" in text
    assert "agent.yaml: credentials.clusterName: Field required" in text
    with pytest.raises(ConfigError) as info:
        validate({"drift": 5}, "agent.yaml")
    assert "drift: unknown field; allowed: apiVersion, kind, server" in str(info.value)


def test_unknown_source_lists_the_sources() -> None:
    with pytest.raises(ConfigError) as info:
        validate({"credentials": {"source": "kerberos"}}, "agent.yaml")
    assert str(info.value) == (
        "agent.yaml: credentials.source: unknown credentials source; allowed: "
        "enrollment, eks, entra, arc, oidc, exec, kubeconfig (got 'kerberos')"
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"server": "http://k8s:6443"}, "server: must be an https:// URL (got 'http://k8s:6443')"),
        ({"hostName": "Web_01"}, "hostName: host name 'Web_01' must be"),
        ({"logLevel": "chatty"}, "logLevel: Input should be 'DEBUG', 'INFO', 'WARNING' or"),
        ({"credentials": {"source": "eks", "clusterName": "p"}}, "needs server and hostName"),
        (
            {**BASE, "credentials": {"source": "exec", "command": "aws"}},
            "credentials.command: must be an absolute path",
        ),
        (
            {
                **BASE,
                "credentials": {
                    "source": "entra",
                    "clientId": "a",
                    "resourceId": "/subscriptions/x",
                },
            },
            "give clientId or resourceId, not both",
        ),
        (
            {**BASE, "credentials": {"source": "oidc", "issuer": "https://i", "clientId": "c"}},
            "give clientSecret or clientAssertion, exactly one",
        ),
        ({"policy": {"allowScripts": True}, "policyFile": "/etc/p.yaml"}, "not both"),
    ],
)
def test_errors_name_the_field_and_what_is_allowed(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(doc, "agent.yaml")
    assert message in str(info.value)


_secret = st.text(st.characters(categories=("L", "N", "P")), min_size=8, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    secret=_secret,
    key=st.sampled_from(["clientSecret", "clientSecrt", "secret", "password"]),
    wrap=st.sampled_from(["plain", "value-int", "mapping"]),
)
def test_no_error_ever_shows_a_secret(secret: str, key: str, wrap: str) -> None:
    value: Any = {"plain": secret, "value-int": {"value": [secret]}, "mapping": {"x": secret}}[wrap]
    credentials = {"source": "oidc", "issuer": "https://i", "clientId": "c", key: value}
    try:
        validate({**BASE, "credentials": credentials}, "agent.yaml")
    except ConfigError as e:
        assert secret not in str(e)


def test_flags_override_the_file_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **BASE,
                "driftIntervalSeconds": 60,
                "policy": {"allowScripts": True},
                "credentials": {"source": "enrollment", "rotationFraction": 0.5},
            }
        )
    )
    config = load_config(
        path,
        {
            "driftIntervalSeconds": 5.0,
            "hostName": None,
            "policyFile": tmp_path / "p.yaml",
            "credentials": {"rotationFraction": None, "certificateLifetimeSeconds": 3600},
        },
    )
    assert config.drift_interval_seconds == 5.0
    assert config.host_name == "web01"  # None: the flag was not given
    assert config.policy is None and config.policy_file == tmp_path / "p.yaml"
    assert config.credentials.model_dump() == {
        "source": "enrollment",
        "rotation_fraction": 0.5,
        "certificate_lifetime_seconds": 3600,
    }
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_a_flag_for_enrollment_against_another_source_is_reported() -> None:
    doc = merge(
        {**BASE, "credentials": {"source": "eks", "clusterName": "p"}},
        {"credentials": {"rotationFraction": 0.5}},
    )
    with pytest.raises(ConfigError, match=r"credentials.rotationFraction: unknown field"):
        validate(doc, "agent.yaml")


def test_defaults_are_the_narrow_ones() -> None:
    config = AgentConfiguration()
    assert config.credentials.source == "enrollment"
    assert config.policy is None and config.policy_file is None and config.roots == ()
    assert isinstance(
        validate({**BASE, "credentials": {"source": "eks", "clusterName": "p"}}, "").credentials,
        EksCredentials,
    )
