from __future__ import annotations

import sys
from pathlib import Path

import pytest

from transom.agent.service import platform_backend
from transom.api.errors import SpecError
from transom.api.resources import parse_resources
from transom.engine.converge import Engine
from transom.engine.policy import HostPolicy, agent_policy
from transom.engine.result import Status
from transom.providers.posix import posix_providers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux backend")
def test_linux_backend_has_posix_providers_and_inotify(tmp_path: Path) -> None:
    backend = platform_backend(tmp_path)
    assert {"File", "Directory", "Archive", "EnvironmentVariable", "Command"} <= set(
        backend.providers
    )
    notifier = backend.notifier_factory()
    assert type(notifier).__name__ == "InotifyNotifier"
    assert notifier is not None
    notifier.close()


def test_no_policy_file_means_no_scripts_and_only_the_roots_given(tmp_path: Path) -> None:
    """`transom agent run --root DIR` without `--policy`: secure by default."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    engine = Engine(
        posix_providers(str(tmp_path / "cache")), policy=agent_policy(None, [str(root)])
    )
    resources = parse_resources(
        [
            {"name": "inside", "file": {"path": str(root / "a"), "content": "x"}},
            {"name": "outside", "file": {"path": str(outside / "a"), "content": "x"}},
            {
                "name": "script",
                "command": {
                    "test": "false",
                    "set": f"touch {outside}",
                    "workingDirectory": str(root),
                },
            },
        ]
    )
    report = engine.apply(resources)
    by_name = {o.name: o for o in report.results}
    assert by_name["inside"].in_desired_state
    assert by_name["outside"].status is Status.DENIED
    assert by_name["script"].status is Status.DENIED
    assert "scripts are off" in by_name["script"].message
    assert not outside.exists()


def test_no_policy_file_and_no_roots_manages_no_paths(tmp_path: Path) -> None:
    policy = agent_policy(None, [])
    engine = Engine(posix_providers(str(tmp_path / "cache")), policy=policy)
    report = engine.apply(
        parse_resources([{"name": "f", "file": {"path": str(tmp_path / "a"), "content": "x"}}])
    )
    assert report.results[0].status is Status.DENIED
    assert not (tmp_path / "a").exists()


def test_roots_narrow_a_policy_file_but_never_widen_it(tmp_path: Path) -> None:
    given = HostPolicy(path_roots=("/srv",), allow_scripts=True)
    assert agent_policy(given, []) == given
    narrowed = agent_policy(given, ["/srv/app"])
    assert narrowed.path_roots == ("/srv/app",) and narrowed.allow_scripts
    with pytest.raises(SpecError, match=r"--root: /etc is outside the policy file's pathRoots"):
        agent_policy(given, ["/srv/app", "/etc"])
