"""The real host.ps1 and operations.ps1 in Windows PowerShell 5.1: only with
TRANSOM_FACADE=win32 on Windows (the Linux suite covers the Python side with a fake host)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from transom.providers.windows.facade import WindowsApiError, WindowsFacade
from transom.providers.windows.win32 import Win32Facade

from .conftest import REAL, converges, engine

pytestmark = [
    pytest.mark.skipif(not REAL, reason="needs Windows PowerShell (TRANSOM_FACADE=win32)"),
    pytest.mark.wine_lacks("PowerShell: Wine's powershell.exe is a stub"),
]


def test_host_round_trip_and_errors(facade: WindowsFacade) -> None:
    assert isinstance(facade, Win32Facade)
    ps = facade.ps
    assert ps.invoke("param($A, $B) $A + $B.Count", {"A": 1, "B": ["x", "y"]}) == 3
    assert ps.invoke("param($S) $S", {"S": "caf\u00e9 \u2713"}) == "caf\u00e9 \u2713"
    with pytest.raises(WindowsApiError) as caught:
        ps.invoke("Get-Item -LiteralPath 'C:\\no\\such\\path'")
    assert "no\\such" in str(caught.value)
    # Stray host output does not break the framing.
    assert ps.invoke("Write-Host 'noise'; Write-Warning 'w'; 42") == 42


def test_commands_run_isolated_with_exit_codes(facade: WindowsFacade) -> None:
    def run(script: str, cwd: str | None = None) -> tuple[int, str]:
        done = facade.run_command(
            script, working_directory=cwd, environment={"TRANSOM_X": "1"}, timeout=30
        )
        return done["exitCode"], done["output"]

    assert run("exit 3")[0] == 3
    assert run("cmd.exe /c exit 5")[0] == 5
    assert run("Write-Error 'boom'")[0] == 1
    # Review defect 1: silenced errors are not failures; exit inside a pipeline still counts.
    assert run("Write-Error 'quiet' -ErrorAction SilentlyContinue; 'ok'") == (0, "ok")
    assert run("1..3 | ForEach-Object { if ($_ -eq 2) { exit 7 } }")[0] == 7
    assert run("cmd.exe /c 'echo to stderr 1>&2'")[0] == 0
    assert run("$env:TRANSOM_X") == (0, "1")
    assert run("(Get-Location).Path", cwd="C:\\Windows")[1].lower() == "c:\\windows"
    # The host survived exit and keeps no state from earlier scripts.
    assert run("$undefinedBefore = 1; 'ok'") == (0, "ok")
    with pytest.raises(WindowsApiError) as caught:
        facade.run_command("Start-Sleep 10", working_directory=None, environment={}, timeout=1)
    assert caught.value.winerror == 258


def test_queries_of_missing_objects_return_none(facade: WindowsFacade) -> None:
    name = f"transom-{uuid.uuid4().hex[:8]}"
    assert facade.firewall_rule_get(name) is None
    assert facade.task_get("\\", name) is None
    feature = facade.feature_get("Web-Server")
    assert feature is not None and "Web-WebServer" in feature["subFeatures"]


def test_firewall_rule_round_trip(facade: WindowsFacade) -> None:
    name = f"Transom-Test-{uuid.uuid4().hex[:8]}"
    eng = engine(facade)
    item: dict[str, Any] = {
        "name": "fw",
        "firewallRule": {
            "name": name,
            "direction": "Inbound",
            "action": "Allow",
            "protocol": "TCP",
            "localPorts": ["8081", "8443"],
            "remoteAddresses": ["10.20.0.0/24"],
            "profiles": ["Domain"],
            "enabled": False,
        },
    }
    try:
        converges(eng, item)
        # Review defect 6: a rename of an existing rule (-NewDisplayName, not -DisplayName).
        renamed = {**item, "firewallRule": {**item["firewallRule"], "displayName": "Renamed"}}
        converges(eng, renamed)
        rule = facade.firewall_rule_get(name)
        assert rule is not None and rule["displayName"] == "Renamed"
    finally:
        converges(eng, {"name": "fw", "firewallRule": {"name": name, "ensure": "absent"}})


def test_scheduled_task_round_trip(facade: WindowsFacade) -> None:
    name = f"Transom-Test-{uuid.uuid4().hex[:8]}"
    eng = engine(facade)
    item = {
        "name": "t",
        "scheduledTask": {
            "name": name,
            "path": "\\Transom\\",
            "action": {"execute": "cmd.exe", "arguments": "/c exit 0"},
            "trigger": {"type": "Daily", "at": "03:30"},
            "principal": {"userId": "SYSTEM", "runLevel": "Highest"},
            "enabled": False,
        },
    }
    try:
        converges(eng, item)
    finally:
        converges(
            eng,
            {
                "name": "t",
                "scheduledTask": {"name": name, "path": "\\Transom\\", "ensure": "absent"},
            },
        )
