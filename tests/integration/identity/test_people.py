"""People get the access the ClusterRoles say, through their AD FS / Entra ID group: the local
issuer signs a token for a user in group `contoso\\win-ops`, the apiserver maps the `groups`
claim (prefix `oidc:`), and RBAC does the rest. Every allowed and denied request is a real
answer from the real apiserver."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable

import pytest

from tests.integration.identity.conftest import PEOPLE_AUDIENCE, IdentityCluster
from transom.agent.credentials.whoami import who_am_i
from transom.api import names, rbac
from transom.api.wire import API_VERSION
from transom.dev.oidc_issuer import PEOPLE_PREFIX
from transom.kube.client import ApiError, Kube
from transom.kube.config import KubeConfig
from transom.kube.kinds import CONFIGURATIONS, HOSTS, NAMESPACES, SECRETS, path_of

pytestmark = pytest.mark.controlplane

OPS_GROUP = "contoso\\win-ops"
ADMINS_GROUP = "contoso\\win-admins"


def person(cluster: IdentityCluster, upn: str, groups: list[str]) -> Kube:
    token = cluster.people.token_for(
        {"aud": PEOPLE_AUDIENCE, "sub": secrets.token_hex(8), "upn": upn, "groups": groups}
    )
    return Kube(
        KubeConfig(server=cluster.cp.url, ca_pem=cluster.cp.ca.cert.read_bytes(), token=token)
    )


@pytest.fixture
async def estate(admin: Kube) -> AsyncIterator[tuple[str, str]]:
    """A Configuration, a Host with status, and a Secret in the host's namespace; the viewer
    role bound to `oidc:contoso\\win-ops`, the operator role to `oidc:contoso\\win-admins`."""
    host = f"p-{secrets.token_hex(3)}"
    ns = names.host_namespace(host)
    conf_ns = f"people-{secrets.token_hex(3)}"
    bindings = [
        rbac.group_binding(rbac.VIEWER_ROLE_NAME, PEOPLE_PREFIX + OPS_GROUP, f"viewers-{host}"),
        rbac.group_binding(rbac.OPERATOR_ROLE_NAME, PEOPLE_PREFIX + ADMINS_GROUP, f"ops-{host}"),
    ]
    for obj in bindings:
        await admin.apply(path_of(obj), obj)
    for n in (ns, conf_ns):
        await admin.create(NAMESPACES.path(), {"metadata": {"name": n}})
    await admin.create(
        HOSTS.path(), {"apiVersion": API_VERSION, "kind": "Host", "metadata": {"name": host}}
    )
    await admin.patch(
        HOSTS.path(name=host, subresource="status"),
        {"status": {"observedGeneration": 1, "osName": "Windows Server 2016", "namespace": ns}},
    )
    await admin.create(
        SECRETS.path(ns), {"metadata": {"name": "web-config"}, "stringData": {"pw": "hunter2"}}
    )
    await admin.create(CONFIGURATIONS.path(conf_ns), configuration("web-farm"))
    yield host, conf_ns
    await admin.delete(HOSTS.path(name=host))
    for n in (ns, conf_ns):
        await admin.delete(NAMESPACES.path(name=n))
    for obj in bindings:
        await admin.delete(path_of(obj))


def configuration(name: str) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": name},
        "spec": {
            "hostSelector": {"matchLabels": {"role": "web"}},
            "resources": [{"name": "root", "directory": {"path": "C:\\inetpub\\web"}}],
        },
    }


async def forbidden(request: Awaitable[object]) -> None:
    with pytest.raises(ApiError) as info:
        await request
    assert info.value.status == 403, info.value


async def test_group_member_reads_status_and_cannot_write_or_read_secrets(
    identity_cluster: IdentityCluster, estate: tuple[str, str]
) -> None:
    host, conf_ns = estate
    async with person(identity_cluster, "alice@contoso.com", [OPS_GROUP]) as alice:
        me = await who_am_i(alice)
        assert me.username == "oidc:alice@contoso.com"
        assert PEOPLE_PREFIX + OPS_GROUP in me.groups

        listed = await alice.list(CONFIGURATIONS.path(conf_ns))
        assert [c["metadata"]["name"] for c in listed["items"]] == ["web-farm"]
        status = await alice.get(HOSTS.path(name=host, subresource="status"))
        assert status["status"]["osName"] == "Windows Server 2016"
        await alice.list(HOSTS.path())

        await forbidden(alice.create(CONFIGURATIONS.path(conf_ns), configuration("sneaky")))
        await forbidden(
            alice.patch(CONFIGURATIONS.path(conf_ns, "web-farm"), {"spec": {"suspend": True}})
        )
        await forbidden(alice.delete(CONFIGURATIONS.path(conf_ns, "web-farm")))
        await forbidden(alice.get(SECRETS.path(names.host_namespace(host), "web-config")))
        await forbidden(alice.list(SECRETS.path(names.host_namespace(host))))


async def test_operator_group_suspends_but_creates_nothing_and_reads_no_secrets(
    identity_cluster: IdentityCluster, estate: tuple[str, str]
) -> None:
    host, conf_ns = estate
    async with person(identity_cluster, "bob@contoso.com", [ADMINS_GROUP]) as bob:
        suspended = await bob.patch(
            CONFIGURATIONS.path(conf_ns, "web-farm"), {"spec": {"suspend": True}}
        )
        assert suspended["spec"]["suspend"] is True
        await bob.patch(
            CONFIGURATIONS.path(conf_ns, "web-farm"),
            {"metadata": {"annotations": {names.FLUX_RECONCILE_REQUESTED: "2026-12-01T00:00:00Z"}}},
        )
        paused = await bob.patch(HOSTS.path(name=host), {"spec": {"paused": True}})
        assert paused["spec"]["paused"] is True

        await forbidden(bob.create(CONFIGURATIONS.path(conf_ns), configuration("sneaky")))
        await forbidden(bob.delete(CONFIGURATIONS.path(conf_ns, "web-farm")))
        await forbidden(
            bob.patch(HOSTS.path(name=host, subresource="status"), {"status": {"osName": "forged"}})
        )
        await forbidden(bob.get(SECRETS.path(names.host_namespace(host), "web-config")))


async def test_a_person_outside_the_groups_gets_nothing(
    identity_cluster: IdentityCluster, estate: tuple[str, str]
) -> None:
    _, conf_ns = estate
    async with person(identity_cluster, "mallory@contoso.com", ["contoso\\guests"]) as mallory:
        await forbidden(mallory.list(CONFIGURATIONS.path(conf_ns)))
        await forbidden(mallory.list(HOSTS.path()))
