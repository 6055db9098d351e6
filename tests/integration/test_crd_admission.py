"""The real apiserver serves the generated CRDs and rejects bad input with a clear message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from transom.api import kstatus
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import CONFIGURATIONS, HOSTS

pytestmark = pytest.mark.controlplane


def valid() -> dict[str, Any]:
    return {
        "apiVersion": "transom.dev/v1alpha1",
        "kind": "Configuration",
        "metadata": {"name": "web-farm"},
        "spec": {
            "hostSelector": {"matchLabels": {"role": "web"}},
            "resources": [
                {"name": "site-root", "directory": {"path": "/srv/web"}},
                {
                    "name": "index",
                    "dependsOn": ["site-root"],
                    "file": {"path": "/srv/web/index.html", "content": "hello", "mode": "0644"},
                },
            ],
            "rollout": {"maxUnavailable": 1, "maxFailures": "10%"},
        },
    }


def mutate(path: str, value: Any) -> dict[str, Any]:
    """valid() with the value at a dotted path (ints index lists) set, or removed if None."""
    doc = valid()
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = doc
    for part in parts[:-1]:
        node = node[part]
    if value is None:
        del node[parts[-1]]
    else:
        node[parts[-1]] = copy.deepcopy(value)
    return doc


def many_resources(n: int) -> list[dict[str, Any]]:
    return [{"name": f"f{i}", "file": {"path": f"/tmp/f{i}", "content": "x"}} for i in range(n)]


_TCP = {"host": "127.0.0.1", "port": 80}
_HTTP = {"url": "http://127.0.0.1/health"}

# (case id, document, fragments the apiserver's message must contain: the field and the rule)
BAD: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "missing-hostSelector",
        mutate("spec.hostSelector", None),
        ("spec.hostSelector", "Required value"),
    ),
    (
        "empty-hostSelector",
        mutate("spec.hostSelector", {}),
        ("spec.hostSelector", "must set matchLabels or matchExpressions"),
    ),
    (
        "duplicate-resource-names",
        mutate("spec.resources.1", {"name": "site-root", "file": {"path": "/x"}}),
        ("spec.resources[1]", "Duplicate value"),
    ),
    (
        "dependsOn-unknown-name",
        mutate("spec.resources.1.dependsOn", ["nope"]),
        ("spec.resources", "every dependsOn entry must name a resource"),
    ),
    (
        "dependsOn-itself",
        mutate("spec.resources.1.dependsOn", ["index"]),
        ("spec.resources[1].dependsOn", "cannot depend on itself"),
    ),
    (
        "negative-maxUnavailable",
        mutate("spec.rollout.maxUnavailable", -1),
        ("spec.rollout.maxUnavailable", "integer >= 1 or a percentage"),
    ),
    (
        "over-100-percent-maxUnavailable",
        mutate("spec.rollout.maxUnavailable", "150%"),
        ("spec.rollout.maxUnavailable", "from 1% to 100%"),
    ),
    (
        "garbage-maxFailures",
        mutate("spec.rollout.maxFailures", "many"),
        ("spec.rollout.maxFailures", "integer >= 0 or a percentage"),
    ),
    (
        "unknown-resource-type",
        mutate("spec.resources.0", {"name": "x", "fooBar": {"a": 1}}),
        ("spec.resources[0]", "must set exactly one resource type"),
    ),
    (
        "two-resource-types",
        mutate(
            "spec.resources.0", {"name": "x", "file": {"path": "/a"}, "directory": {"path": "/b"}}
        ),
        ("spec.resources[0]", "must set exactly one resource type"),
    ),
    (
        "wrong-property-type",
        mutate("spec.resources.1.file.path", 42),
        ("spec.resources[1].file.path", "must be of type string"),
    ),
    (
        "bad-file-mode",
        mutate("spec.resources.1.file.mode", "999"),
        ("spec.resources[1].file.mode", "should match"),
    ),
    (
        "two-content-sources",
        mutate(
            "spec.resources.1.file.source", {"url": "https://example.test/a", "sha256": "0" * 64}
        ),
        ("spec.resources[1].file", "at most one of content, contentFrom and source"),
    ),
    (
        "bad-resource-name",
        mutate("spec.resources.0.name", "-site"),
        ("spec.resources[0].name", "should match"),
    ),
    ("bad-object-name", mutate("metadata.name", "Web_Farm"), ("metadata.name", "RFC 1123")),
    ("unknown-mode", mutate("spec.mode", "Sometimes"), ("spec.mode", "Unsupported value")),
    (
        "oversized-spec",
        mutate("spec.resources", many_resources(129)),
        ("spec.resources", "must have at most 128 items"),
    ),
    (
        "oversized-content",
        mutate("spec.resources.1.file.content", "x" * 262_145),
        ("spec.resources[1].file.content", "may not be more than 262144"),
    ),
    (
        "no-resources",
        mutate("spec.resources", []),
        ("spec.resources", "should have at least 1 items"),
    ),
    (
        "probe-with-two-kinds",
        mutate("spec.readiness", {"probes": [{"name": "p", "tcp": _TCP, "http": _HTTP}]}),
        ("spec.readiness.probes[0]", "a probe must set exactly one of"),
    ),
    (
        "deadline-within-soak",
        mutate(
            "spec.readiness",
            {
                "probes": [{"name": "p", "tcp": _TCP}],
                "minReadySeconds": 60,
                "progressDeadlineSeconds": 60,
            },
        ),
        ("spec.readiness.progressDeadlineSeconds", "must be greater than minReadySeconds"),
    ),
    (
        "rollback-without-probes",
        mutate("spec.rollout.rollback", {"onFailure": True}),
        ("spec.rollout.rollback.onFailure", "needs readiness probes"),
    ),
    (
        "status-range-upside-down",
        mutate(
            "spec.readiness",
            {
                "probes": [
                    {"name": "p", "http": {**_HTTP, "expectedStatus": {"min": 500, "max": 200}}}
                ]
            },
        ),
        ("expectedStatus", "min must not be greater than max"),
    ),
]


@pytest.mark.parametrize(("case", "doc", "fragments"), BAD, ids=[b[0] for b in BAD])
async def test_bad_configuration_rejected_with_field_and_rule(
    kube: Kube, namespace: str, case: str, doc: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(ApiError) as info:
        await kube.create(CONFIGURATIONS.path(namespace), doc)
    assert info.value.status == 422, info.value
    for fragment in fragments:
        assert fragment in info.value.message, f"{case}: {fragment!r} not in {info.value.message}"


async def test_valid_configuration_is_in_progress_until_observed(
    kube: Kube, namespace: str
) -> None:
    created = await kube.create(CONFIGURATIONS.path(namespace), valid())
    fetched = await kube.get(CONFIGURATIONS.path(namespace, "web-farm"))
    # Defaults come from the models via the CRD: kstatus sees a stale observedGeneration.
    assert fetched["status"]["observedGeneration"] == -1
    assert fetched["spec"]["mode"] == "ApplyAndAutoCorrect"
    assert fetched["spec"]["resources"][0]["directory"]["ensure"] == "present"
    assert created["metadata"]["generation"] == 1
    assert kstatus.compute(fetched).status is kstatus.Status.IN_PROGRESS

    status = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "3/3 hosts",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "summary": "3/3",
    }
    updated = await kube.patch(
        CONFIGURATIONS.path(namespace, "web-farm", "status"), {"status": status}
    )
    assert kstatus.compute(updated).status is kstatus.Status.CURRENT


async def test_status_cannot_be_written_through_the_main_resource(
    kube: Kube, namespace: str
) -> None:
    doc = valid()
    doc["status"] = {"observedGeneration": 1}
    created = await kube.create(CONFIGURATIONS.path(namespace), doc)
    assert created["status"]["observedGeneration"] == -1


async def test_host_is_cluster_scoped_and_defaults(kube: Kube) -> None:
    body = {
        "apiVersion": "transom.dev/v1alpha1",
        "kind": "Host",
        "metadata": {"name": "web01-admission", "labels": {"role": "web"}},
    }
    created = await kube.create(HOSTS.path(), body)
    try:
        assert created["spec"]["allowReenrollment"] is False
        assert "namespace" not in created["metadata"]
    finally:
        await kube.delete(HOSTS.path(name="web01-admission"))
