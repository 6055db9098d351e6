"""Reading proposed Configurations from files and from a Git ref of the current repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from transom.cli.errors import CliError
from transom.cli.preview_source import from_files, from_git, parse

CONF = """\
apiVersion: transom.dev/v1alpha1
kind: Configuration
metadata: {{name: {name}, namespace: prod}}
spec:
  hostSelector: {{matchLabels: {{role: web}}}}
  resources:
    - name: motd
      file: {{path: /etc/motd, content: "{content}"}}
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.invalid")
    git(tmp_path, "config", "user.name", "t")
    d = tmp_path / "clusters" / "prod"
    d.mkdir(parents=True)
    (d / "web.yaml").write_text(CONF.format(name="web", content="v1"))
    (d / "kustomization.yaml").write_text("kind: Kustomization\nresources: [web.yaml]\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "v1")
    git(tmp_path, "checkout", "-qb", "pr-42")
    (d / "web.yaml").write_text(CONF.format(name="web", content="v2"))
    (d / "db.yml").write_text(CONF.format(name="db", content="v2"))
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "v2")
    git(tmp_path, "checkout", "-q", "main")
    return tmp_path


def test_reads_a_ref_without_checking_it_out(repo: Path) -> None:
    proposed = from_git("pr-42", "clusters/prod", cwd=repo / "clusters")
    assert sorted(p.name for p in proposed) == ["db", "web"]
    web = next(p for p in proposed if p.name == "web")
    assert web.namespace == "prod"
    assert web.origin == "pr-42:clusters/prod/web.yaml"
    assert web.spec["resources"][0]["file"]["content"] == "v2"
    # The work tree is untouched: still main's v1.
    assert "v1" in (repo / "clusters" / "prod" / "web.yaml").read_text()


def test_a_ref_or_path_that_is_not_there_is_named(repo: Path) -> None:
    with pytest.raises(CliError, match="no-such-ref"):
        from_git("no-such-ref", "clusters/prod", cwd=repo)
    with pytest.raises(CliError, match="no YAML files under clusters/none"):
        from_git("pr-42", "clusters/none", cwd=repo)
    with pytest.raises(CliError, match="cannot start with '-'"):
        from_git("--output=/tmp/x", "clusters/prod", cwd=repo)
    with pytest.raises(CliError, match="inside the repository"):
        from_git("pr-42", "../elsewhere", cwd=repo)


def test_files_keep_only_configurations(tmp_path: Path) -> None:
    f = tmp_path / "all.yaml"
    f.write_text(CONF.format(name="a", content="x") + "---\nkind: Secret\n---\n")
    assert [p.name for p in from_files([f])] == ["a"]


def test_a_configuration_without_a_name_or_spec_is_refused() -> None:
    with pytest.raises(CliError, match=r"needs metadata\.name"):
        parse("kind: Configuration\nspec: {}\n", "f.yaml")
    with pytest.raises(CliError, match="spec must be a mapping"):
        parse("kind: Configuration\nmetadata: {name: a}\nspec: 3\n", "f.yaml")
    with pytest.raises(CliError, match="not valid YAML"):
        parse("a: [", "f.yaml")
