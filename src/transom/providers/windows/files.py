"""File and Directory on Windows: content written atomically, ACL entries ensured."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, cast

from transom.api import conditions as c
from transom.api.resources.files import AccessRule, DirectoryProperties, FileProperties
from transom.engine.atomicfile import retry_in_use
from transom.engine.provider import Change, Context, ProviderError, SetOutcome, State, WatchTarget
from transom.providers.windows import facade as f
from transom.providers.windows._common import (
    WindowsProvider,
    download,
    fold,
    os_call,
    present,
    same_path,
    unsupported,
)

_POSIX_ONLY = ("mode", "owner", "group")
#: Shown instead of content that differs from a secret's, so neither value reaches a diff.
CONTENT_DIFFERS = "<differs>"


def _ace_wire(ace: f.Ace) -> dict[str, str]:
    return {"identity": ace.identity, "rights": ace.rights, "type": ace.type}


def _acl_satisfied(desired: Any, actual: Any) -> bool:
    """ACL rules are ensured, not exclusive: every desired entry must be among the actual
    explicit entries (``_acl_state`` has already spelled matching accounts as desired)."""
    if not isinstance(desired, list) or not isinstance(actual, list):
        return bool(desired == actual)
    have = [fold(a) for a in actual]
    return all(fold({"type": "Allow", **d}) in have for d in desired)


def _key(sid: str, rights: str, kind: str) -> tuple[str, str, str]:
    return sid.upper(), rights, kind


def _desired_aces(os: f.WindowsFacade, rules: list[AccessRule]) -> list[f.Ace]:
    """The rules with their accounts resolved to SIDs: Windows names BUILTIN\\Administrators
    what a user writes Administrators, .\\admin or admin@contoso.com."""
    return [
        f.Ace(
            r.identity,
            cast(f.AccessRight, r.rights),
            "Deny" if r.type == "Deny" else "Allow",
            os.account_sid(r.identity),
        )
        for r in rules
    ]


def _acl_state(os: f.WindowsFacade, path: str, rules: list[AccessRule]) -> list[dict[str, str]]:
    """The explicit entries, each spelled as the rule that names the same SID (so an equal
    entry compares equal), the rest as Windows spells them."""
    spelled = {_key(a.sid, a.rights, a.type): a.identity for a in _desired_aces(os, rules)}
    return [
        {**_ace_wire(a), "identity": spelled.get(_key(a.sid, a.rights, a.type), a.identity)}
        for a in os.acl_get(path)
    ]


def _missing_aces(os: f.WindowsFacade, path: str, rules: list[AccessRule]) -> list[f.Ace]:
    have = {_key(a.sid, a.rights, a.type) for a in os.acl_get(path)}
    return [a for a in _desired_aces(os, rules) if _key(a.sid, a.rights, a.type) not in have]


def _parent(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[0]


class FileProvider(WindowsProvider[FileProperties]):
    kind = "File"

    def get(self, desired: FileProperties, ctx: Context) -> State:
        unsupported(desired.model_dump(), _POSIX_ONLY, "File")
        path = desired.path
        with os_call(f"read {path}"):
            kind = self.os.path_kind(path)
            if kind is None:
                return present(False)
            if kind != "file":
                raise ProviderError(f"{path} is a directory, not a file", c.INVALID_SPEC)
            state: State = {"ensure": "present"}
            if desired.content is not None or desired.content_from or desired.source:
                data = self.os.file_read(path)
                if desired.content is not None:
                    state["content"] = data.decode("utf-8", errors="replace")
                elif desired.content_from is not None:
                    want = ctx.secrets.resolve(
                        desired.content_from.secret_key_ref.name,
                        desired.content_from.secret_key_ref.key,
                    )
                    state["contentFrom"] = (
                        desired.content_from.model_dump(by_alias=True)
                        if data == want
                        else CONTENT_DIFFERS
                    )
                elif desired.source is not None:
                    state["source"] = {
                        "url": desired.source.url,
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }
            if desired.acl is not None:
                state["acl"] = _acl_state(self.os, path, desired.acl)
        return state

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "acl":
            return _acl_satisfied(desired, actual)
        if prop == "path":
            return same_path(desired, actual)
        return bool(desired == actual)

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        path = desired.path
        creating = "ensure" in changes
        content_changed = creating or bool({"content", "contentFrom", "source"} & set(changes))
        if content_changed:
            data = self._content(desired, ctx)
            with os_call(f"write {path}"):
                if self.os.path_kind(_parent(path)) is None:
                    raise ProviderError(
                        f"directory {_parent(path)} does not exist; add a "
                        "Directory resource and dependsOn it",
                        c.NOT_FOUND,
                    )
                # Antivirus and backup agents hold files open for moments at a time.
                retry_in_use(lambda: self.os.file_write_atomic(path, data))
        if desired.acl is not None and (creating or "acl" in changes):
            with os_call(f"set the ACL of {path}"):
                missing = _missing_aces(self.os, path, desired.acl)
                if missing:
                    self.os.acl_add(path, missing)
        return SetOutcome()

    def delete(self, desired: FileProperties, ctx: Context) -> SetOutcome:
        with os_call(f"delete {desired.path}"):
            retry_in_use(lambda: self.os.file_delete(desired.path))
        return SetOutcome()

    def watch_targets(self, desired: FileProperties) -> list[WatchTarget]:
        return [WatchTarget("file", desired.path)]

    @staticmethod
    def _content(desired: FileProperties, ctx: Context) -> bytes:
        if desired.content_from is not None:
            ref = desired.content_from.secret_key_ref
            return ctx.secrets.resolve(ref.name, ref.key)
        if desired.source is not None:
            return download(desired.source.url, desired.source.sha256)
        return (desired.content or "").encode("utf-8")


class DirectoryProvider(WindowsProvider[DirectoryProperties]):
    kind = "Directory"

    def get(self, desired: DirectoryProperties, ctx: Context) -> State:
        unsupported(desired.model_dump(), _POSIX_ONLY, "Directory")
        path = desired.path
        with os_call(f"read {path}"):
            kind = self.os.path_kind(path)
            if kind is None:
                return present(False)
            if kind != "directory":
                raise ProviderError(f"{path} is a file, not a directory", c.INVALID_SPEC)
            state: State = {"ensure": "present"}
            if desired.acl is not None:
                state["acl"] = _acl_state(self.os, path, desired.acl)
        return state

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "acl":
            return _acl_satisfied(desired, actual)
        return bool(desired == actual)

    def set(
        self, desired: DirectoryProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        path = desired.path
        with os_call(f"create {path}"):
            if "ensure" in changes:
                self.os.dir_create(path)
            if desired.acl is not None:
                missing = _missing_aces(self.os, path, desired.acl)
                if missing:
                    self.os.acl_add(path, missing)
        return SetOutcome()

    def delete(self, desired: DirectoryProperties, ctx: Context) -> SetOutcome:
        with os_call(f"remove {desired.path}"):
            self.os.dir_remove(desired.path, recursive=desired.recurse_delete)
        return SetOutcome()

    def watch_targets(self, desired: DirectoryProperties) -> list[WatchTarget]:
        return [WatchTarget("directory", desired.path)]
