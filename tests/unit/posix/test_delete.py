"""Every removable posix type: the absent twin of a converged resource deletes what the
resource made, and a second run changes nothing."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine.helpers import posix_engine
from transom.api.resources import Resource, absent_twin, parse_resources


def _zip(path: Path) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("bin/app", b"v1")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resource(member: str, tmp: Path) -> dict[str, Any]:
    if member == "file":
        return {"path": str(tmp / "f.conf"), "content": "x", "mode": "0600"}
    if member == "directory":
        return {"path": str(tmp / "d"), "mode": "0750"}
    if member == "archive":
        return {
            "path": str(tmp / "app"),
            "source": str(tmp / "a.zip"),
            "sha256": _zip(tmp / "a.zip"),
        }
    assert member == "environmentVariable"
    return {"name": "APP_HOME", "value": "/srv/app", "file": str(tmp / "environment")}


@pytest.mark.parametrize("member", ["file", "directory", "archive", "environmentVariable"])
def test_absent_twin_deletes_what_the_resource_made(member: str, tmp_path: Path) -> None:
    env = tmp_path / "environment"
    env.write_text("OTHER=1\n")
    (resource,) = parse_resources([{"name": "r", member: _resource(member, tmp_path)}])
    engine = posix_engine()
    assert engine.apply([resource]).in_desired_state
    twin = absent_twin(resource.properties)
    assert twin is not None
    removal = [Resource(name="r", properties=twin)]
    assert engine.test(removal).results[0].diff[0].desired == "absent"
    report = engine.apply(removal)
    assert report.changed and report.in_desired_state, report.results[0].message
    assert not engine.apply(removal).changed
    assert engine.test([resource]).results[0].diff[0].actual == "absent"
    assert env.read_text() == "OTHER=1\n"  # only the variable went, not the file's others
