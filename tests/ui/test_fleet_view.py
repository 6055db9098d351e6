"""The fleet view in a real browser (Debian's Chromium) against the real control plane, the
real controller and simulated hosts (real agents, posix engine): colours and counts, filters,
the failing host's resource message, and a host going offline shown live without a reload."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import report
from tests.ui.conftest import keep
from transom.agent.runner import AgentOptions
from transom.agent.simulator import Simulator
from transom.api.wire import API_VERSION
from transom.dev.controlplane import ControlPlane
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, HOSTS
from transom.ui.server import serving

pytestmark = pytest.mark.controlplane

#: Fast heartbeats, so a stopped agent is offline within seconds.
FAST = AgentOptions(
    lease_duration_seconds=3, renew_interval_seconds=1.0, drift_monitor=False, audit=False
)
FAILED_RGB = "rgb(210, 60, 60)"
READY_RGB = "rgb(46, 157, 79)"


def web(namespace: str, role: str, workdir: Path) -> dict[str, Any]:
    base = f"{workdir}/$(host.name)/root"
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"role": role}},
            "rollout": {"maxUnavailable": "100%", "maxFailures": "100%"},
            "resources": [
                {"name": "site", "directory": {"path": f"{base}/site"}},
                {"name": "cache", "directory": {"path": f"{base}/cache"}},
            ],
        },
    }


#: In the page: the wall-clock time a host's row first shows offline.
OBSERVE_OFFLINE = """(host) => {
  const seen = () => {
    if (window.__offlineAt === undefined && document.querySelector(`#host-${host}.offline`)) {
      window.__offlineAt = Date.now();
    }
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true,
                                                     attributes: true});
}"""


async def offline_marked(kube: Kube, host: str) -> float:
    """The wall-clock time the controller's Host status write saying offline arrives."""
    path = HOSTS.path()
    rv = (await kube.list(path, fieldSelector=f"metadata.name={host}"))["metadata"][
        "resourceVersion"
    ]
    async for event in kube.watch(
        path, resource_version=rv, field_selector=f"metadata.name={host}"
    ):
        conds = ((event.get("object") or {}).get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") != "True" for c in conds):
            return time.time()
    raise AssertionError("watch ended before the host was marked offline")


async def until(check: Any, timeout: float = 60.0, message: Any = str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await check()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not reached in {timeout} s: {message()}")
        await asyncio.sleep(0.2)


@pytest.mark.usefixtures("controller")
async def test_grid_counts_drill_down_and_live_offline(
    *,
    controlplane: ControlPlane,
    kube: Kube,
    namespace: str,
    browser_page: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    page = browser_page
    role = f"ui-{secrets.token_hex(3)}"
    workdir = tmp_path / "hosts"
    sim = Simulator(
        KubeConfig.from_file(controlplane.kubeconfig),
        count=4,
        workdir=workdir,
        prefix=role,
        labels={"role": role},
        options=FAST,
    )
    await sim.start()
    try:
        bad, gone = sim.names[1], sim.names[2]
        # A plain file where the directory should be: the "cache" resource fails there.
        (workdir / bad / "root").mkdir(parents=True, exist_ok=True)
        (workdir / bad / "root" / "cache").write_text("not a directory")
        await kube.create(CONFIGURATIONS.path(namespace), web(namespace, role, workdir))

        seen: list[Any] = []

        async def settled() -> bool:
            conf = await kube.get(CONFIGURATIONS.path(namespace, "web"))
            status = conf.get("status") or {}
            seen[:] = [status]
            # maxFailures lets the rollout reach every host although one fails.
            return status.get("ready") == 3 and status.get("failed") == 1

        await until(settled, message=lambda: f"Configuration status: {seen}")

        # The view's own client, as `transom ui` has: its watches hold their own connections.
        admin = KubeConfig.from_file(controlplane.kubeconfig)
        async with Kube(admin) as ui_kube, serving(ui_kube, "127.0.0.1", 0) as (_, port):
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for_selector("#live.on")
            # Our four hosts (other tests' hosts may share the control plane: filter to ours).
            await page.fill("#labels", f"role={role}")
            assert await page.text_content("#shown") == "4 of {} hosts shown".format(
                await page.locator("#grid tbody tr").count()
            )
            column = f"{namespace}/web"
            assert await page.locator("#grid thead th a", has_text=column).count() == 1
            failed_cell = page.locator(f"#host-{bad} td.cell.s-failed")
            assert await failed_cell.count() == 1
            assert (
                await failed_cell.evaluate("e => getComputedStyle(e).backgroundColor") == FAILED_RGB
            )
            assert "g1" in (await failed_cell.text_content() or "")
            ready_cell = page.locator(f"#host-{sim.names[0]} td.cell.s-ready")
            assert (
                await ready_cell.evaluate("e => getComputedStyle(e).backgroundColor") == READY_RGB
            )
            # Counts cover the whole fleet the identity sees: at least ours.
            assert int(await page.text_content("#counts .s-failed .n") or 0) >= 1
            assert int(await page.text_content("#counts .s-ready .n") or 0) >= 3
            await page.screenshot(path=str(tmp_path / "grid.png"), full_page=True)
            keep(tmp_path / "grid.png")

            # Filter by state, then search by name.
            await page.select_option("#state", "failed")
            assert await page.locator("#grid tbody tr:not([hidden])").count() == 1
            assert await page.locator(f"#host-{bad}").is_visible()
            await page.select_option("#state", "")
            await page.fill("#search", sim.names[3])
            assert await page.locator("#grid tbody tr:not([hidden])").count() == 1
            await page.fill("#search", "")

            # Drill down: the failing host's page shows the resource and its message.
            await failed_cell.locator("a").click()
            await page.wait_for_selector("#host-name")
            section = page.locator("section.assignment[data-state=failed]")
            failed_row = section.locator("table.results tr.r-failed")
            assert await failed_row.count() == 1
            assert await failed_row.locator("td").first.text_content() == "cache"
            message = await failed_row.locator("td.message").text_content() or ""
            assert "is not a directory" in message
            host_status = (await kube.get(HOSTS.path(name=bad)))["status"]
            assert host_status["identity"] in (await page.text_content("main") or "")
            await page.screenshot(path=str(tmp_path / "failing-host.png"), full_page=True)
            keep(tmp_path / "failing-host.png")

            # The Configuration's page: rollout progress and the failing host.
            await section.locator("h3 a").click()
            await page.wait_for_selector("#configuration-name")
            failing = page.locator("table.failing tbody tr")
            assert await failing.count() == 1
            assert bad in (await failing.text_content() or "")
            await page.screenshot(path=str(tmp_path / "configuration.png"), full_page=True)
            keep(tmp_path / "configuration.png")

            # Live: stop one host's agent (no more Lease renewals); the grid, open and never
            # reloaded, shows it offline once the controller's liveness check says so.
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for_selector("#live.on")
            await page.evaluate("window.__notReloaded = true")
            assert await page.locator(f"#host-{gone}.online").count() == 1
            await page.evaluate(OBSERVE_OFFLINE, gone)
            marked = asyncio.create_task(offline_marked(kube, gone))
            stopped = next(h for h in sim.hosts if h.name == gone)
            assert stopped.task is not None
            stopped.task.cancel()
            await asyncio.gather(stopped.task, return_exceptions=True)
            await page.wait_for_selector(f"#host-{gone}.offline", timeout=30_000)
            marked_at = await asyncio.wait_for(marked, 30)
            shown_at = await page.evaluate("window.__offlineAt") / 1000
            # How long the page took to show what the controller wrote (a figure, printed).
            report(request, f"[ui] offline shown {shown_at - marked_at:.2f} s after Host status")
            assert await page.locator(f"#host-{gone} td.cell.s-offline").count() == 1
            assert await page.evaluate("window.__notReloaded === true")
            await page.screenshot(path=str(tmp_path / "offline.png"), full_page=True)
            keep(tmp_path / "offline.png")
    finally:
        await sim.stop()
        await sim.cleanup()
