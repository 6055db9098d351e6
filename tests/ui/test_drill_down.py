"""The drill-down pages in Debian's Chromium, against the real control plane, the real
controller, real Flux (source-controller, kustomize-controller) and simulated hosts (real
agents, posix engine, audit on): a Configuration's rollout by partition, its failing host and
its trace from the commit Flux applied to the hosts; a host's drift, found by its agent's
check and shown on the open page, and its audit checkpoints verified; a held generation shown
as waiting (a partition waiting for its approval)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ui.conftest import keep
from tests.ui.test_fleet_view import until
from transom.agent.runner import AgentOptions
from transom.agent.simulator import Simulator
from transom.api.wire import API_VERSION
from transom.controller.trace import flux_trace
from transom.dev.controlplane import ControlPlane
from transom.dev.flux import FluxControllers, git_repository, kustomization
from transom.dev.gitserver import GitServer
from transom.kube.client import Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, GIT_REPOSITORIES, HOSTS, KUSTOMIZATIONS
from transom.ui.server import serving

pytestmark = [pytest.mark.controlplane, pytest.mark.flux]

#: Fast heartbeats and drift checks; the audit log and its signed checkpoints on.
OPTIONS = AgentOptions(
    lease_duration_seconds=5, renew_interval_seconds=1.0, drift_interval_seconds=1.0, audit=True
)
WAITING_RGB = "rgb(138, 92, 199)"


def web(role: str, workdir: Path) -> dict[str, Any]:
    base = f"{workdir}/$(host.name)/root"
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web"},
        "spec": {
            "hostSelector": {"matchLabels": {"role": role}},
            "mode": "ApplyAndMonitor",
            "rollout": {
                "maxUnavailable": "100%",
                "maxFailures": "100%",
                "partitions": [
                    {"name": "canary", "hostSelector": {"matchLabels": {"ring": "canary"}}}
                ],
            },
            "resources": [
                {"name": "site", "directory": {"path": f"{base}/site"}},
                {"name": "cache", "directory": {"path": f"{base}/cache"}},
            ],
        },
    }


def held(namespace: str, role: str, workdir: Path, generation_marker: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "held", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"role": role}},
            "rollout": {"maxUnavailable": "100%"},
            "resources": [
                {
                    "name": generation_marker,
                    "directory": {"path": f"{workdir}/$(host.name)/root/{generation_marker}"},
                }
            ],
        },
    }


@pytest.mark.usefixtures("controller")
async def test_configuration_and_host_drill_down(
    *,
    controlplane: ControlPlane,
    kube: Kube,
    namespace: str,
    flux: FluxControllers,
    git_server: GitServer,
    browser_page: Any,
    tmp_path: Path,
) -> None:
    page = browser_page
    role = f"dd-{secrets.token_hex(3)}"
    workdir = tmp_path / "hosts"
    sim = Simulator(
        KubeConfig.from_file(controlplane.kubeconfig),
        count=3,
        workdir=workdir,
        prefix=role,
        labels={"role": role},
        options=OPTIONS,
    )
    await sim.start()
    try:
        canary, bad, good = sim.names
        await kube.patch(HOSTS.path(name=canary), {"metadata": {"labels": {"ring": "canary"}}})
        (workdir / bad / "root").mkdir(parents=True, exist_ok=True)
        (workdir / bad / "root" / "cache").write_text("not a directory")

        # The commit, through real Flux: GitRepository -> Kustomization -> Configuration.
        repo = git_server.create_repository(namespace)
        sha = repo.commit({"windows/web.yaml": yaml.safe_dump(web(role, workdir))}, "web v1")
        revision = repo.revision(sha)
        await kube.apply(
            GIT_REPOSITORIES.path(namespace, "fleet"), git_repository("fleet", namespace, repo.url)
        )
        await kube.apply(
            KUSTOMIZATIONS.path(namespace, "windows"),
            kustomization("windows", namespace, "fleet", "./windows", target_namespace=namespace),
        )
        seen: list[Any] = []

        async def settled() -> bool:
            conf = await kube.get_or_none(CONFIGURATIONS.path(namespace, "web"))
            status = (conf or {}).get("status") or {}
            seen[:] = [status]
            return status.get("ready") == 2 and status.get("failed") == 1

        await until(settled, timeout=120, message=lambda: f"web status: {seen}")

        # A second Configuration, not from Git, whose next generation waits for an approval.
        await kube.create(CONFIGURATIONS.path(namespace), held(namespace, role, workdir, "g1"))

        async def held_ready() -> bool:
            conf = await kube.get(CONFIGURATIONS.path(namespace, "held"))
            return ((conf.get("status") or {}).get("ready")) == 3

        await until(held_ready, timeout=60)
        body = held(namespace, role, workdir, "g2")
        body["spec"]["rollout"]["partitions"] = [
            {
                "name": "everyone",
                "hostSelector": {"matchLabels": {"role": role}},
                "approval": "Manual",
            }
        ]
        current = await kube.get(CONFIGURATIONS.path(namespace, "held"))
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await kube.replace(CONFIGURATIONS.path(namespace, "held"), body)

        admin = KubeConfig.from_file(controlplane.kubeconfig)
        async with (
            Kube(admin) as ui_kube,
            serving(ui_kube, "127.0.0.1", 0, flux=flux_trace) as (
                _,
                port,
            ),
        ):
            base = f"http://127.0.0.1:{port}"

            # The Configuration: partitions, the failing host, commit to host.
            await page.goto(f"{base}/configurations/{namespace}/web")
            await page.wait_for_selector("#configuration-name")
            canary_row = page.locator("table.partitions tr[data-partition=canary]")
            assert await canary_row.get_attribute("data-phase") == "done"
            assert (await canary_row.locator(".ready-of").text_content()) == "1/1"
            rest = page.locator("table.partitions tr[data-partition='(rest)']")
            assert await rest.get_attribute("data-phase") == "failed"
            assert (await rest.locator(".ready-of").text_content()) == "1/2"
            failing = page.locator("table.failing tbody tr")
            assert await failing.count() == 1 and bad in (await failing.text_content() or "")
            trace = await page.text_content("#trace") or ""
            assert f"{namespace}/windows" in trace  # the Kustomization
            assert repo.url in trace  # its GitRepository
            assert revision in trace  # the commit Flux applied
            revisions = page.locator("table.revisions tbody tr")
            assert sha[:12] in (await revisions.first.text_content() or "")
            await page.screenshot(path=str(tmp_path / "configuration-trace.png"), full_page=True)
            keep(tmp_path / "configuration-trace.png")

            # Click through to the canary host: its audit checkpoints, verified.
            await page.locator(f"table.revisions a:text-is('{canary}')").click()
            await page.wait_for_selector("#host-name")
            await page.wait_for_selector("#live.on")

            async def checkpoint() -> int:
                status = (await kube.get(HOSTS.path(name=canary))).get("status") or {}
                return int((status.get("auditCheckpoint") or {}).get("sequence") or 0)

            sequence = await until(checkpoint, timeout=60)
            await page.wait_for_selector("#audit[data-audit=verified]", timeout=30_000)
            assert "verified up to record" in (await page.text_content("#audit-message") or "")
            # Drift: the agent's check finds the site directory gone (ApplyAndMonitor reports
            # it); the open page shows it without a reload.
            await page.evaluate("window.__notReloaded = true")
            (workdir / canary / "root" / "site").rmdir()
            await page.wait_for_selector("table.drifted-now tr.r-drifted", timeout=30_000)
            assert "site" in (await page.text_content("table.drifted-now") or "")
            assert await page.evaluate("window.__notReloaded === true")

            # The drift Event the agent wrote (read when the page is drawn).
            async def drift_event() -> bool:
                await page.reload()
                await page.wait_for_selector("#drift")
                found: int = await page.locator("table.drift-events tr.e-DriftDetected").count()
                return found > 0

            await until(drift_event, timeout=30)
            text = await page.text_content("table.drift-events") or ""
            assert "site" in text
            assert sequence >= 1
            await page.screenshot(path=str(tmp_path / "host-drift-audit.png"), full_page=True)
            keep(tmp_path / "host-drift-audit.png")

            # The held generation: its cells and the Configuration show waiting.
            await page.goto(f"{base}/")
            await page.fill("#labels", f"role={role}")
            cell = page.locator(f"#host-{good} td.cell.s-waiting")
            await cell.wait_for(timeout=30_000)
            assert await cell.evaluate("e => getComputedStyle(e).backgroundColor") == WAITING_RGB
            await page.goto(f"{base}/configurations/{namespace}/held")
            await page.wait_for_selector("#waiting")
            assert (await page.get_attribute("#configuration-name", "data-state")) == "waiting"
            assert "WaitingForApproval" in (await page.text_content("#waiting") or "")
            gated = page.locator("table.partitions tr[data-partition=everyone]")
            assert await gated.get_attribute("data-phase") == "waiting"
            assert "manual approval" in (await gated.text_content() or "")
            await page.screenshot(path=str(tmp_path / "waiting.png"), full_page=True)
            keep(tmp_path / "waiting.png")
    finally:
        await sim.stop()
        await sim.cleanup()
