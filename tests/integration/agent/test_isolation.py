"""A host's credentials reach its own namespace and its own Host's status, nothing else (RBAC
from api/rbac.py, the admission policy from api/admission.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from transom.api import names
from transom.api.wire import API_VERSION
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import ASSIGNMENTS, CSRS, HOSTS, LEASES, SECRETS

from .conftest import Agents, StandIn, file_resource, host_name

pytestmark = pytest.mark.controlplane


async def _forbidden(call: Callable[[], Awaitable[Any]]) -> None:
    with pytest.raises(ApiError) as err:
        await call()
    assert err.value.status == 403, err.value


async def _eventually_forbidden(call: Callable[[], Awaitable[Any]], message: str) -> None:
    """Forbidden with MESSAGE, once the apiserver has loaded the admission policy (the stand-in
    installs it as the suite's fixture starts; loading takes up to a second or so)."""
    for _ in range(100):
        try:
            await call()
        except ApiError as e:
            assert e.status == 403, e
            assert message in e.message, e
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"allowed for 10 s: {message}")


async def test_host_a_cannot_touch_host_b(agents: Agents, standin: StandIn) -> None:
    a_name, b_name = host_name("iso-a"), host_name("iso-b")
    a = await agents.enroll(a_name)
    await agents.enroll(b_name)
    b_ns = names.host_namespace(b_name)
    a_ns = names.host_namespace(a_name)
    await standin.assign(b_name, [file_resource("f", agents.tmp / "b.txt", "b")])
    await standin.assign(a_name, [file_resource("f", agents.tmp / "a.txt", "a")])
    await standin.kube.create(
        SECRETS.path(b_ns),
        {"metadata": {"name": "default.db"}, "data": {"k": base64.b64encode(b"v").decode()}},
    )
    b_assignment = names.assignment_name("default", "web")

    async with Kube(a.kube_config()) as kube:
        # Its own namespace and Host work.
        await kube.list(ASSIGNMENTS.path(a_ns))
        await kube.get(ASSIGNMENTS.path(a_ns, b_assignment))
        await kube.list(SECRETS.path(a_ns))
        await kube.patch(
            HOSTS.path(name=a_name, subresource="status"), {"status": {"osName": "test"}}
        )
        # It writes its Host's status and reads no Host, not even its own: the agent has no
        # need to, and one ClusterRole for all hosts cannot say "only your own" for a read.
        await _forbidden(lambda: kube.get(HOSTS.path(name=a_name)))

        # Host B's Assignments, Secrets, Lease and Host are out of reach.
        await _forbidden(lambda: kube.list(ASSIGNMENTS.path(b_ns)))
        await _forbidden(lambda: kube.get(ASSIGNMENTS.path(b_ns, b_assignment)))
        await _forbidden(
            lambda: kube.patch(
                ASSIGNMENTS.path(b_ns, b_assignment, "status"),
                {"status": {"observedGeneration": 1}},
            )
        )
        await _forbidden(lambda: kube.get(SECRETS.path(b_ns, "default.db")))
        await _forbidden(lambda: kube.list(SECRETS.path(b_ns)))
        await _forbidden(lambda: kube.get(LEASES.path(b_ns, names.LEASE_NAME)))
        await _forbidden(
            lambda: kube.create(
                LEASES.path(b_ns),
                {"metadata": {"name": names.LEASE_NAME}, "spec": {"holderIdentity": a_name}},
            )
        )
        await _forbidden(lambda: kube.get(HOSTS.path(name=b_name)))
        await _forbidden(lambda: kube.list(HOSTS.path()))
        # RBAC lets every host patch a Host's status; the admission policy refuses another's.
        await _eventually_forbidden(
            lambda: kube.patch(
                HOSTS.path(name=b_name, subresource="status"), {"status": {"osName": "x"}}
            ),
            f"host {a_name} may write only the status of its own Host, not {b_name}",
        )
        await _forbidden(lambda: kube.patch(HOSTS.path(name=b_name), {"metadata": {"labels": {}}}))
        # Nor anything cluster-wide.
        await _forbidden(lambda: kube.list(SECRETS.path("kube-system")))

        # It cannot write Assignments, not even in its own namespace.
        body = {
            "apiVersion": API_VERSION,
            "kind": "Assignment",
            "metadata": {"name": "default.evil"},
            "spec": {
                "host": a_name,
                "source": {"configuration": {"name": "evil"}, "generation": 1},
                "resources": [],
            },
        }
        await _forbidden(lambda: kube.create(ASSIGNMENTS.path(a_ns), body))
        await _forbidden(
            lambda: kube.patch(ASSIGNMENTS.path(a_ns, b_assignment), {"spec": {"resources": []}})
        )

        # It cannot approve CSRs, its own or anyone's.
        listed = await standin.kube.list(CSRS.path())
        csr = next(
            c
            for c in listed["items"]
            if c["spec"].get("username", "").startswith("system:bootstrap:")
        )
        csr.setdefault("status", {})["conditions"] = [
            {"type": "Approved", "status": "True", "reason": "Self", "message": "self"}
        ]
        await _forbidden(
            lambda: kube.replace(
                CSRS.path(name=csr["metadata"]["name"], subresource="approval"), csr
            )
        )
        await _forbidden(lambda: kube.list(CSRS.path()))
