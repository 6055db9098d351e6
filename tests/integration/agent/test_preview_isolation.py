"""HostPreviews are a host's own: another host can neither read nor write them (403), a host
cannot create or rewrite one, and the real agent answers the one meant for it without
touching its disk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from transom.api import names
from transom.api.wire import API_VERSION
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import HOST_PREVIEWS

from .conftest import Agents, StandIn, eventually, host_name

pytestmark = pytest.mark.controlplane


def host_preview(host: str, path: Path) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "HostPreview",
        "metadata": {"name": "default.preview-1.web"},
        "spec": {
            "host": host,
            "preview": {"namespace": "default", "name": "preview-1"},
            "configuration": {"namespace": "default", "name": "web"},
            "requestedBy": "alice",
            "expiresAt": "2999-01-01T00:00:00Z",
            "resources": [{"name": "f", "file": {"path": str(path), "content": "x"}}],
        },
    }


async def _forbidden(call: Callable[[], Awaitable[Any]]) -> None:
    with pytest.raises(ApiError) as err:
        await call()
    assert err.value.status == 403, err.value


async def test_a_host_reads_only_its_own_previews_and_answers_them_without_changes(
    agents: Agents, standin: StandIn
) -> None:
    a_name, b_name = host_name("pv-a"), host_name("pv-b")
    a = await agents.enroll(a_name)
    b = await agents.enroll(b_name)
    a_ns, b_ns = names.host_namespace(a_name), names.host_namespace(b_name)
    running = await agents.start(b)
    target = running.root / "motd"
    await standin.kube.create(HOST_PREVIEWS.path(b_ns), host_preview(b_name, target))
    await standin.kube.create(HOST_PREVIEWS.path(a_ns), host_preview(a_name, target))
    name = "default.preview-1.web"

    # B's agent answers its own: the file would be created, and is not.
    async def answered() -> dict[str, Any] | None:
        obj = await standin.kube.get(HOST_PREVIEWS.path(b_ns, name))
        return obj if (obj.get("status") or {}).get("answeredAt") else None

    obj = await eventually(answered)
    result = obj["status"]["results"][0]
    assert (result["status"], result["changes"][0]["property"]) == ("wouldChange", "ensure")
    assert not target.exists()

    async with Kube(a.kube_config()) as kube:
        await kube.get(HOST_PREVIEWS.path(a_ns, name))
        await kube.list(HOST_PREVIEWS.path(a_ns))
        await kube.patch(
            HOST_PREVIEWS.path(a_ns, name, "status"), {"status": {"answeredAt": "now"}}
        )
        # Host B's previews are out of reach, and so is the cluster-wide list.
        await _forbidden(lambda: kube.get(HOST_PREVIEWS.path(b_ns, name)))
        await _forbidden(lambda: kube.list(HOST_PREVIEWS.path(b_ns)))
        await _forbidden(lambda: kube.list(HOST_PREVIEWS.path()))
        await _forbidden(
            lambda: kube.patch(
                HOST_PREVIEWS.path(b_ns, name, "status"), {"status": {"answeredAt": "now"}}
            )
        )
        # It cannot create or rewrite a preview, not even its own.
        await _forbidden(
            lambda: kube.create(
                HOST_PREVIEWS.path(a_ns),
                {**host_preview(a_name, target), "metadata": {"name": "mine"}},
            )
        )
        await _forbidden(
            lambda: kube.patch(HOST_PREVIEWS.path(a_ns, name), {"spec": {"requestedBy": "x"}})
        )
