"""A preview on a Windows host: the Windows providers behind the agent's look-only path report
the registry change and make none; the host's registry roots deny as in a real run. Runs on
the simulated facade everywhere and on the real one with TRANSOM_FACADE=win32."""

from __future__ import annotations

import json

from transom.agent.preview import evaluate
from transom.agent.secrets import SecretCache
from transom.api.preview import HostPreview, HostVerdict, host_verdict
from transom.engine.policy import HostPolicy
from transom.providers.windows import providers
from transom.providers.windows.facade import WindowsFacade

from .conftest import apply, engine, fresh_sim


def request(key: str, data: str) -> HostPreview:
    value = {"key": key, "valueName": "Setting", "type": "REG_SZ", "data": data}
    return request_for({"name": "v", "registryValue": value})


def request_for(resource: dict[str, object]) -> HostPreview:
    return HostPreview.model_validate(
        {
            "metadata": {"name": "p", "namespace": "transom-host-web01", "generation": 1},
            "spec": {
                "host": "web01",
                "preview": {"namespace": "default", "name": "preview-x"},
                "configuration": {"namespace": "default", "name": "web"},
                "requestedBy": "alice",
                "expiresAt": "2999-01-01T00:00:00Z",
                "resources": [resource],
            },
        }
    )


def test_a_registry_change_is_reported_and_not_made(facade: WindowsFacade, reg_key: str) -> None:
    value = {"key": reg_key, "valueName": "Setting", "type": "REG_SZ", "data": "old"}
    apply(engine(facade), {"name": "v", "registryValue": value})

    status = evaluate(request(reg_key, "new"), providers(facade), HostPolicy(), SecretCache())

    assert host_verdict(status).verdict is HostVerdict.CHANGES
    [change] = status.results[0].changes
    assert (change.property, json.loads(change.current), json.loads(change.desired)) == (
        "data",
        "old",
        "new",
    )
    assert facade.reg_query_value("HKLM", reg_key, "Setting", 64)[0] == "old"


def test_registry_roots_deny_before_anything_is_read(facade: WindowsFacade, reg_key: str) -> None:
    policy = HostPolicy(registry_roots=("HKLM\\SOFTWARE\\Elsewhere",))
    status = evaluate(request(reg_key, "new"), providers(facade), policy, SecretCache())
    verdict = host_verdict(status)
    assert verdict.verdict is HostVerdict.FAILS
    assert verdict.message.startswith("denied by host policy: v (RegistryValue)")
    assert not facade.reg_key_exists("HKLM", reg_key, 64)


def feature_request(name: str) -> HostPreview:
    return request_for({"name": "f", "windowsFeature": {"name": name}})


def test_a_feature_install_may_need_a_reboot_and_is_not_made() -> None:
    # Simulated facade only: Install-WindowsFeature is PowerShell, which Wine cannot run.
    sim = fresh_sim()
    sim.add_feature("Web-Server", restart=True)
    sim.add_feature("Web-Mgmt-Console", installed=True)
    status = evaluate(feature_request("Web-Server"), providers(sim), HostPolicy(), SecretCache())
    assert status.reboot_required and status.results[0].reboot_required
    assert sim.feature_get("Web-Server")["installed"] is False  # type: ignore[index]

    installed = evaluate(
        feature_request("Web-Mgmt-Console"), providers(sim), HostPolicy(), SecretCache()
    )
    assert not installed.reboot_required and installed.results[0].changes == []
