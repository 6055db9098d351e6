"""Documents and providers shared by the engine tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from transom.api.resources import Resource, parse_resources
from transom.api.resources.files import FileProperties
from transom.engine.converge import Engine
from transom.engine.policy import PERMISSIVE, HostPolicy
from transom.engine.provider import Change, Context, Provider, ProviderError, SetOutcome, State
from transom.providers.posix import posix_providers


def doc(*items: dict[str, Any]) -> list[Resource]:
    return parse_resources(list(items))


def file(name: str, path: Path | str, content: str = "x", **extra: Any) -> dict[str, Any]:
    deps = extra.pop("dependsOn", None)
    out: dict[str, Any] = {"name": name, "file": {"path": str(path), "content": content, **extra}}
    if deps:
        out["dependsOn"] = deps
    return out


def directory(name: str, path: Path | str, **extra: Any) -> dict[str, Any]:
    deps = extra.pop("dependsOn", None)
    out: dict[str, Any] = {"name": name, "directory": {"path": str(path), **extra}}
    if deps:
        out["dependsOn"] = deps
    return out


def posix_engine(policy: HostPolicy = PERMISSIVE, **kw: Any) -> Engine:
    return Engine(posix_providers(), policy=policy, **kw)


class Secrets:
    def __init__(self, values: Mapping[tuple[str, str], bytes]) -> None:
        self.values = dict(values)

    def resolve(self, name: str, key: str) -> bytes:
        try:
            return self.values[(name, key)]
        except KeyError:
            raise ProviderError(f"no secret {name}/{key}") from None


class MemoryFiles(Provider[FileProperties]):
    """File in memory: counts calls, so tests can see whether the OS would have been touched."""

    kind: ClassVar[str] = "File"

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.gets = 0
        self.sets = 0
        self.deletes = 0
        self.fail_on: set[str] = set()

    def get(self, desired: FileProperties, ctx: Context) -> State:
        self.gets += 1
        if desired.path in self.fail_on:
            raise ProviderError(f"cannot read {desired.path}")
        if desired.path not in self.files:
            return {"ensure": "absent"}
        return {"ensure": "present", "path": desired.path, "content": self.files[desired.path]}

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        self.sets += 1
        self.files[desired.path] = desired.content or ""
        return SetOutcome()

    def delete(self, desired: FileProperties, ctx: Context) -> SetOutcome:
        self.deletes += 1
        self.files.pop(desired.path, None)
        return SetOutcome()
