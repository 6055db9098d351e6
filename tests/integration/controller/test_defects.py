"""Silent stalls found trying the product as a new user would, each with its test: long
names, writes the apiserver rejects, conflicts that depend on event order, Unicode outside
the Basic Multilingual Plane, and an early exit that skipped removal and aggregation."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from tests.integration.controller.conftest import (
    Fleet,
    configuration,
    eventually,
    get_configuration,
)
from transom.api import kstatus, names
from transom.kube.client import Kube
from transom.kube.kinds import (
    ADMISSION_POLICIES,
    ADMISSION_POLICY_BINDINGS,
    CONFIGURATIONS,
    HOSTS,
)

pytestmark = pytest.mark.controlplane


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


async def _status_is(kube: Kube, namespace: str, name: str, want: kstatus.Status) -> Any:
    conf = await get_configuration(kube, namespace, name)
    return conf if kstatus.compute(conf).status is want else None


async def test_the_longest_name_a_configuration_may_have_rolls_out(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    host = await fleet.add(0, {"role": role})
    name = ("long-" * 60)[:250] + "abc"
    assert len(name) == 253
    await kube.create(
        CONFIGURATIONS.path(namespace), configuration(name, namespace, {"role": role})
    )
    key = (namespace, name)
    assignment = await eventually(lambda: fleet.assignment(host, key))
    assert len(assignment["metadata"]["name"]) <= names.MAX_NAME
    label = assignment["metadata"]["labels"][names.LABEL_CONFIGURATION]
    assert label == names.configuration_label(namespace, name) and len(label) <= 63
    await fleet.report(host, key, ok=True)
    await eventually(lambda: _status_is(kube, namespace, name, kstatus.Status.CURRENT))
    # Deleting it removes its Assignment, found by the shortened label.
    await kube.delete(CONFIGURATIONS.path(namespace, name))

    async def removed() -> bool:
        return await fleet.assignment(host, key) is None

    await eventually(removed)


async def test_a_write_the_apiserver_rejects_stalls_with_its_message(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    await fleet.add(0, {"role": role})
    doomed = f"doomed-{secrets.token_hex(3)}"
    policy = f"test-refuse-{doomed}"
    await kube.create(
        ADMISSION_POLICIES.path(),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["transom.dev"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["assignments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": f"object.spec.source.configuration.name != '{doomed}'",
                        "message": "site policy refuses this Assignment",
                    }
                ],
            },
        },
    )
    await kube.create(
        ADMISSION_POLICY_BINDINGS.path(),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy},
            "spec": {"policyName": policy, "validationActions": ["Deny"]},
        },
    )
    try:
        await asyncio.sleep(2)  # the apiserver loads new policies asynchronously
        await kube.create(
            CONFIGURATIONS.path(namespace), configuration(doomed, namespace, {"role": role})
        )
        conf = await eventually(lambda: _status_is(kube, namespace, doomed, kstatus.Status.FAILED))
        stalled = conditions(conf)["Stalled"]
        assert "site policy refuses this Assignment" in stalled["message"], stalled
        assert conf["status"]["observedGeneration"] == conf["metadata"]["generation"]
    finally:
        await kube.delete(ADMISSION_POLICY_BINDINGS.path(name=policy))
        await kube.delete(ADMISSION_POLICIES.path(name=policy))


async def test_a_conflict_marks_both_sides_whichever_came_first_and_both_clear(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    host = await fleet.add(0, {"role": role})
    shared = [{"name": "conf", "file": {"path": f"/etc/{role}.conf", "content": "a"}}]
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("first", namespace, {"role": role}, resources=shared),
    )
    await eventually(lambda: fleet.assignment(host, (namespace, "first")))
    await fleet.report(host, (namespace, "first"), ok=True)
    await eventually(lambda: _status_is(kube, namespace, "first", kstatus.Status.CURRENT))

    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("second", namespace, {"role": role}, resources=shared),
    )

    async def both_stalled() -> bool:
        for me, other in (("first", "second"), ("second", "first")):
            stalled = conditions(await get_configuration(kube, namespace, me)).get("Stalled", {})
            if stalled.get("reason") != "ResourceConflict" or other not in stalled["message"]:
                return False
        return True

    await eventually(both_stalled)
    await kube.delete(CONFIGURATIONS.path(namespace, "second"))
    conf = await eventually(lambda: _status_is(kube, namespace, "first", kstatus.Status.CURRENT))
    assert "Stalled" not in conditions(conf)


async def test_a_host_that_cannot_be_written_still_lets_removal_and_counts_happen(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    hosts = [
        await fleet.add(0, {"role": role, "zone": "a"}),
        await fleet.add(1, {"role": role}),
        await fleet.add(2, {"role": role}),
    ]
    key = (namespace, "web")
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration("web", namespace, {"role": role}, rollout={"maxUnavailable": 3}),
    )
    for h in hosts:
        await eventually(lambda h=h: fleet.assignment(h, key))
        await fleet.report(h, key, ok=True)
    await eventually(lambda: _status_is(kube, namespace, "web", kstatus.Status.CURRENT))

    # Host 1 has no zone label: its Assignment cannot be written.
    await kube.patch(
        CONFIGURATIONS.path(namespace, "web"),
        {
            "spec": {
                "resources": [
                    {"name": "motd", "file": {"path": "/tmp/motd", "content": "$(host.label.zone)"}}
                ]
            }
        },
    )
    conf = await eventually(lambda: _status_is(kube, namespace, "web", kstatus.Status.FAILED))
    assert "zone" in conditions(conf)["Stalled"]["message"]

    # Host 2 leaves the selection: its Assignment goes, and the counts follow.
    await kube.patch(HOSTS.path(name=hosts[2]), {"metadata": {"labels": {"role": None}}})

    async def removed_and_counted() -> Any:
        conf = await get_configuration(kube, namespace, "web")
        gone = await fleet.assignment(hosts[2], key) is None
        return conf if gone and conf["status"].get("desired") == 2 else None

    conf = await eventually(removed_and_counted)
    assert conf["status"]["updated"] == 1  # host 0 has the new generation


async def test_characters_outside_the_bmp_reach_the_assignment(
    kube: Kube, namespace: str, fleet: Fleet
) -> None:
    role = fleet.prefix
    host = await fleet.add(0, {"role": role})
    content = "héllo 😀 𝄞 \u2028 \x85 done\n"
    await kube.create(
        CONFIGURATIONS.path(namespace),
        configuration(
            "emoji",
            namespace,
            {"role": role},
            resources=[{"name": "motd", "file": {"path": "/tmp/emoji", "content": content}}],
        ),
    )
    assignment = await eventually(lambda: fleet.assignment(host, (namespace, "emoji")))
    assert assignment["spec"]["resources"][0]["file"]["content"] == content
    # The agent's status write carries it back as well.
    await fleet.report(host, (namespace, "emoji"), ok=False, resource="motd", message=content)
    conf = await eventually(lambda: _status_is(kube, namespace, "emoji", kstatus.Status.FAILED))
    assert conf["status"]["failingHosts"][0]["message"] == content
