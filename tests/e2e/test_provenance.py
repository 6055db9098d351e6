"""Who authorized each change, with the real thing: commits signed by Debian's GnuPG, real
source-controller verifying them (spec.verify), real kustomize-controller applying, the real
controller recording provenance, real agents writing it into their audit chains, and
`transom audit report` over the result."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Fleet
from tests.e2e.test_fleet import assignment_ready, web_farm
from tests.e2e.test_flux_scenario import manifest
from tests.integration.controller.conftest import eventually
from tests.unit.audit.helpers import Lines
from transom.api import names
from transom.api.provenance import UNVERIFIED_SOURCE
from transom.cli.audit import register
from transom.controller.trace import trace
from transom.dev.flux import condition, git_repository, kustomization, wait_for
from transom.dev.gitserver import GitServer, Repository
from transom.dev.signing import SigningKey
from transom.engine.audit import read_records
from transom.engine.policy import HostPolicy
from transom.kube.client import Kube, Obj
from transom.kube.kinds import (
    ASSIGNMENTS,
    CONFIGURATIONS,
    GIT_REPOSITORIES,
    KUSTOMIZATIONS,
    SECRETS,
)

pytestmark = [
    pytest.mark.controlplane,
    pytest.mark.flux,
    pytest.mark.skipif(shutil.which("gpg") is None, reason="needs Debian's gnupg (make gnupg)"),
]

KEY = ("", "web-farm")


def applied_at(revision: str) -> Any:
    def check(obj: Obj) -> bool:
        return (obj.get("status") or {}).get("lastAppliedRevision") == revision

    return check


async def sync(kube: Kube, namespace: str, repo: Repository, key: SigningKey) -> None:
    await kube.apply(
        SECRETS.path(namespace, "signers"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "signers", "namespace": namespace},
            "data": {"alice.asc": base64.b64encode(key.public_key.encode()).decode()},
        },
    )
    await kube.apply(
        GIT_REPOSITORIES.path(namespace, "fleet"),
        git_repository("fleet", namespace, repo.url, verify_secret="signers"),
    )
    body = kustomization(
        "windows", namespace, "fleet", "./windows", target_namespace=namespace, timeout="120s"
    )
    await kube.apply(KUSTOMIZATIONS.path(namespace, "windows"), body)


async def assignment(kube: Kube, host: str, namespace: str) -> Obj:
    return await kube.get(
        ASSIGNMENTS.path(names.host_namespace(host), names.assignment_name(namespace, "web-farm"))
    )


def report(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[Any]]:
    parser = argparse.ArgumentParser(prog="transom")
    register(parser.add_subparsers(dest="command", required=True), None)
    args = parser.parse_args(["audit", "report", *argv, "--format", "json"])
    code: int = args.func(args)
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures("flux")
async def test_signed_commits_roll_out_unsigned_are_refused_and_the_report_names_who(
    git_server: GitServer,
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = SigningKey.create(fleet.root / "gnupg", "Alice Signer <alice@example.test>")
    try:
        await _scenario(git_server, kube, namespace, fleet, key=key, capsys=capsys)
    finally:
        key.close()


async def _scenario(
    git_server: GitServer,
    kube: Kube,
    namespace: str,
    fleet: Fleet,
    *,
    key: SigningKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await fleet.enroll(2)
    relaxed, strict = fleet.hosts
    fleet.start(relaxed)
    fleet.start(
        strict,
        HostPolicy(
            path_roots=(str(fleet.root / "hosts"),),
            allow_scripts=True,
            require_verified_source=True,
        ),
    )
    repo = git_server.create_repository(namespace)
    conf = web_farm(fleet, namespace)
    files = {"windows/web-farm.yaml": manifest(conf)}

    # 1. A signed commit rolls out to both hosts, the strict one included.
    c1 = repo.commit(files, "v1", signing_key=key, author="Ann Author <ann@example.test>")
    await sync(kube, namespace, repo, key)
    await wait_for(
        kube, KUSTOMIZATIONS, namespace, "windows", applied_at(repo.revision(c1)), timeout=120
    )
    for host in fleet.hosts:
        await eventually(
            lambda h=host: assignment_ready(kube, h, (namespace, "web-farm"), 1), timeout=60
        )
    p = (await assignment(kube, strict, namespace))["spec"]["source"]["provenance"]
    assert p["commit"] == c1 and p["author"] == "Ann Author <ann@example.test>"
    assert p["signingKey"] == key.fingerprint and p["verifiedKey"] == key.key_id
    assert p["verification"] == "Verified" and p["verificationMode"] == "HEAD"
    assert p["writer"] == "kustomize-controller" and p["fluxApplied"] is True
    assert p["gitRepository"] == f"{namespace}/fleet"

    # 2. Another author's change, signed with the trusted key: the signer and author differ;
    # a CI job asks Flux to reconcile (`flux reconcile` sets the annotation).
    requested = "2026-11-03T09:00:00.000000000Z"
    await kube.patch(
        KUSTOMIZATIONS.path(namespace, "windows"),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": requested}}},
        "merge",
    )
    conf["spec"]["resources"][1]["file"]["content"] = "<h1>v2 $(host.name)</h1>\n"
    c2 = repo.commit(
        {"windows/web-farm.yaml": manifest(conf)},
        "v2",
        signing_key=key,
        author="Bob Builder <bob@example.test>",
    )
    await wait_for(
        kube, KUSTOMIZATIONS, namespace, "windows", applied_at(repo.revision(c2)), timeout=120
    )
    for host in fleet.hosts:
        await eventually(
            lambda h=host: assignment_ready(kube, h, (namespace, "web-farm"), 2), timeout=60
        )
    index = {h: fleet.path(h, "site", "index.html") for h in fleet.hosts}
    assert index[strict].read_text() == f"<h1>v2 {strict}</h1>\n"
    p = (await assignment(kube, strict, namespace))["spec"]["source"]["provenance"]
    assert (p["commit"], p["author"], p["requestedAt"]) == (
        c2,
        "Bob Builder <bob@example.test>",
        requested,
    )

    # 3. An unsigned commit: source-controller refuses it, nothing reaches a host.
    conf["spec"]["resources"][1]["file"]["content"] = "<h1>unsigned</h1>\n"
    c3 = repo.commit({"windows/web-farm.yaml": manifest(conf)}, "v3 unsigned")

    def refused(obj: Obj) -> bool:
        sv = condition(obj, "SourceVerified") or {}
        return sv.get("status") == "False" and c3 in sv.get("message", "")

    source = await wait_for(kube, GIT_REPOSITORIES, namespace, "fleet", refused, timeout=60)
    flux_says = (condition(source, "SourceVerified") or {})["message"]
    assert "signature verification of commit" in flux_says
    await asyncio.sleep(4)  # several source intervals: nothing moves
    c = await kube.get(CONFIGURATIONS.path(namespace, "web-farm"))
    assert c["metadata"]["generation"] == 2
    assert (await kube.get(KUSTOMIZATIONS.path(namespace, "windows")))["status"][
        "lastAppliedRevision"
    ] == repo.revision(c2)
    assert all(f.read_text().startswith("<h1>v2") for f in index.values())
    shown = "\n".join(t.render() for t in await trace(kube, relaxed))
    assert "Source verify:  False" in shown or "Source verify: False" in shown, shown
    assert c3 in shown and "Authorized:" in shown

    # 4. Drift on a host is corrected back to the committed state.
    index[relaxed].write_text("defaced")
    await eventually(lambda: _is(index[relaxed], f"<h1>v2 {relaxed}</h1>\n"), timeout=20)

    # 5. An out-of-Git edit (Flux suspended, then kubectl edit): the relaxed host applies it
    # and its record names the editor; the strict host refuses it and changes nothing.
    suspended = await kube.patch(
        KUSTOMIZATIONS.path(namespace, "windows"), {"spec": {"suspend": True}}, "merge"
    )
    # A reconcile that began before the suspension would apply Git's content over the edit
    # (a whole run saw it: generation 4, never 3). Reconciles of one object run one at a
    # time, and the first to see the suspension records its generation as observed.
    await wait_for(
        kube,
        KUSTOMIZATIONS,
        namespace,
        "windows",
        lambda k: (
            (k.get("status") or {}).get("observedGeneration") == suspended["metadata"]["generation"]
        ),
        timeout=30,
    )
    hotfix_file = {**conf["spec"]["resources"][1]["file"], "content": "<h1>hotfix</h1>\n"}
    edited = {
        "spec": {
            "resources": [
                conf["spec"]["resources"][0],
                {**conf["spec"]["resources"][1], "file": hotfix_file},
            ]
        }
    }
    # What `kubectl edit` sends: a merge patch under its own field manager.
    await kube.request(
        "PATCH",
        CONFIGURATIONS.path(namespace, "web-farm"),
        body=edited,
        params={"fieldManager": "kubectl-edit"},
        content_type="application/merge-patch+json",
    )
    await eventually(
        lambda: assignment_ready(kube, relaxed, (namespace, "web-farm"), 3), timeout=60
    )
    assert index[relaxed].read_text() == "<h1>hotfix</h1>\n"

    async def strict_refused() -> Obj | None:
        a = await assignment(kube, strict, namespace)
        stalled = condition(a, "Stalled") or {}
        return a if stalled.get("reason") == UNVERIFIED_SOURCE else None

    a = await eventually(strict_refused, timeout=60)
    stalled = next(x for x in a["status"]["conditions"] if x["type"] == "Stalled")
    assert "kubectl-edit" in stalled["message"] and "requireVerifiedSource" in stalled["message"]
    assert index[strict].read_text() == f"<h1>v2 {strict}</h1>\n"

    # 6. The report over the run: each change with its commit and identity.
    await asyncio.sleep(1)
    for host in list(fleet.tasks):
        await fleet.stop(host)  # the logs are final
    state = fleet.root / "state"
    code, rows = report(["--log", str(state)], capsys)
    assert code == 0
    index_rows = [r for r in rows if r["resource"] == "index"]
    by_host = {
        h: [(r["action"], r["generation"], r["commit"]) for r in index_rows if r["host"] == h]
        for h in fleet.hosts
    }
    assert by_host[strict] == [("set", 1, c1), ("set", 2, c2)]
    assert by_host[relaxed] == [
        ("set", 1, c1),
        ("set", 2, c2),
        ("drift-corrected", 2, c2),
        ("set", 3, c2),
    ]
    first, second, corrected, hotfix = [r for r in index_rows if r["host"] == relaxed]
    assert (first["author"], first["signing_key"], first["authorization"]) == (
        "Ann Author <ann@example.test>",
        key.fingerprint,
        "verified-commit",
    )
    assert (second["author"], second["signing_key"]) == (
        "Bob Builder <bob@example.test>",
        key.fingerprint,
    )
    assert corrected["authorization"] == "drift-corrected"
    assert (hotfix["authorization"], hotfix["writer"]) == ("out-of-git-edit", "kubectl-edit")
    assert not any(c3 in r["commit"] for r in rows)
    assert all(r["identity"] == f"transom:host:{r['host']}" for r in rows)

    code, checked = report(["--log", str(state), "--verify"], capsys)
    assert code == 0 and {r["check"] for r in checked} <= {"verified", "unwitnessed"}
    assert any(r["check"] == "verified" for r in checked)

    # 7. Someone rewrites the first change's author and re-chains the log: --verify says so.
    log_dir = state / relaxed / "audit"
    target = next(
        r for r in read_records(log_dir) if r.resource == "index" and r.action.value == "set"
    )
    lines = Lines(log_dir)
    prev = "0" * 64
    for i in range(len(lines.items)):
        record = lines.record(i)
        if record["seq"] == target.seq:
            record["provenance"] = {**record["provenance"], "author": "Mallory <m@example.test>"}
        record["prevHash"] = prev
        lines.set_record(i, record, rehash=True)
        prev = lines.record(i)["hash"]
    lines.save()
    code, checked = report(["--log", str(state), "--verify", "--host", relaxed], capsys)
    assert code == 1
    forged = next(r for r in checked if r["seq"] == target.seq)
    assert forged["author"] == "Mallory <m@example.test>" and forged["check"] == "failed"


async def _is(path: Path, text: str) -> bool:
    return path.read_text() == text
