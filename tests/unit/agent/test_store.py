"""The posix SecretStore and the agent config written at enrollment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from transom.agent.enroll import AgentConfig, EnrollmentError, make_csr, new_key
from transom.agent.store import FileSecretStore
from transom.api import names


@pytest.mark.skipif(os.name != "posix", reason="posix file modes")
def test_file_store_is_owner_only_and_atomic(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "state")
    assert store.read("client.key") is None
    store.write("client.key", b"one")
    store.write("client.key", b"two")
    assert store.read("client.key") == b"two"
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state" / "client.key").stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["client.key"]


def test_agent_config_round_trip(tmp_path: Path) -> None:
    config = AgentConfig(server="https://127.0.0.1:6443", host="web01", ca_pem=b"PEM")
    config.save(tmp_path)
    assert AgentConfig.load(tmp_path) == config
    assert config.namespace == names.host_namespace("web01")


def test_missing_config_says_enroll_first(tmp_path: Path) -> None:
    with pytest.raises(EnrollmentError, match="enroll"):
        AgentConfig.load(tmp_path)


def test_csr_names_the_host_user_and_group() -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key, _ = new_key()
    csr = x509.load_pem_x509_csr(make_csr("web01", key))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "transom:host:web01"
    orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in orgs] == [names.HOSTS_GROUP]
    assert csr.is_signature_valid
