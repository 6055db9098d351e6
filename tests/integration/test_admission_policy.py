"""The host-restriction ValidatingAdmissionPolicy answers with its own 403 message, behind RBAC
that lets the request through (defect: the policy read request.subResource, absent on requests
for the object itself, and refused them with a CEL error, 422, instead). It is also what keeps a
host to its own Host's status: RBAC grants every host the status of any Host (api/rbac.py)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from transom.api import names
from transom.api.admission import REBOOT_LEASE_NAME
from transom.api.wire import API_VERSION
from transom.controller.manager import Controller
from transom.dev import pki
from transom.dev.controlplane import ControlPlane
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import HOSTS, LEASES, NAMESPACES

pytestmark = pytest.mark.controlplane


async def test_a_host_writing_its_own_host_object_meets_the_policy_not_a_cel_error(
    controlplane: ControlPlane, kube: Kube, controller: Controller, tmp_path: Path
) -> None:
    host = f"vap-{secrets.token_hex(3)}"
    await kube.create(
        HOSTS.path(), {"apiVersion": API_VERSION, "kind": "Host", "metadata": {"name": host}}
    )
    try:
        for _ in range(200):  # the controller provisions namespace and RBAC
            if await kube.get_or_none(NAMESPACES.path(name=names.host_namespace(host))):
                break
            await asyncio.sleep(0.05)
        pair = pki.issue(
            controlplane.ca,
            tmp_path,
            host,
            names.host_user(host),
            organizations=(names.HOSTS_GROUP,),
        )
        config = KubeConfig(
            server=controlplane.url,
            ca_pem=controlplane.ca.cert.read_bytes(),
            cert_pem=pair.cert.read_bytes(),
            key_pem=pair.key.read_bytes(),
        )
        async with Kube(config) as as_host:
            # Its own status: allowed by RBAC and by the policy.
            await _eventually_allowed(as_host, host)
            # The reboot Lease in its own namespace, a request for the object itself: RBAC
            # allows creating Leases there, the policy refuses this one, in its words.
            # The namespace's Role follows the namespace: until it lands RBAC answers first.
            for _ in range(100):
                with pytest.raises(ApiError) as err:
                    await as_host.create(
                        LEASES.path(names.host_namespace(host)),
                        {"metadata": {"name": REBOOT_LEASE_NAME}, "spec": {"holderIdentity": host}},
                    )
                if "cannot create resource" not in err.value.message:
                    break
                await asyncio.sleep(0.1)
            assert err.value.status == 403, err.value
            assert f"hosts may only release (delete) the {REBOOT_LEASE_NAME}" in err.value.message
            # Another host's status: RBAC allows it (one binding for all hosts), the policy
            # does not.
            other = f"vap-other-{secrets.token_hex(3)}"
            await kube.create(
                HOSTS.path(),
                {"apiVersion": API_VERSION, "kind": "Host", "metadata": {"name": other}},
            )
            try:
                with pytest.raises(ApiError) as err:
                    await as_host.patch(
                        HOSTS.path(name=other, subresource="status"), {"status": {"osName": "x"}}
                    )
                assert err.value.status == 403, err.value
                assert f"host {host} may write only the status of its own Host, not {other}" in (
                    err.value.message
                )
            finally:
                await kube.delete(HOSTS.path(name=other))
    finally:
        await kube.delete(HOSTS.path(name=host))


async def _eventually_allowed(as_host: Kube, host: str) -> None:
    """RBAC is applied by the controller just after the namespace: retry briefly."""
    for _ in range(100):
        try:
            await as_host.patch(
                HOSTS.path(name=host, subresource="status"), {"status": {"osName": "test"}}
            )
            return
        except ApiError as e:
            if e.status != 403:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError(f"host {host} never got RBAC for its own status")
