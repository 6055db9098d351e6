"""Removal of an Assignment with removalPolicy Delete: what is applied."""

from __future__ import annotations

from transom.agent.removal import removal_resources
from transom.api.resources import Ensure, parse_resources


def test_removal_twins_are_absent_dependents_first_and_skip_commands() -> None:
    resources = parse_resources(
        [
            {"name": "dir", "directory": {"path": "/srv/app"}},
            {"name": "f", "dependsOn": ["dir"], "file": {"path": "/srv/app/x", "content": "x"}},
            {"name": "env", "environmentVariable": {"name": "A", "value": "1", "file": "/e"}},
            {"name": "cmd", "command": {"test": "true", "set": "true"}},
        ]
    )
    twins = removal_resources(resources)
    assert [r.name for r in twins] == ["env", "f", "dir"]
    assert all(r.properties.ensure is Ensure.ABSENT for r in twins)
    assert [r.properties.identity() for r in twins] == [
        resources[2].properties.identity(),
        resources[1].properties.identity(),
        resources[0].properties.identity(),
    ]
