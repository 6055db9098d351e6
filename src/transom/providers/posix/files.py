"""File and Directory on posix."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from typing import Any, ClassVar

from transom.api.resources import Ensure
from transom.api.resources.files import DirectoryProperties, FileProperties
from transom.engine.atomicfile import write_atomic
from transom.engine.provider import (
    Change,
    Context,
    Provider,
    ProviderError,
    SetOutcome,
    State,
    WatchTarget,
)
from transom.providers.posix.download import DigestCache, download
from transom.providers.posix.ownership import apply_fd, apply_path, modes_equal, observe

NEW_FILE_MODE = 0o644
NEW_DIRECTORY_MODE = 0o755
_ABSENT: State = {"ensure": Ensure.ABSENT.value}
_PERMISSIONS = {"mode", "owner", "group"}


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)  # noqa: PTH116 - follows a link to the file it names, on purpose
    except FileNotFoundError:
        return None


class FileProvider(Provider[FileProperties]):
    kind: ClassVar[str] = "File"

    def __init__(self) -> None:
        self._digests = DigestCache()

    def get(self, desired: FileProperties, ctx: Context) -> State:
        _no_acl(desired)
        st = _stat(desired.path)
        if st is None:
            return dict(_ABSENT)
        if not stat.S_ISREG(st.st_mode):
            raise ProviderError(f"{desired.path} exists and is not a regular file")
        state: State = {"ensure": Ensure.PRESENT.value, "path": desired.path}
        if desired.ensure is Ensure.ABSENT:
            return state
        if desired.content is not None:
            want = desired.content.encode()
            have = _read_if_size(desired.path, st, len(want))
            state["content"] = desired.content if have == want else _describe(have, st)
        elif desired.content_from is not None:
            ref = desired.content_from.secret_key_ref
            want = ctx.secrets.resolve(ref.name, ref.key)
            same = _read_if_size(desired.path, st, len(want)) == want
            # A differing secret file is never shown: only that it differs.
            state["contentFrom"] = _wire(desired.content_from) if same else None
        elif desired.source is not None:
            actual = self._digests.sha256(desired.path)
            state["source"] = (
                _wire(desired.source)
                if actual == desired.source.sha256
                else {"url": None, "sha256": actual}
            )
        observe(state, desired, st, ctx)
        return state

    def set(
        self, desired: FileProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        # Write through a link to the file it names, as an editor would, not over the link.
        path = os.path.realpath(desired.path)
        st = _stat(path)
        if st is None or set(changes) - _PERMISSIONS:
            self._write(desired, path, st, ctx)
        else:
            apply_path(path, desired, set(changes))
        return SetOutcome()

    def delete(self, desired: FileProperties, ctx: Context) -> SetOutcome:
        if os.path.lexists(desired.path):
            os.unlink(desired.path)  # noqa: PTH108 - str paths throughout providers
        return SetOutcome()

    def _write(
        self, desired: FileProperties, path: str, st: os.stat_result | None, ctx: Context
    ) -> None:
        def prepare(fd: int) -> None:
            apply_fd(fd, desired, NEW_FILE_MODE, st)

        if desired.source is not None:
            download(desired.source.url, desired.source.sha256, path, prepare)
            return
        if desired.content_from is not None:
            ref = desired.content_from.secret_key_ref
            data = ctx.secrets.resolve(ref.name, ref.key)
        else:
            data = (desired.content or "").encode()
        write_atomic(path, data, prepare, syncs=ctx.syncs)

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "mode":
            return modes_equal(desired, actual)
        return bool(desired == actual)

    def watch_targets(self, desired: FileProperties) -> list[WatchTarget]:
        return [WatchTarget("file", desired.path)]


class DirectoryProvider(Provider[DirectoryProperties]):
    kind: ClassVar[str] = "Directory"

    def get(self, desired: DirectoryProperties, ctx: Context) -> State:
        _no_acl(desired)
        st = _stat(desired.path)
        if st is None:
            return dict(_ABSENT)
        if not stat.S_ISDIR(st.st_mode):
            raise ProviderError(f"{desired.path} exists and is not a directory")
        state: State = {"ensure": Ensure.PRESENT.value, "path": desired.path}
        observe(state, desired, st, ctx)
        return state

    def set(
        self, desired: DirectoryProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        path = desired.path
        if "ensure" in changes:
            mode = int(desired.mode, 8) if desired.mode else NEW_DIRECTORY_MODE
            os.makedirs(path, mode=mode, exist_ok=True)  # noqa: PTH103 - str paths
            # makedirs' mode is filtered by the umask; the desired mode is exact.
            apply_path(path, desired, {p for p in _PERMISSIONS if getattr(desired, p)})
        else:
            apply_path(path, desired, set(changes))
        return SetOutcome()

    def delete(self, desired: DirectoryProperties, ctx: Context) -> SetOutcome:
        if desired.recurse_delete:
            shutil.rmtree(desired.path)
            return SetOutcome()
        try:
            os.rmdir(desired.path)  # noqa: PTH106 - str paths throughout providers
        except OSError as exc:
            raise ProviderError(
                f"{desired.path} is not empty; set recurseDelete to delete its contents"
            ) from exc
        return SetOutcome()

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "mode":
            return modes_equal(desired, actual)
        return bool(desired == actual)

    def watch_targets(self, desired: DirectoryProperties) -> list[WatchTarget]:
        return [WatchTarget("directory", desired.path)]


def _no_acl(desired: FileProperties | DirectoryProperties) -> None:
    # Ignoring an access rule would report a host as converged while it is not.
    if desired.acl:
        raise ProviderError("acl is Windows-only; on posix use mode, owner and group")


def _read_if_size(path: str, st: os.stat_result, size: int) -> bytes | None:
    """The file's bytes, or None when its size already shows it differs."""
    if st.st_size != size:
        return None
    with open(path, "rb") as f:  # noqa: PTH123 - str paths throughout providers
        return f.read()


def _describe(have: bytes | None, st: os.stat_result) -> str:
    if have is None or len(have) > 4096:
        return f"<{st.st_size} bytes that differ>"
    return have.decode("utf-8", "replace")


def _wire(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
