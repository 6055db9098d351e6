"""Where `transom preview` reads the proposed Configurations: files, or a Git ref of the
repository the command runs in (a pull request's head, without checking it out)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from transom.cli.errors import CliError

YAML_SUFFIXES = (".yaml", ".yml")
GIT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Proposed:
    """One Configuration document: where it came from, its name, namespace and raw spec."""

    origin: str
    name: str
    namespace: str
    spec: dict[str, Any]


def from_files(paths: Iterable[Path]) -> list[Proposed]:
    out: list[Proposed] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{path}: {exc.strerror or exc}") from None
        out += parse(text, str(path))
    return out


def parse(text: str, origin: str) -> list[Proposed]:
    """The Configurations in a (multi-document) YAML text; other kinds are not previewed."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise CliError(f"{origin}: not valid YAML: {exc}") from None
    out = []
    for i, doc in enumerate(_flatten(docs)):
        if not isinstance(doc, dict) or doc.get("kind") != "Configuration":
            continue
        meta = doc.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            raise CliError(f"{origin}: document {i + 1}: a Configuration needs metadata.name")
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            raise CliError(f"{origin}: Configuration {name}: spec must be a mapping")
        namespace = meta.get("namespace") or ""
        out.append(Proposed(origin, name, str(namespace), spec))
    return out


def _flatten(docs: Iterable[Any]) -> Iterator[Any]:
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from doc.get("items") or []
        else:
            yield doc


def git_executable() -> str:
    """git by absolute path, resolved once: never a name for a shell to look up."""
    found = shutil.which("git")
    if found is None:
        raise CliError("--git-ref needs git, and it is not installed (not found on PATH)")
    return str(Path(found).resolve())


def _git(git: str, cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            [git, *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CliError(f"git {' '.join(args)} took longer than {GIT_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CliError(f"git {' '.join(args)}: {error[0] if error else 'failed'}")
    return done.stdout


def from_git(ref: str, directory: str, cwd: Path | None = None) -> list[Proposed]:
    """Every YAML file under ``directory`` (relative to the repository's top) at ``ref``."""
    if ref.startswith("-"):
        raise CliError(f"--git-ref {ref!r}: a ref cannot start with '-'")
    git = git_executable()
    here = (cwd or Path.cwd()).resolve()
    top = Path(_git(git, here, "rev-parse", "--show-toplevel").decode().strip())
    commit = _git(git, top, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    sha = commit.decode().strip()
    rel = PurePosixPath(directory.replace("\\", "/")).as_posix().strip("/") or "."
    if rel.startswith("../") or rel == "..":
        raise CliError(f"--path {directory}: must be inside the repository")
    listed = _git(git, top, "ls-tree", "-r", "-z", "--name-only", sha, "--", rel)
    files = sorted(p for p in listed.decode("utf-8").split("\0") if p.endswith(YAML_SUFFIXES))
    if not files:
        raise CliError(f"no YAML files under {rel} at {ref} ({sha[:12]})")
    out: list[Proposed] = []
    for path in files:
        text = _git(git, top, "cat-file", "blob", f"{sha}:{path}").decode("utf-8", "replace")
        out += parse(text, f"{ref}:{path}")
    return out
