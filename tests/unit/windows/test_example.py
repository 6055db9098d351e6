"""examples/windows/iis-web-farm.yaml validates and converges on a simulated Server 2016."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from transom.api.configuration import Configuration
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import Secrets, engine

EXAMPLE = Path(__file__).parents[3] / "examples" / "windows" / "iis-web-farm.yaml"
WEB_CONFIG = b'<configuration><connectionStrings><add name="db" connectionString="pw=x9!"/>'


def test_example_converges_on_a_fresh_host(sim: SimulatedFacade) -> None:
    config = Configuration.model_validate(yaml.safe_load(EXAMPLE.read_text()))
    resources = config.spec.resources
    # What a fresh Server 2016 with IIS available has.
    sim.add_feature("Web-Server", restart=False, sub_features=["Web-Mgmt-Console"])
    sim.add_feature("Web-Asp-Net45", sub_features=["Web-Net-Ext45", "Web-ISAPI-Ext"], restart=True)
    sim.add_feature("Web-Scripting-Tools")
    eng = engine(sim, Secrets({("web-farm-secrets", "web-config"): WEB_CONFIG}))
    first = eng.apply(resources)
    assert not first.failed, [r.message for r in first.results if r.failed]
    assert first.reboot_required
    assert "pw=x9!" not in json.dumps(first.to_json())
    second = eng.apply(resources)
    assert not second.changed and second.in_desired_state
    assert sim.sites["shop"]["appPool"] == "shop"
    assert sim.service_query("FluentBit")[1] == 4  # SERVICE_RUNNING
