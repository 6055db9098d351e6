"""Every Configuration under examples/ is valid for the models (and so for the CRD)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from transom.api.configuration import ConfigurationSpec
from transom.engine.graph import check_acyclic

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))
CONFIGURATIONS = [
    p for p in EXAMPLES if yaml.safe_load(p.read_text()).get("kind") == "Configuration"
]


@pytest.mark.parametrize("path", CONFIGURATIONS, ids=[p.name for p in CONFIGURATIONS])
def test_example_configuration_is_valid(path: Path) -> None:
    spec = ConfigurationSpec.model_validate(yaml.safe_load(path.read_text())["spec"])
    check_acyclic(spec.resources)
    assert spec.resources


def test_there_are_example_configurations() -> None:
    assert len(CONFIGURATIONS) >= 2
