"""FirewallRule, ScheduledTask, IisAppPool, IisSite and DscResource."""

from __future__ import annotations

import json
from typing import Any

from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import Secrets, apply, converges, engine

THUMB = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"


def rule(**props: Any) -> dict[str, Any]:
    return {"name": "fw", "firewallRule": {"name": "Transom-Web", **props}}


def test_firewall_rule(sim: SimulatedFacade) -> None:
    eng = engine(sim)
    props = {
        "direction": "Inbound",
        "action": "Allow",
        "protocol": "TCP",
        "localPorts": ["80", "443"],
        "remoteAddresses": ["10.0.0.0/8"],
        "profiles": ["Domain", "Private"],
    }
    converges(eng, rule(**props))
    # Windows reports ports in its own order and profiles Any for all three.
    sim.firewall["transom-web"]["localPorts"] = ["443", "80"]
    assert not apply(eng, rule(**props)).changed
    # Out-of-band change: only the drifted property is sent.
    sim.firewall["transom-web"]["action"] = "Block"
    report = converges(eng, rule(**props))
    assert [d.prop for d in report.results[0].diff] == ["action"]
    sim.firewall["transom-web"]["profiles"] = ["Any"]
    assert not apply(eng, rule(**{**props, "profiles": ["Domain", "Private", "Public"]})).changed
    converges(eng, rule(ensure="absent"))
    assert "transom-web" not in sim.firewall


def test_scheduled_task(sim: SimulatedFacade) -> None:
    eng = engine(sim)
    props = {
        "path": "\\Contoso\\",
        "action": {"execute": "powershell.exe", "arguments": "-File C:\\ops\\rotate.ps1"},
        "trigger": {"type": "Daily", "at": "03:00"},
        "principal": {"userId": "SYSTEM", "runLevel": "Highest"},
    }
    converges(eng, {"name": "t", "scheduledTask": {"name": "Rotate", **props}})
    # What Get-ScheduledTask reports for the same task.
    task = sim.tasks["\\contoso\\rotate"]
    task["trigger"] = {"type": "Daily", "at": "2026-11-26T03:00:00", "daysInterval": 1}
    task["principal"] = {"userId": "NT AUTHORITY\\SYSTEM", "runLevel": "Highest"}
    task["action"]["execute"] = "PowerShell.exe"
    assert not apply(eng, {"name": "t", "scheduledTask": {"name": "Rotate", **props}}).changed
    task["enabled"] = False
    report = converges(eng, {"name": "t", "scheduledTask": {"name": "Rotate", **props}})
    assert [d.prop for d in report.results[0].diff] == ["enabled"]


def test_app_pool_with_specific_user(sim: SimulatedFacade) -> None:
    eng = engine(sim, Secrets({("pool", "password"): b"P00l-pass"}))
    pool = {
        "name": "web",
        "managedRuntimeVersion": "",
        "managedPipelineMode": "Integrated",
        "identityType": "SpecificUser",
        "userName": "CONTOSO\\web-svc",
        "password": {"name": "pool", "key": "password"},
        "state": "Started",
    }
    report = converges(eng, {"name": "pool", "iisAppPool": pool})
    assert sim.app_pool_passwords["web"] == "P00l-pass"
    assert "P00l-pass" not in json.dumps(report.to_json())
    sim.app_pools["web"]["state"] = "Stopped"
    report = converges(eng, {"name": "pool", "iisAppPool": pool})
    assert [d.prop for d in report.results[0].diff] == ["state"]


def test_site_bindings_compare_as_a_set(sim: SimulatedFacade) -> None:
    eng = engine(sim)
    site = {
        "name": "web",
        "physicalPath": "C:\\inetpub\\web",
        "appPool": "web",
        "bindings": [
            {"protocol": "http", "port": 80, "hostName": "www.contoso.com"},
            {
                "protocol": "https",
                "port": 443,
                "hostName": "www.contoso.com",
                "certificateThumbprint": THUMB,
                "requireSni": True,
            },
        ],
        "state": "Started",
    }
    doc = (
        {"name": "pool", "iisAppPool": {"name": "web"}},
        {"name": "site", "dependsOn": ["pool"], "iisSite": site},
    )
    converges(eng, *doc)
    # IIS returns bindings in its order, thumbprints in lower case, paths as typed.
    stored = sim.sites["web"]
    stored["bindings"] = [
        {**b, "certificateThumbprint": THUMB.lower()} if "certificateThumbprint" in b else b
        for b in reversed(stored["bindings"])
    ]
    stored["physicalPath"] = "c:\\INETPUB\\web\\"
    assert not apply(eng, *doc).changed
    stored["bindings"] = stored["bindings"][:1]
    report = converges(eng, *doc)
    assert [d.prop for r in report.results for d in r.diff] == ["bindings"]


