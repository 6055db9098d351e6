"""Exec credential plugins, run for real: a small Python script stands in for the plugin."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from transom.agent.credentials import (
    BearerToken,
    CachedCredential,
    ClientCertificate,
    CredentialError,
)
from transom.agent.credentials.exec_plugin import ExecPluginSource

PLUGIN_TOKEN = "plugin-token-7c1e5b"

PLUGIN = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    info = os.environ["KUBERNETES_EXEC_INFO"]
    record = Path(sys.argv[1])
    calls = json.loads(record.read_text()) if record.exists() else []
    calls.append({"info": json.loads(info), "mode": os.environ.get("MODE")})
    record.write_text(json.dumps(calls))
    mode = os.environ.get("MODE", "token")
    api = json.loads(info)["apiVersion"]
    if mode == "fail":
        print("error: the role cannot be assumed", file=sys.stderr)
        sys.exit(3)
    if mode == "garbage":
        print("token=" + os.environ["TOKEN"])
        sys.exit(0)
    if mode == "hang":
        import time
        time.sleep(30)
    status = {"expirationTimestamp": os.environ["EXPIRES"]} if "EXPIRES" in os.environ else {}
    if mode == "cert":
        status.update(clientCertificateData="CERT PEM", clientKeyData="KEY PEM")
    elif mode == "token":
        status["token"] = os.environ["TOKEN"] + "-" + str(len(calls))
    if mode == "oldapi":
        api = "client.authentication.k8s.io/v1alpha1"
        status["token"] = "x"
    print(json.dumps({"apiVersion": api, "kind": "ExecCredential", "status": status}))
    """
)


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "plugin.py"
    path.write_text(PLUGIN)
    return path


def source(plugin: Path, **env: str) -> ExecPluginSource:
    return ExecPluginSource(
        sys.executable,
        [str(plugin), str(plugin.parent / "calls.json")],
        env={"TOKEN": PLUGIN_TOKEN, **env},
    )


def calls(plugin: Path) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads((plugin.parent / "calls.json").read_text())
    return result


async def test_token_with_expiry_and_exec_info(plugin: Path) -> None:
    cred = await source(plugin, EXPIRES="2026-11-26T15:30:00+01:00").fetch()
    assert isinstance(cred, BearerToken)
    assert cred.token == f"{PLUGIN_TOKEN}-1"
    assert cred.expires_at == 1795703400.0  # 14:30:00Z
    assert calls(plugin)[0]["info"] == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }


async def test_client_certificate(plugin: Path) -> None:
    cred = await source(plugin, MODE="cert", EXPIRES="2026-11-26T14:30:00Z").fetch()
    assert cred == ClientCertificate(b"CERT PEM", b"KEY PEM", expires_at=1795703400.0)
    assert "KEY PEM" not in repr(cred)


async def test_cached_until_expiry(plugin: Path) -> None:
    now = [1795703400.0 - 1]
    cache = CachedCredential(source(plugin, EXPIRES="2026-11-26T14:30:00Z"), clock=lambda: now[0])
    assert await cache.token() == f"{PLUGIN_TOKEN}-1"
    assert await cache.token() == f"{PLUGIN_TOKEN}-1"
    now[0] += 1
    assert await cache.token() == f"{PLUGIN_TOKEN}-2"
    cache.invalidate()  # after a 401
    assert await cache.token() == f"{PLUGIN_TOKEN}-3"


async def test_without_expiry_the_token_is_kept(plugin: Path) -> None:
    cache = CachedCredential(source(plugin))
    assert await cache.token() == await cache.token() == f"{PLUGIN_TOKEN}-1"
    with pytest.raises(CredentialError, match="client certificate"):
        await CachedCredential(source(plugin, MODE="cert")).token()


async def test_failure_names_the_command_and_its_stderr(plugin: Path) -> None:
    with pytest.raises(CredentialError) as err:
        await source(plugin, MODE="fail").fetch()
    message = str(err.value)
    assert sys.executable in message
    assert "exit status 3: error: the role cannot be assumed" in message


async def test_bad_output_is_not_echoed(plugin: Path) -> None:
    with pytest.raises(CredentialError, match="output is not JSON") as err:
        await source(plugin, MODE="garbage").fetch()
    assert PLUGIN_TOKEN not in str(err.value)
    with pytest.raises(CredentialError, match="v1alpha1") as err:
        await source(plugin, MODE="oldapi").fetch()


async def test_missing_command_and_timeout(plugin: Path, tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match=r"no-such-plugin.*cannot start"):
        await ExecPluginSource(str(tmp_path / "no-such-plugin")).fetch()
    slow = ExecPluginSource(
        sys.executable, [str(plugin), str(tmp_path / "c.json")], env={"MODE": "hang"}, timeout=0.5
    )
    with pytest.raises(CredentialError, match=r"no answer within 0\.5 s"):
        await slow.fetch()


async def test_from_kubeconfig_stanza(plugin: Path) -> None:
    stanza = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": [str(plugin), str(plugin.parent / "calls.json")],
        "env": [{"name": "TOKEN", "value": PLUGIN_TOKEN}],
        "provideClusterInfo": True,
        "interactiveMode": "Never",
    }
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}
    src = ExecPluginSource.from_kubeconfig(stanza, cluster=cluster)
    cred = await src.fetch()
    assert isinstance(cred, BearerToken)
    assert calls(plugin)[0]["info"] == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "spec": {"interactive": False, "cluster": cluster},
    }
    assert PLUGIN_TOKEN not in repr(src)
    assert PLUGIN_TOKEN not in repr(cred)


def test_relative_command_resolves_against_the_kubeconfig(tmp_path: Path) -> None:
    src = ExecPluginSource.from_kubeconfig({"command": "./bin/plugin"}, base_dir=tmp_path)
    assert src.command == str(tmp_path / "./bin/plugin")
    assert ExecPluginSource.from_kubeconfig(
        {"command": "kubelogin"}, base_dir=tmp_path
    ).command == ("kubelogin")
