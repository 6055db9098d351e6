"""Host-local policy: what the host's admin lets the cluster do to this host.

The file belongs to the host, not the cluster, so nothing in a Configuration can widen it. A
resource outside it fails before its provider is called, so the OS is not touched. Paths are
checked twice: lexically after normalising ``..``, and after resolving symlinks (and Windows
junctions), so neither a traversal nor a link can lead out of an allowed root.
"""

from __future__ import annotations

import json
import ntpath
import os
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from transom.api.errors import FieldError, SpecError, from_pydantic, parse_problem
from transom.api.resources import ResourceProperties

DENIED_PREFIX = "denied by host policy: "
_VIEW_SUFFIX = re.compile(r"@(32|64)$")
_WINDOWS_PATH = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")
_HIVES = {
    "HKEY_LOCAL_MACHINE": "HKLM",
    "HKEY_CURRENT_USER": "HKCU",
    "HKEY_CLASSES_ROOT": "HKCR",
    "HKEY_USERS": "HKU",
    "HKEY_CURRENT_CONFIG": "HKCC",
}


class HostPolicy(BaseModel):
    """The policy file's shape (YAML or JSON). An omitted list allows everything of its kind;
    scripts are off unless the file turns them on. An agent without a policy file runs with
    the narrowest policy instead (``agent_policy``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    allowed_types: tuple[str, ...] | None = Field(
        default=None, alias="allowedTypes", description="Resource types allowed, e.g. File."
    )
    path_roots: tuple[str, ...] | None = Field(
        default=None, alias="pathRoots", description="Folders under which paths may be managed."
    )
    registry_roots: tuple[str, ...] | None = Field(
        default=None,
        alias="registryRoots",
        description=r"Registry keys under which values may be managed, e.g. HKLM\SOFTWARE\Contoso.",
    )
    allow_scripts: bool = Field(
        default=False, alias="allowScripts", description="Whether types that run code may run."
    )
    require_verified_source: bool = Field(
        default=False,
        alias="requireVerifiedSource",
        description="Refuse a generation unless Flux verified its commit's signature and "
        "Flux's kustomize-controller alone wrote the Configuration (its provenance says so).",
    )

    def denial(self, props: ResourceProperties, touches: Sequence[str] | None = None) -> str | None:
        """Why the policy denies this resource, prefixed 'denied by host policy: '; None if
        allowed. ``touches`` (default: the resource's own) lists the host objects to check."""
        reason = self._why_denied(props, props.touches() if touches is None else touches)
        return None if reason is None else DENIED_PREFIX + reason

    def _why_denied(self, props: ResourceProperties, touches: Sequence[str]) -> str | None:
        if self.allowed_types is not None and props.kind not in self.allowed_types:
            allowed = ", ".join(self.allowed_types) or "none"
            return f"resource type {props.kind} is not allowed (allowed: {allowed})"
        if props.runs_code and not self.allow_scripts:
            return f"resource type {props.kind} runs code and scripts are off on this host"
        for target in touches:
            scheme, _, value = target.partition(":")
            if scheme == "path" and self.path_roots is not None:
                why = path_outside(value, self.path_roots)
                if why:
                    return why
            if scheme == "registry" and self.registry_roots is not None:
                why = registry_outside(value, self.registry_roots)
                if why:
                    return why
        return None


#: ``transom apply``: the engine is being run by the host's admin directly, not the cluster.
PERMISSIVE = HostPolicy(allow_scripts=True)


def agent_policy(policy: HostPolicy | None, roots: Sequence[str]) -> HostPolicy:
    """What the cluster may do to this host: the policy file narrowed to ``roots`` when
    given. Without a file, the narrowest policy: no types that run code, paths only under
    ``roots`` (none when none are given) and no registry keys; a policy file widens it."""
    if policy is None:
        return HostPolicy(path_roots=tuple(roots), registry_roots=(), allow_scripts=False)
    if not roots:
        return policy
    if policy.path_roots is not None:
        wider = [r for r in roots if path_outside(r, policy.path_roots) is not None]
        if wider:
            allowed = ", ".join(policy.path_roots) or "none"
            raise SpecError(
                [
                    FieldError(
                        "--root",
                        f"{', '.join(wider)} is outside the policy file's pathRoots "
                        f"({allowed}); a root may only narrow them",
                    )
                ]
            )
    return policy.model_copy(update={"path_roots": tuple(roots)})


def load_policy(path: Path) -> HostPolicy:
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return HostPolicy.model_validate(raw or {})
    except ValidationError as exc:
        raise SpecError(from_pydantic(str(path), exc)) from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SpecError(
            [FieldError(str(path), f"not valid YAML or JSON: {parse_problem(exc)}")]
        ) from None


def _is_windows(path: str) -> bool:
    return bool(_WINDOWS_PATH.match(path))


def _lexically_within(path: str, root: str, windows: bool) -> bool:
    flavor = ntpath if windows else posixpath
    path, root = flavor.normpath(path), flavor.normpath(root)
    if windows:
        path, root = path.lower(), root.lower()
    sep = "\\" if windows else "/"
    return path == root or path.startswith(root.rstrip(sep) + sep)


def path_outside(path: str, roots: Sequence[str]) -> str | None:
    """Why ``path`` is not under any of ``roots`` (None when it is)."""
    windows = _is_windows(path)
    flavor = ntpath if windows else posixpath
    allowed = ", ".join(roots) or "none"
    if not flavor.isabs(path) or (not windows and path.startswith("\\")):
        return f"path {path} is not absolute"
    same_flavor = [r for r in roots if _is_windows(r) == windows]
    if not any(_lexically_within(path, r, windows) for r in same_flavor):
        return f"path {path} is outside the allowed roots ({allowed})"
    # Links are resolved only for paths of this host's own kind; the OS cannot resolve others.
    if windows == (os.name == "nt"):
        real = os.path.realpath(path)
        if not any(_lexically_within(real, os.path.realpath(r), windows) for r in same_flavor):
            return f"path {path} resolves to {real}, outside the allowed roots ({allowed})"
    return None


def _registry_key(key: str) -> list[str]:
    # Identities carry the registry view as a suffix of the key ("HKLM\\Software\\X@64\\v"); the
    # view does not change which key a root covers.
    parts = [_VIEW_SUFFIX.sub("", p) for p in key.replace("/", "\\").split("\\") if p]
    if parts:
        hive = parts[0].upper().rstrip(":")
        parts[0] = _HIVES.get(hive, hive)
    return [p.lower() for p in parts]


def registry_outside(key: str, roots: Sequence[str]) -> str | None:
    parts = _registry_key(key)
    if any(p in (".", "..") for p in parts):
        return f"registry key {key} contains a relative component"
    for root in roots:
        root_parts = _registry_key(root)
        if parts[: len(root_parts)] == root_parts:
            return None
    return f"registry key {key} is outside the allowed roots ({', '.join(roots) or 'none'})"
