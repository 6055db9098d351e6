"""Every Configuration under examples/ is valid for the models (and so for the CRD), and every
agent configuration for the agent's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from transom.agent.config import validate
from transom.api.configuration import ConfigurationSpec
from transom.engine.graph import check_acyclic

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))
CONFIGURATIONS = [
    p for p in EXAMPLES if yaml.safe_load(p.read_text()).get("kind") == "Configuration"
]
AGENT_CONFIGS = [
    p for p in EXAMPLES if yaml.safe_load(p.read_text()).get("kind") == "AgentConfiguration"
]


@pytest.mark.parametrize("path", CONFIGURATIONS, ids=[p.name for p in CONFIGURATIONS])
def test_example_configuration_is_valid(path: Path) -> None:
    spec = ConfigurationSpec.model_validate(yaml.safe_load(path.read_text())["spec"])
    check_acyclic(spec.resources)
    assert spec.resources


def test_there_are_example_configurations() -> None:
    assert len(CONFIGURATIONS) >= 2


@pytest.mark.parametrize("path", AGENT_CONFIGS, ids=[p.name for p in AGENT_CONFIGS])
def test_example_agent_configuration_is_valid(path: Path) -> None:
    config = validate(yaml.safe_load(path.read_text()), str(path))
    assert config.server and config.host_name


def test_there_is_an_agent_configuration_per_common_source() -> None:
    sources = {yaml.safe_load(p.read_text())["credentials"]["source"] for p in AGENT_CONFIGS}
    assert {"enrollment", "arc", "oidc", "eks"} <= sources
