"""The controller's side of a preview, against the real apiserver: admission records who
asked (and refuses a forged name), each selected host gets its own HostPreview with per-host
values, offline hosts and what the rollout would stop at are listed, and expired or deleted
previews are garbage-collected."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest

from transom.agent.credentials.whoami import who_am_i
from transom.api import names
from transom.api.preview import LABEL_PREVIEW, preview_label
from transom.api.wire import API_VERSION
from transom.controller import preview as preview_module
from transom.controller.manager import Controller
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import HOST_PREVIEWS, PREVIEWS, SECRETS

from .conftest import Fleet, eventually

pytestmark = pytest.mark.controlplane


def preview_body(namespace: str, user: str, *configurations: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Preview",
        "metadata": {"name": f"preview-{secrets.token_hex(3)}", "namespace": namespace},
        "spec": {"requestedBy": user, "configurations": list(configurations)},
    }


def proposed(name: str, role: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "spec": {"hostSelector": {"matchLabels": {"role": role}}, "resources": resources},
    }


async def create_when_admitted(kube: Kube, body: dict[str, Any]) -> dict[str, Any]:
    """The policies are installed by the controller's start: the first requests may precede
    them, so a forged name is retried until the policy refuses it."""

    async def refused() -> ApiError | None:
        forged = {
            **body,
            "metadata": {**body["metadata"], "name": f"forged-{secrets.token_hex(3)}"},
        }
        forged["spec"] = {**body["spec"], "requestedBy": "mallory"}
        try:
            made = await kube.create(PREVIEWS.path(body["metadata"]["namespace"]), forged)
        except ApiError as e:
            return e
        await kube.delete(PREVIEWS.path(made["metadata"]["namespace"], made["metadata"]["name"]))
        return None

    error = await eventually(refused)
    assert error.status == 403
    assert "spec.requestedBy must be the requester" in error.message
    return await kube.create(PREVIEWS.path(body["metadata"]["namespace"]), body)


async def dispatched(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        obj = await kube.get(PREVIEWS.path(namespace, name))
        return obj if (obj.get("status") or {}).get("observedGeneration") == 1 else None

    found: dict[str, Any] = await eventually(check)
    return found


async def test_preview_asks_each_selected_host_and_lists_the_rest(
    kube: Kube, namespace: str, fleet: Fleet, controller: Controller
) -> None:
    role = f"r{secrets.token_hex(2)}"
    labelled = await fleet.add(0, {"role": role, "site": "paris"})
    offline = await fleet.add(1, {"role": role, "site": "rome"}, online=False)
    unlabelled = await fleet.add(2, {"role": role})
    for host in (labelled, unlabelled):
        await eventually(lambda h=host: _true(controller.cache.online(h)))
    user = (await who_am_i(kube)).username
    body = preview_body(
        namespace,
        user,
        proposed(
            "site",
            role,
            [{"name": "f", "file": {"path": "/srv/$(host.label.site)", "content": "x"}}],
        ),
        proposed(
            "tls",
            role,
            [
                {
                    "name": "k",
                    "file": {
                        "path": "/srv/key",
                        "contentFrom": {"secretKeyRef": {"name": "absent", "key": "k"}},
                    },
                }
            ],
        ),
    )
    created = await create_when_admitted(kube, body)
    name = created["metadata"]["name"]
    status = (await dispatched(kube, namespace, name))["status"]
    states = {
        (h["configuration"], h["host"]): (h["state"], h.get("reason", "")) for h in status["hosts"]
    }
    assert states == {
        ("site", labelled): ("Requested", ""),
        ("site", offline): ("Offline", ""),
        ("site", unlabelled): ("Failed", "InvalidSpec"),
        ("tls", labelled): ("Failed", "SecretNotFound"),
        ("tls", offline): ("Offline", ""),
        ("tls", unlabelled): ("Failed", "SecretNotFound"),
    }
    # The one request, in the host's namespace: values substituted, the asker recorded.
    listed = await kube.list(
        HOST_PREVIEWS.path(), labelSelector=f"{LABEL_PREVIEW}={preview_label(namespace, name)}"
    )
    [request] = listed["items"]
    assert request["metadata"]["namespace"] == names.host_namespace(labelled)
    assert request["spec"]["resources"][0]["file"]["path"] == "/srv/paris"
    assert request["spec"]["requestedBy"] == user
    # The spec of a Preview cannot be changed afterwards (who asked stays who asked).
    with pytest.raises(ApiError) as err:
        await kube.patch(PREVIEWS.path(namespace, name), {"spec": {"requestedBy": "mallory"}})
    assert err.value.status == 403

    # Deleted: its HostPreviews go with it.
    await kube.delete(PREVIEWS.path(namespace, name))

    async def gone() -> bool:
        return (
            await kube.get_or_none(
                HOST_PREVIEWS.path(request["metadata"]["namespace"], request["metadata"]["name"])
            )
            is None
        )

    await eventually(gone)


async def test_an_expired_preview_is_deleted_with_its_requests(
    kube: Kube, namespace: str, fleet: Fleet, controller: Controller
) -> None:
    role = f"r{secrets.token_hex(2)}"
    host = await fleet.add(0, {"role": role})
    await eventually(lambda: _true(controller.cache.online(host)))
    user = (await who_am_i(kube)).username
    body = preview_body(
        namespace,
        user,
        proposed("motd", role, [{"name": "f", "file": {"path": "/srv/m", "content": "x"}}]),
    )
    created = await create_when_admitted(kube, body)
    name = created["metadata"]["name"]
    await dispatched(kube, namespace, name)
    host_ns = names.host_namespace(host)
    assert (await kube.list(HOST_PREVIEWS.path(host_ns)))["items"]

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    controller.previews.clock = lambda: later
    await controller.previews.sweep()

    async def gone() -> bool:
        preview = await kube.get_or_none(PREVIEWS.path(namespace, name))
        requests = (await kube.list(HOST_PREVIEWS.path(host_ns)))["items"]
        return preview is None and not requests

    await eventually(gone)


async def test_an_invalid_proposed_spec_fails_the_preview_naming_it(
    kube: Kube, namespace: str, controller: Controller
) -> None:
    user = (await who_am_i(kube)).username
    body = preview_body(namespace, user, {"name": "bad", "spec": {"resources": []}})
    created = await create_when_admitted(kube, body)
    status = (await dispatched(kube, namespace, created["metadata"]["name"]))["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PreviewFailed")
    assert "Configuration bad: spec.hostSelector" in ready["message"]


async def _true(value: bool) -> bool:
    return value


async def test_secrets_are_checked_at_the_source_and_never_copied_for_a_preview(
    kube: Kube, namespace: str, fleet: Fleet, controller: Controller
) -> None:
    role = f"r{secrets.token_hex(2)}"
    host = await fleet.add(0, {"role": role})
    await eventually(lambda: _true(controller.cache.online(host)))
    await kube.create(
        SECRETS.path(namespace), {"metadata": {"name": "tls"}, "data": {"k": "dmFsdWU="}}
    )
    user = (await who_am_i(kube)).username
    ref = {"secretKeyRef": {"name": "tls", "key": "k"}}
    resources = [{"name": "k", "file": {"path": "/srv/key", "contentFrom": ref}}]
    host_ns = names.host_namespace(host)
    copy = names.copied_secret_name(namespace, "tls")

    async def request_of(body: dict[str, Any]) -> dict[str, Any]:
        created = await create_when_admitted(kube, body)
        await dispatched(kube, namespace, created["metadata"]["name"])
        label = preview_label(namespace, created["metadata"]["name"])
        [item] = (
            await kube.list(HOST_PREVIEWS.path(host_ns), labelSelector=f"{LABEL_PREVIEW}={label}")
        )["items"]
        return dict(item)

    first = await request_of(preview_body(namespace, user, proposed("tls", role, resources)))
    # Not in the host namespace yet: the host is told its value is unknown; nothing is copied.
    assert first["spec"]["pendingSecrets"] == [copy]
    assert first["spec"]["resources"][0]["file"]["contentFrom"]["secretKeyRef"]["name"] == copy
    assert await kube.get_or_none(SECRETS.path(host_ns, copy)) is None

    # Once a rollout has copied it, the host reads the real value.
    await kube.create(
        SECRETS.path(host_ns), {"metadata": {"name": copy}, "data": {"k": "dmFsdWU="}}
    )
    second = await request_of(preview_body(namespace, user, proposed("tls", role, resources)))
    assert second["spec"].get("pendingSecrets", []) == []


async def test_a_preview_selecting_more_hosts_than_its_status_holds_fails_at_once(
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    controller: Controller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preview_module, "MAX_PREVIEW_HOSTS", 1)
    role = f"r{secrets.token_hex(2)}"
    await fleet.add(0, {"role": role})
    await fleet.add(1, {"role": role})
    user = (await who_am_i(kube)).username
    resources = [{"name": "f", "file": {"path": "/srv/m", "content": "x"}}]
    created = await create_when_admitted(
        kube, preview_body(namespace, user, proposed("motd", role, resources))
    )
    status = (await dispatched(kube, namespace, created["metadata"]["name"]))["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PreviewFailed"
    assert "select 2 hosts" in ready["message"]
    assert status.get("hosts", []) == []
