"""`transom test`, `apply --what-if` and `apply` of examples/windows on Windows CPython (under
Wine), through the real facade. What runs is the example's own resources minus what Wine
cannot run: PowerShell-backed types (windowsFeature, iisAppPool, iisSite, firewallRule,
scheduledTask: Wine has no PowerShell), service (Wine lacks the delayed-auto-start query,
error 124) and ACLs (Wine keeps no DACL). The rest is applied as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import WindowsHost, windows_path

pytestmark = pytest.mark.wine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "windows" / "iis-web-farm.yaml"
RUNS_ON_WINE = {"registryValue", "directory", "file", "environmentVariable"}


def _wine_part(configuration: dict[str, Any]) -> dict[str, Any]:
    kept = [r for r in configuration["spec"]["resources"] if RUNS_ON_WINE & set(r)]
    names = {r["name"] for r in kept}
    for r in kept:
        if "dependsOn" in r:
            r["dependsOn"] = [d for d in r["dependsOn"] if d in names]
        for props in r.values():
            if isinstance(props, dict):
                props.pop("acl", None)
    configuration["spec"]["resources"] = kept
    return configuration


async def _cli(windows: WindowsHost, *args: str) -> tuple[int, dict[str, Any]]:
    code, out = await windows.run("-m", "transom.cli.main", *args, "--output=json")
    start = out.index("{")
    return code, json.loads(out[start : out.rindex("}") + 1])


async def test_windows_example_tests_previews_applies_and_is_idempotent(
    windows: WindowsHost, tmp_path: Path
) -> None:
    doc = _wine_part(yaml.safe_load(EXAMPLE.read_text()))
    kinds = {k for r in doc["spec"]["resources"] for k in r if k in RUNS_ON_WINE}
    assert kinds == RUNS_ON_WINE, kinds  # the example still has every kind this test covers
    (tmp_path / "doc.yaml").write_text(yaml.safe_dump(doc))
    secret = tmp_path / "secrets" / "web-farm-secrets"
    secret.mkdir(parents=True)
    (secret / "web-config").write_text("<configuration><connectionStrings /></configuration>")
    common = (f"--file={windows_path(tmp_path / 'doc.yaml')}",)
    secrets = (f"--secrets-dir={windows_path(tmp_path / 'secrets')}",)
    total = len(doc["spec"]["resources"])

    code, before = await _cli(windows, "test", *common, *secrets)
    assert code == 2 and not before["inDesiredState"], before

    code, preview = await _cli(windows, "apply", "--what-if", *common, *secrets)
    assert code == 0, preview
    assert len(preview["results"]) == total
    assert all(r["diff"] and not r["changed"] for r in preview["results"]), preview["results"]
    code, _ = await _cli(windows, "test", *common, *secrets)
    assert code == 2, "--what-if changed the host"

    code, applied = await _cli(windows, "apply", *common, *secrets)
    assert code == 0 and applied["inDesiredState"], applied["results"]
    code, after = await _cli(windows, "test", *common, *secrets)
    assert code == 0 and after["inDesiredState"], after["results"]
    code, again = await _cli(windows, "apply", *common, *secrets)
    assert code == 0 and not any(r["changed"] for r in again["results"]), again["results"]
