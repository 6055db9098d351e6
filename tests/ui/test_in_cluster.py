"""The fleet view as the controller serves it (``--ui-addr``), against the real apiserver: run
as the controller's own ServiceAccount with only its generated ClusterRole, it reviews each
viewer's token (TokenReview) and shows them only what RBAC lets them get
(SubjectAccessReview), on pages and on the event stream alike."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from playwright.async_api import Error as PlaywrightError

from tests.conftest import report
from tests.integration.controller.conftest import Fleet, configuration, eventually
from tests.ui.conftest import keep
from tests.ui.test_fleet_view import OBSERVE_OFFLINE, offline_marked
from transom.api import rbac
from transom.controller.manager import Controller
from transom.controller.trace import flux_trace
from transom.dev.controlplane import ControlPlane
from transom.dev.processes import free_port
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import (
    CLUSTER_ROLE_BINDINGS,
    CONFIGURATIONS,
    HOSTS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    path_of,
)
from transom.ui.server import Hub, serving

pytestmark = pytest.mark.controlplane


async def sa_token(kube: Kube, namespace: str, name: str, *, create: bool = True) -> str:
    if create:
        await kube.create(SERVICE_ACCOUNTS.path(namespace), {"metadata": {"name": name}})
    got = await kube.create(
        SERVICE_ACCOUNTS.path(namespace, name, "token"),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    return str(got["status"]["token"])


def sa_subject(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


class Viewer:
    """One person's browser, reduced to the requests it makes."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None) -> None:
        self.http, self.base, self.token = http, base, token

    def headers(self, basic: bool = False) -> dict[str, str]:
        if self.token is None:
            return {}
        if basic:
            pair = base64.b64encode(f"me:{self.token}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, basic: bool = False) -> tuple[int, str, Any]:
        async with self.http.get(self.base + path, headers=self.headers(basic)) as r:
            return r.status, await r.text(), r.headers

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[aiohttp.ClientResponse]:
        async with self.http.get(
            self.base + "/events", headers=self.headers(), timeout=aiohttp.ClientTimeout(None)
        ) as r:
            yield r


async def frames(response: aiohttp.ClientResponse, seconds: float) -> list[tuple[str, Any]]:
    """The SSE frames that arrive within ``seconds``."""
    out: list[tuple[str, Any]] = []
    event = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            line = (await asyncio.wait_for(response.content.readline(), left)).decode()
        except TimeoutError:
            break
        if line.startswith("event: "):
            event = line.removeprefix("event: ").strip()
        elif line.startswith("data: "):
            out.append((event, json.loads(line.removeprefix("data: "))))
    return out


async def viewers(kube: Kube, namespace: str, binding: str) -> tuple[str, str, str]:
    """Tokens of three ServiceAccounts: one bound to transom-viewer (ClusterRoleBinding
    ``binding``), one that may get Configurations in ``namespace`` only, one with no rights."""
    await kube.create(
        CLUSTER_ROLE_BINDINGS.path(),
        {
            **rbac.group_binding(rbac.VIEWER_ROLE_NAME, "unused", binding),
            "subjects": [sa_subject(namespace, "viewer")],
        },
    )
    await kube.create(
        ROLES.path(namespace),
        {
            "metadata": {"name": "configs"},
            "rules": [
                {
                    "apiGroups": ["transom.dev"],
                    "resources": ["configurations"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    )
    await kube.create(
        ROLE_BINDINGS.path(namespace),
        {
            "metadata": {"name": "configs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configs"},
            "subjects": [sa_subject(namespace, "configs")],
        },
    )
    return (
        await sa_token(kube, namespace, "viewer"),
        await sa_token(kube, namespace, "configs"),
        await sa_token(kube, namespace, "nobody"),
    )


@pytest.fixture
async def as_controller(
    controlplane: ControlPlane, kube: Kube, repo_root: Path
) -> AsyncIterator[Kube]:
    """A client with the controller ServiceAccount's token: only the generated RBAC."""
    docs = list(yaml.safe_load_all((repo_root / "deploy/base/controller.yaml").read_text()))
    for obj in docs:
        await kube.apply(path_of(obj), obj)
    sa = next(o for o in docs if o["kind"] == "ServiceAccount")["metadata"]
    token = await sa_token(kube, sa["namespace"], sa["name"], create=False)
    cfg = KubeConfig(server=controlplane.url, ca_pem=controlplane.ca.cert.read_bytes(), token=token)
    async with Kube(cfg, field_manager="transom-ui") as client:
        yield client


async def test_each_viewer_sees_what_rbac_lets_them_get(
    *, kube: Kube, namespace: str, controller: Controller, as_controller: Kube
) -> None:
    role = f"rbac-{secrets.token_hex(3)}"
    fleet = Fleet(kube, role)
    binding = f"ui-test-{secrets.token_hex(3)}"
    try:
        host = await fleet.add(0, {"role": role})
        key = (namespace, "web")
        await kube.create(
            CONFIGURATIONS.path(namespace), configuration("web", namespace, {"role": role})
        )
        await eventually(lambda: fleet.assignment(host, key))
        await fleet.report(host, key, ok=True)

        viewer_token, configs_token, nobody_token = await viewers(kube, namespace, binding)

        async with (
            serving(as_controller, "127.0.0.1", 0, in_cluster=True, flux=flux_trace) as (
                hub,
                port,
            ),
            aiohttp.ClientSession() as http,
        ):
            base = f"http://127.0.0.1:{port}"
            viewer = Viewer(http, base, viewer_token)
            configs = Viewer(http, base, configs_token)
            nobody = Viewer(http, base, nobody_token)
            anonymous = Viewer(http, base, None)
            forged = Viewer(http, base, viewer_token[:-8] + "AAAAAAAA")
            column = f"{namespace}/web"

            # No token, and a token the apiserver does not accept: 401, asking for one.
            for who in (anonymous, forged):
                for path in ("/", f"/hosts/{host}", f"/configurations/{namespace}/web", "/events"):
                    status, _, headers = await who.get(path)
                    assert status == 401, (path, status)
                    assert headers["WWW-Authenticate"].startswith("Basic ")
            # The page's own script and style need no token: they hold no cluster data.
            assert (await anonymous.get("/static/app.js"))[0] == 200

            # transom-viewer: the whole fleet, by bearer token or as a browser's Basic login.
            for basic in (False, True):
                status, text, _ = await viewer.get("/", basic=basic)
                assert status == 200
                assert f'id="host-{host}"' in text
                assert column in text
            status, text, _ = await viewer.get(f"/hosts/{host}")
            assert status == 200 and column in text
            # Its drift Events and audit state, read with the controller's own rights.
            assert "No drift events." in text and 'data-audit="none"' in text
            assert (await viewer.get(f"/configurations/{namespace}/web"))[0] == 200

            # Configurations only: the column, no host rows, no host page.
            status, text, _ = await configs.get("/")
            assert status == 200
            assert column in text
            assert '<tr id="host-' not in text
            assert host not in text
            status, text, _ = await configs.get(f"/hosts/{host}")
            assert status == 403 and f"may not get Host {host}" in text
            status, text, _ = await configs.get(f"/configurations/{namespace}/web")
            assert status == 200 and 'id="configuration-name"' in text
            assert f'href="/hosts/{host}"' not in text  # no cells: no Assignments granted

            # Nothing granted: refused, page and stream.
            assert (await nobody.get("/"))[0] == 403
            assert (await nobody.get("/events"))[0] == 403
            assert (await nobody.get(f"/configurations/{namespace}/web"))[0] == 403

            # The event stream, per viewer: a Host change reaches the viewer's stream as its
            # row, and the configs-only stream hears of the Configuration, never of the Host.
            async with viewer.stream() as v_stream, configs.stream() as c_stream:
                assert v_stream.status == 200 and c_stream.status == 200
                await frames(v_stream, 0.3)
                await frames(c_stream, 0.3)
                await kube.patch(
                    HOSTS.path(name=host), {"metadata": {"labels": {"role": role, "x": "1"}}}
                )
                await kube.patch(
                    CONFIGURATIONS.path(namespace, "web"),
                    {"metadata": {"annotations": {"touched": "1"}}},
                )
                got_v = await frames(v_stream, 2.0)
                got_c = await frames(c_stream, 2.0)
            rows = [d for e, d in got_v if e == "rows"]
            assert rows and host in rows[-1]["rows"], got_v
            assert 'data-labels="role=' in rows[-1]["rows"][host]
            changed = [d for e, d in got_c if e == "changed"]
            assert any(column in d["configurations"] for d in changed), got_c
            assert all(e != "rows" for e, _ in got_c), got_c
            assert host not in json.dumps(got_c)

            # Reviews are cached: the requests above cost a handful, not one each.
            assert isinstance(hub, Hub) and hub.reviewer is not None
            reviews = as_controller.requests
            assert reviews["POST /apis/authentication.k8s.io/v1/tokenreviews"] <= 8
            sar = reviews["POST /apis/authorization.k8s.io/v1/subjectaccessreviews"]
            assert sar <= 40, sar

        # A view whose own identity may not create reviews (here: transom-viewer's) lets
        # nobody in, and says so without the API's words to someone not signed in.
        cfg = replace(as_controller.config, token=viewer_token)
        async with (
            Kube(cfg) as as_viewer,
            serving(as_viewer, "127.0.0.1", 0, in_cluster=True) as (_, port),
            aiohttp.ClientSession() as http,
        ):
            status, text, _ = await Viewer(http, f"http://127.0.0.1:{port}", viewer_token).get("/")
            assert status == 503
            assert "cannot review tokens" in text and "forbidden" not in text
    finally:
        with contextlib.suppress(ApiError):
            await kube.delete(CLUSTER_ROLE_BINDINGS.path(name=binding))
        await fleet.cleanup()


async def test_in_the_browser_sign_in_with_a_token_and_see_live_updates(
    *,
    kube: Kube,
    namespace: str,
    controller: Controller,
    as_controller: Kube,
    chromium: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The browser's own login prompt (Basic, the token as the password), as a person behind
    `kubectl port-forward` meets it; a host going offline shows on the open page within 2 s."""
    role = f"rbacb-{secrets.token_hex(3)}"
    fleet = Fleet(kube, role)
    binding = f"ui-test-{secrets.token_hex(3)}"
    try:
        hosts = [await fleet.add(i, {"role": role}) for i in range(2)]
        key = (namespace, "web")
        await kube.create(
            CONFIGURATIONS.path(namespace), configuration("web", namespace, {"role": role})
        )
        for h in hosts:
            await eventually(lambda h=h: fleet.assignment(h, key))
            await fleet.report(h, key, ok=True)
        viewer_token, configs_token, _ = await viewers(kube, namespace, binding)

        async with serving(as_controller, "127.0.0.1", 0, in_cluster=True, flux=flux_trace) as (
            _,
            port,
        ):
            base = f"http://localhost:{port}"  # as port-forward gives it

            async def signed_in(token: str | None) -> Any:
                creds = {"username": "me", "password": token} if token else None
                ctx = await chromium.new_context(
                    http_credentials=creds, viewport={"width": 1400, "height": 900}
                )
                return ctx, await ctx.new_page()

            # No token, or a wrong one: the challenge cannot be met (headless, there is no one
            # to type into the prompt; a wrong token is refused again), so Chromium shows
            # nothing of the fleet: the 401 page, or the navigation given up.
            for token in (None, viewer_token[:-8] + "AAAAAAAA"):
                ctx, page = await signed_in(token)
                try:
                    response = await page.goto(f"{base}/")
                except PlaywrightError as exc:
                    assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
                else:
                    assert response is not None and response.status == 401
                    assert hosts[0] not in (await page.content())
                await ctx.close()

            # Configurations only: the column, no rows; a host's page is refused.
            ctx, page = await signed_in(configs_token)
            await page.goto(f"{base}/")
            assert await page.locator("#grid thead th a", has_text=f"{namespace}/web").count()
            assert await page.locator("#grid tbody tr").count() == 0
            response = await page.goto(f"{base}/hosts/{hosts[0]}")
            assert response is not None and response.status == 403
            assert "may not get Host" in (await page.text_content("main") or "")
            await page.screenshot(path=str(tmp_path / "in-cluster-forbidden.png"))
            keep(tmp_path / "in-cluster-forbidden.png")
            await ctx.close()

            # transom-viewer: the grid, live over the stream the browser opens with the same
            # credentials; a host's Lease lapses and its row turns offline without a reload.
            ctx, page = await signed_in(viewer_token)
            await page.goto(f"{base}/")
            await page.wait_for_selector("#live.on")
            await page.fill("#labels", f"role={role}")
            assert await page.locator("#grid tbody tr:not([hidden])").count() == 2
            gone = hosts[1]
            await page.evaluate(OBSERVE_OFFLINE, gone)
            marked = asyncio.create_task(offline_marked(kube, gone))
            await fleet.heartbeat(gone, duration=1)  # and no renewal after it
            await page.wait_for_selector(f"#host-{gone}.offline", timeout=30_000)
            marked_at = await asyncio.wait_for(marked, 30)
            delay = await page.evaluate("window.__offlineAt") / 1000 - marked_at
            report(request, f"[ui] in-cluster: offline shown {delay:.2f} s after Host status")
            assert delay < 2.0
            await page.screenshot(path=str(tmp_path / "in-cluster-viewer.png"), full_page=True)
            keep(tmp_path / "in-cluster-viewer.png")
            await ctx.close()
    finally:
        with contextlib.suppress(ApiError):
            await kube.delete(CLUSTER_ROLE_BINDINGS.path(name=binding))
        await fleet.cleanup()


async def test_controller_run_serves_the_view_behind_ui_addr(
    *, controlplane: ControlPlane, kube: Kube, namespace: str
) -> None:
    """`transom controller run --ui-addr` as a process: the view answers beside the
    controller, asking for a token (401) and refusing one with no rights (403)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transom.cli.main",
        "controller",
        "run",
        "--no-install",
        f"--kubeconfig={controlplane.kubeconfig}",
        f"--ui-addr=127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        nobody = await sa_token(kube, namespace, "nobody")
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"

            async def answering() -> int:
                try:
                    async with http.get(f"{base}/") as r:
                        return r.status
                except aiohttp.ClientConnectionError:
                    return 0

            assert await eventually(answering, timeout=60) == 401
            headers = {"Authorization": f"Bearer {nobody}"}
            async with http.get(f"{base}/", headers=headers) as r:
                assert r.status == 403
    finally:
        proc.terminate()  # SIGTERM: the controller stops cleanly
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"fleet view at http://127.0.0.1:" in err
