"""Hosts' cluster-wide rights come from one ClusterRoleBinding to their group, however many
hosts there are (the apiserver's RBAC authorizer scans every ClusterRoleBinding on each
request), and the per-host ones of earlier releases are removed when the controller starts."""

from __future__ import annotations

import pytest

from tests.integration.controller.conftest import Fleet, eventually
from transom.api import names, rbac
from transom.controller import setup
from transom.kube.client import Kube
from transom.kube.kinds import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, path_of

pytestmark = pytest.mark.controlplane


def _legacy(host: str) -> list[dict[str, object]]:
    """What an earlier release made for HOST: a ClusterRole and a ClusterRoleBinding of its own,
    labelled with it."""
    meta = {
        "name": names.host_user(host),
        "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_HOST: host},
    }
    subject = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": meta["name"]}
    return [
        {
            "apiVersion": rbac.RBAC_API_VERSION,
            "kind": "ClusterRole",
            "metadata": meta,
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
        },
        {
            "apiVersion": rbac.RBAC_API_VERSION,
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": meta["name"],
            },
            "subjects": [subject],
        },
    ]


async def _naming(kube: Kube, user: str) -> list[str]:
    """ClusterRoleBindings whose subjects name USER."""
    listed = await kube.list(CLUSTER_ROLE_BINDINGS.path())
    return [
        b["metadata"]["name"]
        for b in listed["items"]
        if any(s.get("name") == user for s in b.get("subjects") or [])
    ]


async def test_provisioned_hosts_get_no_cluster_role_binding_of_their_own(
    fleet: Fleet, kube: Kube
) -> None:
    hosts = [await fleet.add(i, {}) for i in range(2)]
    for host in hosts:
        await fleet.wait_namespace(host)
        assert await _naming(kube, names.host_user(host)) == [], host
    group = await kube.get(CLUSTER_ROLE_BINDINGS.path(name=rbac.HOSTS_ROLE_NAME))
    assert group["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": names.HOSTS_GROUP}
    ]


async def test_the_per_host_cluster_rbac_of_an_earlier_release_is_removed(kube: Kube) -> None:
    host = "legacy-rbac-host"
    for obj in _legacy(host):
        await kube.apply(path_of(obj), obj)
    assert await _naming(kube, names.host_user(host)) == [names.host_user(host)]
    untouched = rbac.group_binding(
        rbac.VIEWER_ROLE_NAME, "legacy-rbac-viewers", name="legacy-rbac-viewers"
    )
    await kube.apply(path_of(untouched), untouched)
    try:
        await setup.ensure(kube, crds=False)

        async def removed() -> bool:
            role = await kube.get_or_none(CLUSTER_ROLES.path(name=names.host_user(host)))
            return role is None and await _naming(kube, names.host_user(host)) == []

        await eventually(removed, timeout=10)
        # What is not a host's (a people binding) stays.
        assert await kube.get_or_none(path_of(untouched)) is not None
    finally:
        for obj in (*_legacy(host), untouched):
            await kube.delete(path_of(obj))
