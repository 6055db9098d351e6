"""The agent as a Windows service under Wine's service manager, from the unpacked bundle:
enroll against the real control plane, `transom agent install`, `start` (the service host
calls the service control dispatcher before heavy imports: no error 1053, within Wine's 10 s),
`status` reads it back; the running service converges the Assignment the test writes (Ready
at its generation, the directory and file there) and writes its log to the state directory;
`stop` ends it cleanly (Lease released), `uninstall` removes it. install.ps1 needs
PowerShell: windows.yml runs it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import report
from tests.integration.agent.conftest import StandIn, condition, eventually, host_name
from transom.api import kstatus, names
from transom.dev.controlplane import ControlPlane
from transom.kube.kinds import LEASES

from .conftest import Bundle, WineMachine, windows_path

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(900)]

STATE = "C:\\ProgramData\\Transom\\agent"
ROOT = "C:\\TransomService"


async def test_service_installs_starts_converges_stops_and_uninstalls(
    bundle: Bundle,
    machine: WineMachine,
    standin: StandIn,
    controlplane: ControlPlane,
    request: pytest.FixtureRequest,
) -> None:
    async def transom(*args: str, **env: str) -> str:
        done = await asyncio.to_thread(
            lambda: machine.run(bundle.python, "-I", "-m", "transom.cli.main", *args, env=env)
        )
        assert done.returncode in (0, 3, 4), (  # status: running, stopped, not installed
            f"{args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        )
        return done.stdout + done.stderr

    host = host_name("svc")
    token = await standin.token(host)
    await standin.provision(host, {"os": "windows"})
    enrolled = await transom(
        "agent",
        "enroll",
        f"--server={controlplane.url}",
        f"--name={host}",
        f"--ca-file={windows_path(controlplane.ca.cert)}",
        f"--state-dir={STATE}",
        "--timeout=120",
        TRANSOM_ENROLL_TOKEN=token,
    )
    assert f"enrolled {host}" in enrolled
    policy = machine.linux_path(f"{ROOT}\\policy.yaml")
    policy.parent.mkdir(parents=True)
    policy.write_text(f"pathRoots: ['{ROOT}']\n")

    installed = await transom(
        "agent", "install", f"--state-dir={STATE}", f"--policy={ROOT}\\policy.yaml"
    )
    assert "installed TransomAgent" in installed
    await standin.assign(
        host,
        [
            {"name": "site", "directory": {"path": f"{ROOT}\\site"}},
            {
                "name": "page",
                "dependsOn": ["site"],
                "file": {"path": f"{ROOT}\\site\\index.html", "content": "served"},
            },
        ],
    )
    log = machine.linux_path(f"{STATE}\\service.log")
    started = time.monotonic()
    status = await transom("agent", "start")
    assert "TransomAgent: running" in status, status
    assert "pythonw.exe -I -m transom.agent.servicehost --state-dir=" in status

    async def ready() -> dict[str, Any] | None:
        obj = await standin.assignment(host)
        if (obj.get("status") or {}).get("observedGeneration") != 1:
            return None
        return obj if kstatus.compute(obj).status is not kstatus.Status.IN_PROGRESS else None

    try:
        obj = await eventually(ready, timeout=180)
    except BaseException:
        print(log.read_text(errors="replace") if log.exists() else "no service log")
        raise
    first_apply = time.monotonic() - started
    cond = condition(obj, "Ready")
    assert cond is not None and cond["status"] == "True", (obj, log.read_text(errors="replace"))
    assert machine.linux_path(f"{ROOT}\\site\\index.html").read_text() == "served"
    # Also from the service process's own start (its log) to Ready (both to the second): the
    # figure above includes starting `transom agent start` itself on Wine.
    (begun,) = [ln.split()[0] for ln in log.read_text().splitlines() if "servicehost started" in ln]
    inside = datetime.fromisoformat(cond["lastTransitionTime"]) - datetime.fromisoformat(begun)
    report(
        request,
        f"`transom agent start` -> Assignment Ready: {first_apply:.1f} s; service process "
        f"start -> Ready: {inside.total_seconds():.0f} s",
    )
    assert "running" in await transom("agent", "status")

    stopped = await transom("agent", "stop")
    assert "TransomAgent: stopped" in stopped, stopped
    lease = await standin.kube.get(LEASES.path(names.host_namespace(host), names.LEASE_NAME))
    assert lease["spec"]["holderIdentity"] == "", log.read_text(errors="replace")
    text = log.read_text(errors="replace")
    assert "servicehost running the agent" in text and "servicehost stopped" in text, text
    assert "Traceback" not in text, text
    assert "removed" in await transom("agent", "uninstall")
    assert "not installed" in await transom("agent", "status")
