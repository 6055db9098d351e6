"""`transom preview` with the real controller and real agents: the answer lists exactly what
the real apply then changes, host by host; a host whose policy forbids the change fails and
stays untouched; an offline host is unknown; a preview changes nothing (disk, audit chain)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Fleet
from tests.e2e.test_fleet import assignment_ready
from tests.integration.controller.conftest import eventually
from transom.api import names
from transom.api.wire import API_VERSION
from transom.controller.manager import Controller
from transom.engine.policy import HostPolicy
from transom.kube.client import Kube
from transom.kube.kinds import ASSIGNMENTS, CONFIGURATIONS, PREVIEWS

pytestmark = pytest.mark.controlplane

EXIT_WOULD_FAIL = 2


def configuration(fleet: Fleet, namespace: str) -> dict[str, Any]:
    base = str(fleet.root / "hosts" / "$(host.name)")
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {"name": "web-farm", "namespace": namespace},
        "spec": {
            "hostSelector": {"matchLabels": {"role": fleet.role}},
            "rollout": {"maxUnavailable": "100%", "maxFailures": "100%"},
            "resources": [
                {"name": "site", "directory": {"path": f"{base}/site"}},
                {
                    "name": "index",
                    "dependsOn": ["site"],
                    "file": {
                        "path": f"{base}/site/index.html",
                        "content": "<h1>$(host.name)</h1>\n",
                    },
                },
            ],
        },
    }


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under ``root`` with its bytes (None for a directory)."""
    return {str(p): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


async def preview(kubeconfig: Path, file: Path, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transom.cli.main",
        "preview",
        "-f",
        str(file),
        "--kubeconfig",
        str(kubeconfig),
        "--timeout",
        "60s",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    assert proc.returncode in (0, 2), err.decode()
    return proc.returncode, out.decode()


async def online(controller: Controller, hosts: list[str]) -> None:
    async def all_online() -> bool:
        return all(controller.cache.online(h) for h in hosts)

    await eventually(all_online, timeout=30)


def by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in report["hosts"]}


def properties(answer: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["resource"], c["property"]) for c in answer["changes"]}


async def test_preview_lists_what_apply_then_changes_and_changes_nothing_itself(
    kube: Kube, namespace: str, fleet: Fleet, controller: Controller, tmp_path: Path
) -> None:
    await fleet.enroll(4)
    changed_before, absent, denied, offline = fleet.hosts
    fleet.start(changed_before)
    fleet.start(absent)
    # This host's owner allows paths only under a folder the Configuration does not use.
    fleet.start(denied, HostPolicy(path_roots=(str(fleet.root / "elsewhere"),)))
    # ``offline`` is enrolled but its agent never runs: no heartbeat.
    fleet.path(changed_before, "site").mkdir(parents=True)
    fleet.path(changed_before, "site", "index.html").write_text("old\n")
    fleet.path(denied).mkdir(parents=True)
    await online(controller, fleet.hosts[:3])
    conf = configuration(fleet, namespace)
    file = tmp_path / "web-farm.yaml"
    file.write_text(yaml.safe_dump(conf))
    hosts_before = snapshot(fleet.root / "hosts")
    state_before = snapshot(fleet.root / "state")

    code, out = await preview(fleet.cp.kubeconfig, file, "--output", "json")

    assert code == EXIT_WOULD_FAIL
    report = json.loads(out)
    answers = by_host(report)
    assert set(answers) == set(fleet.hosts)
    assert answers[changed_before]["result"] == "wouldChange"
    assert properties(answers[changed_before]) == {("index", "content")}
    # A file's content is redacted in every output (it may come from a Secret).
    content = answers[changed_before]["changes"][0]
    assert json.loads(content["current"]) == json.loads(content["desired"]) == "<redacted>"
    assert answers[absent]["result"] == "wouldChange"
    assert properties(answers[absent]) == {("site", "ensure"), ("index", "ensure")}
    assert answers[denied]["result"] == "wouldFail"
    assert "denied by host policy" in answers[denied]["why"]
    assert answers[offline]["result"] == "unknown"
    assert answers[offline]["why"] == "offline"
    assert report["summary"].startswith(f"2 hosts would change, 1 host would fail ({denied}: ")
    assert report["summary"].endswith(", 1 offline")

    # The preview changed nothing: not the hosts' files, not their journals or audit chains.
    assert snapshot(fleet.root / "hosts") == hosts_before
    assert snapshot(fleet.root / "state") == state_before
    # ...and it is gone once read; its HostPreviews follow.
    assert (await kube.list(PREVIEWS.path(namespace)))["items"] == []

    # The real apply: it changes exactly the resources the preview named, on each host.
    await kube.create(CONFIGURATIONS.path(namespace), conf)
    key = (namespace, "web-farm")
    for host in (changed_before, absent):
        await eventually(lambda h=host: assignment_ready(kube, h, key, 1), timeout=60)
        assignment = await kube.get(
            ASSIGNMENTS.path(names.host_namespace(host), names.assignment_name(*key))
        )
        changed = {r["name"] for r in assignment["status"]["results"] if r.get("changed")}
        assert changed == {resource for resource, _ in properties(answers[host])}
        assert fleet.path(host, "site", "index.html").read_text() == f"<h1>{host}</h1>\n"
    assert not fleet.path(denied, "site").exists()
    # The audit chain does record real changes: the comparison above could have failed.
    audit = fleet.root / "state" / changed_before / "audit"
    assert snapshot(audit) != {k: v for k, v in state_before.items() if k.startswith(str(audit))}

    # Previewed again, the applied hosts have nothing left to change.
    code, out = await preview(fleet.cp.kubeconfig, file, "--output", "json")
    again = by_host(json.loads(out))
    assert again[changed_before]["result"] == again[absent]["result"] == "unchanged"
    assert again[denied]["result"] == "wouldFail"
    assert code == EXIT_WOULD_FAIL


async def test_markdown_groups_hosts_with_the_same_answer(
    kube: Kube, namespace: str, fleet: Fleet, controller: Controller, tmp_path: Path
) -> None:
    await fleet.enroll(2)
    for h in fleet.hosts:
        fleet.start(h)
    await online(controller, fleet.hosts)
    conf = configuration(fleet, namespace)
    # The same path on both hosts: one answer, one group.
    conf["spec"]["resources"] = [
        {"name": "shared", "directory": {"path": str(fleet.root / "hosts" / "shared")}}
    ]
    file = tmp_path / "shared.yaml"
    file.write_text(yaml.safe_dump(conf))

    code, out = await preview(fleet.cp.kubeconfig, file, "--output", "markdown")

    assert code == 0
    assert "**2 hosts would change**" in out
    assert out.count("<details>") == 1
    assert f"on 2 host(s) ({', '.join(sorted(fleet.hosts))})" in out
