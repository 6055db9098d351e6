"""The agent's preview path looks and never touches: what-if through look-only providers, the
host's policy applied, no audit observer, missing Secrets reported as a real run meets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from transom.agent.preview import LookOnly, PreviewWriteError, evaluate
from transom.agent.secrets import SecretCache
from transom.api.preview import HostPreview, host_verdict
from transom.api.preview import HostVerdict as V
from transom.engine.policy import HostPolicy
from transom.providers.posix import posix_providers

# The Windows providers behind the same path: tests/unit/windows/test_preview.py.
pytestmark = pytest.mark.posix_only("posix providers and paths")


def host_preview(resources: list[dict[str, Any]], pending: list[str] | None = None) -> HostPreview:
    return HostPreview.model_validate(
        {
            "metadata": {"name": "p", "namespace": "transom-host-web01", "generation": 1},
            "spec": {
                "host": "web01",
                "preview": {"namespace": "default", "name": "preview-x"},
                "configuration": {"namespace": "default", "name": "web"},
                "requestedBy": "alice",
                "expiresAt": "2999-01-01T00:00:00Z",
                "resources": resources,
                "pendingSecrets": pending or [],
            },
        }
    )


def test_a_preview_reports_the_change_and_makes_none(tmp_path: Path) -> None:
    target = tmp_path / "site" / "index.html"
    preview = host_preview(
        [
            {"name": "site", "directory": {"path": str(tmp_path / "site")}},
            {
                "name": "index",
                "dependsOn": ["site"],
                "file": {"path": str(target), "content": "hi"},
            },
        ]
    )
    policy = HostPolicy(path_roots=(str(tmp_path),))
    status = evaluate(preview, posix_providers(None), policy, SecretCache())
    assert host_verdict(status).verdict is V.CHANGES
    assert [(r.name, [c.property for c in r.changes]) for r in status.results] == [
        ("site", ["ensure"]),
        ("index", ["ensure"]),
    ]
    assert not (tmp_path / "site").exists()


def test_the_hosts_policy_denies_as_in_a_real_run(tmp_path: Path) -> None:
    preview = host_preview([{"name": "f", "file": {"path": "/etc/motd", "content": "x"}}])
    status = evaluate(
        preview, posix_providers(None), HostPolicy(path_roots=(str(tmp_path),)), SecretCache()
    )
    verdict = host_verdict(status)
    assert verdict.verdict is V.FAILS
    assert verdict.message.startswith("denied by host policy: f (File)")


def test_a_secret_missing_from_the_host_namespace_fails_one_pending_copy_would_change(
    tmp_path: Path,
) -> None:
    ref = {"secretKeyRef": {"name": "default.tls", "key": "key"}}
    resources = [{"name": "f", "file": {"path": str(tmp_path / "k"), "contentFrom": ref}}]
    policy = HostPolicy(path_roots=(str(tmp_path),))
    missing = evaluate(host_preview(resources), posix_providers(None), policy, SecretCache())
    assert host_verdict(missing).verdict is V.FAILS
    assert missing.results[0].reason == "SecretNotFound"
    pending = host_preview(resources, pending=["default.tls"])
    answered = evaluate(pending, posix_providers(None), policy, SecretCache())
    assert host_verdict(answered).verdict is V.CHANGES
    assert not (tmp_path / "k").exists()


def test_a_type_the_host_lacks_is_an_error_of_the_whole_preview(tmp_path: Path) -> None:
    preview = host_preview([{"name": "svc", "service": {"name": "w3svc"}}])
    status = evaluate(preview, posix_providers(None), HostPolicy(), SecretCache())
    assert host_verdict(status).verdict is V.FAILS
    assert "not supported on this host" in status.error


def test_look_only_providers_refuse_to_change_anything(tmp_path: Path) -> None:
    from transom.api.resources import parse_resources
    from transom.engine.provider import Context

    file = posix_providers(None)["File"]
    resource = parse_resources(
        [{"name": "f", "file": {"path": str(tmp_path / "f"), "content": "x"}}], "r"
    )[0]
    look = LookOnly(file)
    ctx = Context(secrets=SecretCache())
    assert look.get(resource.properties, ctx) == file.get(resource.properties, ctx)
    with pytest.raises(PreviewWriteError):
        look.set(resource.properties, {}, ctx)
    with pytest.raises(PreviewWriteError):
        look.delete(resource.properties, ctx)
    assert not (tmp_path / "f").exists()
