"""Real Flux against the real control plane: a commit on the loopback Git server reaches the
cluster through source-controller and kustomize-controller, and health checks gate Ready."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

import pytest

from transom.dev.flux import (
    FluxControllers,
    condition,
    git_repository,
    kustomization,
    not_ready,
    ready_at,
    wait_for,
)
from transom.dev.gitserver import Repository
from transom.kube.client import Kube, Obj
from transom.kube.install import apply_crds
from transom.kube.kinds import GIT_REPOSITORIES, KUSTOMIZATIONS, Kind

pytestmark = pytest.mark.flux

CONFIG_MAPS = Kind("", "v1", "configmaps")
WIDGETS = Kind("flux-test.transom.dev", "v1", "widgets")


def config_map(value: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
        data:
          value: "{value}"
        """
    )


async def start_sync(
    kube: Kube, namespace: str, repo: Repository, **kustomization_options: Any
) -> None:
    """A GitRepository for `repo` and a Kustomization of its ./app into `namespace`."""
    await kube.apply(
        GIT_REPOSITORIES.path(namespace, "fleet"), git_repository("fleet", namespace, repo.url)
    )
    body = kustomization(
        "app", namespace, "fleet", "./app", target_namespace=namespace, **kustomization_options
    )
    await kube.apply(KUSTOMIZATIONS.path(namespace, "app"), body)


async def test_commits_flow_to_the_cluster(
    flux: FluxControllers, kube: Kube, namespace: str, git_repo: Repository
) -> None:
    v1 = git_repo.commit({"app/settings.yaml": config_map("v1")}, "v1")
    await start_sync(kube, namespace, git_repo)

    source = await wait_for(
        kube, GIT_REPOSITORIES, namespace, "fleet", ready_at(git_repo.revision(v1))
    )
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{v1}"
    assert source["status"]["artifact"]["url"].startswith(flux.storage_url)

    applied = await wait_for(kube, KUSTOMIZATIONS, namespace, "app", ready_at(f"main@sha1:{v1}"))
    assert applied["status"]["lastAppliedRevision"] == f"main@sha1:{v1}"
    cm = await kube.get(CONFIG_MAPS.path(namespace, "settings"))
    assert cm["data"] == {"value": "v1"}
    assert cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"

    v2 = git_repo.commit({"app/settings.yaml": config_map("v2")}, "v2")
    applied = await wait_for(kube, KUSTOMIZATIONS, namespace, "app", ready_at(f"main@sha1:{v2}"))
    assert applied["status"]["lastAppliedRevision"] == f"main@sha1:{v2}"
    cm = await kube.get(CONFIG_MAPS.path(namespace, "settings"))
    assert cm["data"] == {"value": "v2"}


async def test_wait_fails_health_check_on_an_object_that_never_becomes_ready(
    flux: FluxControllers, kube: Kube, namespace: str, git_repo: Repository
) -> None:
    # No scheduler or kubelet runs here, so a Deployment never becomes available.
    deployment = textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: never-ready
        spec:
          replicas: 1
          selector:
            matchLabels: {app: never-ready}
          template:
            metadata:
              labels: {app: never-ready}
            spec:
              containers:
              - name: main
                image: example.invalid/never:1
        """
    )
    sha = git_repo.commit({"app/deployment.yaml": deployment}, "unhealthy")
    # 30 s is the shortest timeout Flux honours (a shorter spec.timeout is raised to 30 s).
    await start_sync(kube, namespace, git_repo, wait=True, timeout="30s", interval="3s")

    failed = await wait_for(
        kube, KUSTOMIZATIONS, namespace, "app", not_ready("HealthCheckFailed"), timeout=90
    )
    ready = condition(failed)
    assert ready is not None
    assert f"Deployment/{namespace}/never-ready" in ready["message"]
    assert failed["status"]["lastAttemptedRevision"] == f"main@sha1:{sha}"
    assert not failed["status"].get("lastAppliedRevision")


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.flux-test.transom.dev"},
    "spec": {
        "group": "flux-test.transom.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            # Defaulted so the CEL expressions below never meet a missing field.
                            "status": {
                                "type": "object",
                                "default": {},
                                "properties": {"phase": {"type": "string", "default": "Pending"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}

WIDGET_HEALTH = {
    "apiVersion": "flux-test.transom.dev/v1",
    "kind": "Widget",
    "inProgress": "status.phase == 'Pending'",
    "failed": "status.phase == 'Broken'",
    "current": "status.phase == 'Done'",
}


async def set_phase(kube: Kube, namespace: str, phase: str) -> None:
    await kube.patch(WIDGETS.path(namespace, "w1", "status"), {"status": {"phase": phase}}, "merge")


async def test_health_check_exprs_gate_ready_on_custom_status(
    flux: FluxControllers, kube: Kube, namespace: str, git_repo: Repository
) -> None:
    await apply_crds(kube, [WIDGET_CRD])
    widget = "apiVersion: flux-test.transom.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec: {}\n"
    v1 = git_repo.commit({"app/widget.yaml": widget}, "v1")
    await start_sync(
        kube, namespace, git_repo, wait=True, timeout="60s", health_check_exprs=[WIDGET_HEALTH]
    )

    # Applied but Pending: Flux waits (checks poll every 5 s), and must not report the
    # revision as applied in the meantime.
    def checking_v1(k: Obj) -> bool:
        healthy = condition(k, "Healthy") or {}
        return (
            healthy.get("status") == "Unknown"
            and k["status"].get("lastAttemptedRevision") == f"main@sha1:{v1}"
        )

    await wait_for(kube, KUSTOMIZATIONS, namespace, "app", checking_v1)
    await asyncio.sleep(6)
    pending = await kube.get(KUSTOMIZATIONS.path(namespace, "app"))
    assert (condition(pending) or {}).get("status") != "True"
    assert not pending["status"].get("lastAppliedRevision")

    await set_phase(kube, namespace, "Done")
    await wait_for(kube, KUSTOMIZATIONS, namespace, "app", ready_at(f"main@sha1:{v1}"))

    # A failed expression fails the check at once, well before the 60 s timeout, and the
    # revision that failed is never reported as applied.
    await set_phase(kube, namespace, "Broken")
    v2 = git_repo.commit({"app/widget.yaml": widget.replace("{}", "{size: 2}")}, "v2")

    def failed_at_v2(k: Obj) -> bool:
        return (
            not_ready("HealthCheckFailed")(k)
            and k["status"].get("lastAttemptedRevision") == f"main@sha1:{v2}"
        )

    failed = await wait_for(kube, KUSTOMIZATIONS, namespace, "app", failed_at_v2, timeout=30)
    assert failed["status"]["lastAppliedRevision"] == f"main@sha1:{v1}"
    message = (condition(failed) or {}).get("message", "")
    assert f"Widget/{namespace}/w1 status: 'Failed'" in message, message