def test_site_needs_its_app_pool(sim: SimulatedFacade) -> None:
    report = apply(
        engine(sim),
        {"name": "s", "iisSite": {"name": "web", "physicalPath": "C:\\w", "appPool": "missing"}},
    )
    assert report.failed and report.results[0].reason == "PowerShellFailed"


class TimeZone:
    """A DSC resource whose Get omits nothing and whose Test is its own."""

    def __init__(self) -> None:
        self.zone = "UTC"

    def __call__(self, method: str, props: dict[str, Any]) -> f.DscResult:
        if method == "Test":
            return {"inDesiredState": props["TimeZone"] == self.zone}
        if method == "Get":
            return {"properties": {"IsSingleInstance": "Yes", "TimeZone": self.zone}}
        self.zone = props["TimeZone"]
        return {"rebootRequired": False}


def test_dsc_resource(sim: SimulatedFacade) -> None:
    resource = TimeZone()
    sim.dsc_resources["computermanagementdsc/timezone"] = resource
    item = {
        "name": "tz",
        "dscResource": {
            "module": "ComputerManagementDsc",
            "name": "TimeZone",
            "properties": {"IsSingleInstance": "Yes", "TimeZone": "W. Europe Standard Time"},
        },
    }
    report = converges(engine(sim), item)
    assert report.results[0].diff[0].actual == {"IsSingleInstance": "Yes", "TimeZone": "UTC"}
    assert resource.zone == "W. Europe Standard Time"


def test_dsc_test_false_with_matching_get_still_drifts(sim: SimulatedFacade) -> None:
    # Get shows every desired value, yet Test disagrees (it checks what Get omits).
    state = {"ok": False}

    def resource(method: str, props: dict[str, Any]) -> f.DscResult:
        if method == "Test":
            return {"inDesiredState": state["ok"]}
        if method == "Get":
            return {"properties": dict(props)}
        state["ok"] = True
        return {"rebootRequired": True}

    sim.dsc_resources["m/r"] = resource
    item = {"name": "r", "dscResource": {"module": "M", "name": "R", "properties": {"A": 1}}}
    report = converges(engine(sim), item)
    assert report.changed and report.reboot_required


def test_once_trigger_compares_to_the_minute(sim: SimulatedFacade) -> None:
    eng = engine(sim)
    item = {
        "name": "t",
        "scheduledTask": {
            "name": "Once",
            "action": {"execute": "cmd.exe"},
            "trigger": {"type": "Once", "at": "2026-12-01T03:00"},
        },
    }
    converges(eng, item)
    sim.tasks["\\once"]["trigger"]["at"] = "2026-12-01T03:00:00"
    assert not apply(eng, item).changed
    sim.tasks["\\once"]["trigger"]["at"] = "2026-12-02T03:00:00"
    assert apply(eng, item).changed


def test_command_runs_test_then_set(sim: SimulatedFacade) -> None:
    state = {"done": False}

    def test(_: dict[str, Any]) -> f.CommandResult:
        return {"exitCode": 0 if state["done"] else 1, "output": ""}

    def fix(args: dict[str, Any]) -> f.CommandResult:
        assert args == {"workingDirectory": "C:\\ops", "environment": {"STAGE": "prod"}}
        state["done"] = True
        return {"exitCode": 0, "output": "fixed"}

    sim.scripts["Test-Thing"] = test
    sim.scripts["Set-Thing"] = fix
    item = {
        "name": "c",
        "command": {
            "test": "Test-Thing",
            "set": "Set-Thing",
            "workingDirectory": "C:\\ops",
            "environment": {"STAGE": "prod"},
        },
    }
    report = converges(engine(sim), item)
    assert report.changed


def test_failing_set_script_reports_its_output(sim: SimulatedFacade) -> None:
    sim.scripts["Test-Thing"] = lambda _: {"exitCode": 1, "output": ""}
    sim.scripts["Set-Thing"] = lambda _: {"exitCode": 2, "output": "disk full"}
    report = apply(
        engine(sim), {"name": "c", "command": {"test": "Test-Thing", "set": "Set-Thing"}}
    )
    assert report.results[0].reason == "CommandFailed"
    assert "exited 2: disk full" in report.results[0].message
