"""Configuration spec.requireVerifiedSource, enforced by the real controller before any host
sees the generation; and the provenance it writes into a kubectl-applied Configuration's
Assignments."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.controller.conftest import Fleet, configuration, eventually
from transom.api.provenance import UNVERIFIED_SOURCE
from transom.kube.client import Kube
from transom.kube.kinds import CONFIGURATIONS

pytestmark = pytest.mark.controlplane


def stalled(obj: dict[str, Any]) -> dict[str, Any] | None:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Stalled"]
    return found[0] if found else None


async def test_required_verified_source_holds_a_generation_nobody_verified(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    host = await fleet.add(0, {"role": fleet.prefix})
    open_conf = configuration("open", namespace, {"role": fleet.prefix})
    # Written as `kubectl apply --server-side` writes it: its own field manager, no Flux.
    await kube.request(
        "PATCH",
        CONFIGURATIONS.path(namespace, "open"),
        body=open_conf,
        params={"fieldManager": "kubectl"},
        content_type="application/apply-patch+yaml",
    )
    assignment = await eventually(lambda: fleet.assignment(host, (namespace, "open")))
    p = assignment["spec"]["source"]["provenance"]
    assert (p["writer"], p["writerOperation"], p["fluxApplied"]) == ("kubectl", "Apply", False)
    assert p["verification"] == "Unknown" and not p.get("commit")

    strict = configuration("strict", namespace, {"role": fleet.prefix})
    strict["spec"]["resources"][0]["file"]["path"] = "/tmp/strict-motd"
    strict["spec"]["requireVerifiedSource"] = True
    await kube.create(CONFIGURATIONS.path(namespace), strict)

    async def held() -> dict[str, Any] | None:
        conf = await kube.get(CONFIGURATIONS.path(namespace, "strict"))
        cond = stalled(conf)
        return cond if cond and cond["reason"] == UNVERIFIED_SOURCE else None

    cond = await eventually(held)
    assert "spec.requireVerifiedSource" in cond["message"]
    assert "not signature-verified by Flux" in cond["message"]
    await asyncio.sleep(1)
    assert await fleet.assignment(host, (namespace, "strict")) is None
