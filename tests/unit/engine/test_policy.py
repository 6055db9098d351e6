"""Host policy: a denied resource fails with DeniedByHostPolicy and the OS is not touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from transom.api.conditions import DENIED_BY_HOST_POLICY, DEPENDENCY_NOT_READY
from transom.api.errors import SpecError
from transom.api.resources import parse_resource
from transom.engine.converge import Engine
from transom.engine.policy import HostPolicy, load_policy, path_outside, registry_outside
from transom.engine.result import Status

from .helpers import MemoryFiles, directory, doc, file, posix_engine


def _policy(root: Path, **kw: object) -> HostPolicy:
    return HostPolicy.model_validate({"pathRoots": [str(root / "allowed")], **kw})


def test_denied_resource_fails_without_touching_the_os_and_dependents_skip(tmp_path: Path) -> None:
    (tmp_path / "allowed").mkdir()
    outside = tmp_path / "elsewhere.conf"
    resources = doc(
        file("outside", outside),
        file("after", tmp_path / "allowed" / "after", dependsOn=["outside"]),
        file("inside", tmp_path / "allowed" / "inside"),
    )
    report = posix_engine(_policy(tmp_path)).apply(resources)
    denied, after, inside = report.results
    assert denied.status is Status.DENIED and denied.reason == DENIED_BY_HOST_POLICY
    assert denied.message.startswith("denied by host policy: path ")
    assert "outside the allowed roots" in denied.message
    assert not outside.exists()
    assert after.skipped and after.reason == DEPENDENCY_NOT_READY
    assert after.message == "skipped: dependency 'outside' was denied by host policy"
    assert inside.changed and (tmp_path / "allowed" / "inside").exists()


def test_denied_resource_is_never_passed_to_its_provider() -> None:
    provider = MemoryFiles()
    policy = HostPolicy.model_validate({"pathRoots": ["/srv"]})
    report = Engine({"File": provider}, policy=policy).apply(doc(file("f", "/etc/passwd")))
    assert report.results[0].status is Status.DENIED
    assert provider.gets == provider.sets == 0


def test_dot_dot_traversal_is_caught(tmp_path: Path) -> None:
    (tmp_path / "allowed").mkdir()
    sneaky = f"{tmp_path}/allowed/../escaped.conf"
    report = posix_engine(_policy(tmp_path)).apply(doc(file("f", sneaky)))
    assert report.results[0].status is Status.DENIED
    assert not (tmp_path / "escaped.conf").exists()


@pytest.mark.posix_only("posix symlinks (Windows needs SeCreateSymbolicLinkPrivilege)")
def test_symlink_out_of_an_allowed_root_is_caught(tmp_path: Path) -> None:
    (tmp_path / "allowed").mkdir()
    (tmp_path / "secret-place").mkdir()
    (tmp_path / "allowed" / "link").symlink_to(tmp_path / "secret-place")
    report = posix_engine(_policy(tmp_path)).apply(
        doc(file("f", tmp_path / "allowed" / "link" / "x.conf"))
    )
    assert report.results[0].status is Status.DENIED
    assert "resolves to" in report.results[0].message
    assert not (tmp_path / "secret-place" / "x.conf").exists()


@pytest.mark.posix_only("posix symlinks (Windows needs SeCreateSymbolicLinkPrivilege)")
def test_symlinked_file_out_of_root_is_caught(tmp_path: Path) -> None:
    (tmp_path / "allowed").mkdir()
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "allowed" / "f").symlink_to(target)
    report = posix_engine(_policy(tmp_path)).apply(doc(file("f", tmp_path / "allowed" / "f")))
    assert report.results[0].status is Status.DENIED
    assert target.read_text() == "keep"


def test_prefix_of_a_root_name_is_not_inside_it(tmp_path: Path) -> None:
    assert path_outside(f"{tmp_path}/allowed-not/x", [f"{tmp_path}/allowed"]) is not None
    assert path_outside(f"{tmp_path}/allowed/x", [f"{tmp_path}/allowed/"]) is None
    assert path_outside("relative/x", ["/"]) == "path relative/x is not absolute"


def test_windows_paths_compare_case_insensitively_and_catch_traversal() -> None:
    roots = [r"C:\inetpub"]
    assert path_outside(r"c:\INETPUB\web\web.config", roots) is None
    assert path_outside(r"C:\inetpub\..\Windows\win.ini", roots) is not None
    assert path_outside(r"C:\inetpubx\a", roots) is not None
    assert path_outside("/srv/x", roots) is not None


def test_registry_roots_ignore_hive_spelling_case_and_view() -> None:
    roots = [r"HKEY_LOCAL_MACHINE\SOFTWARE\Contoso"]
    assert registry_outside(r"HKLM\software\contoso\app@64\Level", roots) is None
    assert registry_outside(r"HKLM\software\contoso@32", roots) is None
    assert registry_outside(r"HKLM\SOFTWARE\Microsoft@64", roots) is not None
    assert registry_outside(r"HKLM\SOFTWARE\Contoso\..\Microsoft@64", roots) is not None


def test_types_and_scripts() -> None:
    command = parse_resource({"name": "c", "command": {"test": "true", "set": "true"}}, "r")
    f = parse_resource(file("f", "/srv/f"), "r")
    off = HostPolicy()
    assert off.denial(command.properties) == (
        "denied by host policy: resource type Command runs code and scripts are off on this host"
    )
    assert off.denial(f.properties) is None
    assert HostPolicy(allow_scripts=True).denial(command.properties) is None
    only_dirs = HostPolicy.model_validate({"allowedTypes": ["Directory"]})
    assert "resource type File is not allowed" in str(only_dirs.denial(f.properties))


def test_archive_source_path_is_checked_too(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    archive = parse_resource(
        {
            "name": "a",
            "archive": {
                "path": str(tmp_path / "allowed" / "app"),
                "source": "/etc/shadow",
                "sha256": "0" * 64,
            },
        },
        "r",
    )
    assert "path /etc/shadow" in str(policy.denial(archive.properties))


def test_policy_file_loads_and_rejects_unknown_fields(tmp_path: Path) -> None:
    good = tmp_path / "policy.yaml"
    good.write_text("allowedTypes: [File]\npathRoots: [/srv]\nallowScripts: true\n")
    policy = load_policy(good)
    assert policy.allowed_types == ("File",) and policy.allow_scripts
    bad = tmp_path / "bad.json"
    bad.write_text('{"pathRoot": ["/srv"]}')
    with pytest.raises(SpecError, match="pathRoot: unknown field"):
        load_policy(bad)


def test_directory_in_allowed_root_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "allowed").mkdir()
    report = posix_engine(_policy(tmp_path)).apply(doc(directory("d", tmp_path / "allowed" / "d")))
    assert report.results[0].status is Status.CHANGED


def test_default_environment_file_is_checked_against_path_roots(tmp_path: Path) -> None:
    policy = HostPolicy.model_validate({"pathRoots": [str(tmp_path)]})
    default = doc({"name": "e", "environmentVariable": {"name": "A", "value": "1"}})
    report = posix_engine(policy).apply(default, what_if=True)
    assert report.results[0].status is Status.DENIED
    assert "path /etc/environment" in report.results[0].message
    inside = doc(
        {
            "name": "e",
            "environmentVariable": {"name": "A", "value": "1", "file": str(tmp_path / "env")},
        }
    )
    assert posix_engine(policy).apply(inside).in_desired_state
