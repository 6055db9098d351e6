"""Archive: a zip kept extracted in a folder, compared by content (CRC-32 per entry).

Portable stdlib only (zipfile, hashlib, os), so the windows backend can use it as it is.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any, BinaryIO, ClassVar

from transom.api.conditions import CHECKSUM_MISMATCH
from transom.api.resources import Ensure
from transom.api.resources.archive import ArchiveProperties
from transom.engine.atomicfile import TEMP_PREFIX, atomic_writer
from transom.engine.provider import (
    Change,
    Context,
    Provider,
    ProviderError,
    SetOutcome,
    Setup,
    State,
    WatchTarget,
)
from transom.providers.posix.download import CHUNK, DigestCache, default_cache_dir, download

_REMOTE = ("http://", "https://")


class ArchiveProvider(Provider[ArchiveProperties]):
    kind: ClassVar[str] = "Archive"

    def __init__(self, cache_dir: str | Callable[[], str] | None = None) -> None:
        #: Downloaded archives, by sha256; shared across runs. A callable gives a directory
        #: created on first use (Windows: inside the protected staging directory).
        self._cache_dir = cache_dir or (lambda: os.path.join(default_cache_dir(), "archives"))  # noqa: PTH118
        self._digests = DigestCache()

    @classmethod
    def create(cls, setup: Setup) -> Provider[Any]:
        if setup.cache_dir is None and setup.facade is not None:
            # Windows: downloads go to the facade's protected staging directory, created
            # when the first one comes.
            facade = setup.facade
            return cls(lambda: os.path.join(facade.staging_dir(), "archives"))  # noqa: PTH118
        return cls(setup.cache_dir)

    @property
    def cache_dir(self) -> str:
        return self._cache_dir if isinstance(self._cache_dir, str) else self._cache_dir()

    def get(self, desired: ArchiveProperties, ctx: Context) -> State:
        if not os.path.isdir(desired.path):  # noqa: PTH112
            if os.path.lexists(desired.path):
                raise ProviderError(f"{desired.path} exists and is not a directory")
            return {"ensure": Ensure.ABSENT.value}
        state: State = {"ensure": Ensure.PRESENT.value, "path": desired.path}
        if desired.ensure is Ensure.ABSENT:
            return state
        assert desired.sha256 is not None  # the model requires it with ensure: present
        with self._archive(desired, fetch=False) as archive:
            if archive is None:
                # Not downloaded yet: nothing in the folder can be known to match it.
                state["sha256"] = "<archive not downloaded yet>"
                return state
            zf = zipfile.ZipFile(archive)
            stale = _stale_entries(zf, desired.path)
            extra = _extra_files(zf, desired.path) if desired.clean else []
        differs = [f"{len(stale)} files differ"] if stale else []
        differs += [f"{len(extra)} extra files"] if extra else []
        state["sha256"] = f"<{', '.join(differs)}>" if differs else desired.sha256
        return state

    def set(
        self, desired: ArchiveProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        os.makedirs(desired.path, exist_ok=True)  # noqa: PTH103
        with self._archive(desired, fetch=True) as archive:
            assert archive is not None  # fetch=True downloads or raises
            zf = zipfile.ZipFile(archive)
            for info in _stale_entries(zf, desired.path):
                _extract(zf, info, desired.path)
            if desired.clean:
                for extra in _extra_files(zf, desired.path):
                    os.unlink(extra)  # noqa: PTH108
        return SetOutcome()

    def delete(self, desired: ArchiveProperties, ctx: Context) -> SetOutcome:
        shutil.rmtree(desired.path)
        return SetOutcome()

    def watch_targets(self, desired: ArchiveProperties) -> list[WatchTarget]:
        return [WatchTarget("tree", desired.path)]

    @contextmanager
    def _archive(self, desired: ArchiveProperties, fetch: bool) -> Iterator[BinaryIO | None]:
        """The zip, open and checked against its sha256 through that handle (what is
        extracted is what was checked); None if it is remote, not yet downloaded, and
        ``fetch`` is false."""
        assert desired.source is not None and desired.sha256 is not None
        path = desired.source
        if desired.source.startswith(_REMOTE):
            cache = self.cache_dir
            path = os.path.join(cache, f"{desired.sha256}.zip")  # noqa: PTH118
            if not os.path.exists(path):  # noqa: PTH110
                if not fetch:
                    yield None
                    return
                os.makedirs(cache, mode=0o700, exist_ok=True)  # noqa: PTH103
                download(desired.source, desired.sha256, path)
        # Cached downloads are checked too: the cache is only a place, not a proof.
        try:
            handle = self._digests.open_verified(path, desired.sha256)
        except ProviderError as exc:
            raise ProviderError(f"archive {exc}", reason=CHECKSUM_MISMATCH) from exc
        with handle:
            yield handle


def _target(root: str, name: str) -> str:
    """Where an entry lands; entries that would land outside the folder (zip slip) fail."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        raise ProviderError(f"archive entry {name!r} points outside the folder")
    return os.path.join(root, *parts)  # noqa: PTH118


def _stale_entries(zf: zipfile.ZipFile, root: str) -> list[zipfile.ZipInfo]:
    stale = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        path = _target(root, info.filename)
        try:
            st = os.stat(path)  # noqa: PTH116
        except FileNotFoundError:
            stale.append(info)
            continue
        if st.st_size != info.file_size or _crc32(path) != info.CRC:
            stale.append(info)
    return stale


def _extra_files(
    zf: zipfile.ZipFile, root: str, normcase: Callable[[str], str] = os.path.normcase
) -> list[str]:
    """Files under ``root`` the archive does not have. Names compare as the file system
    does: on NTFS (``normcase``: ntpath's) Bin\\App.dll is bin\\app.dll, not an extra file."""
    wanted = {normcase(_target(root, i.filename)) for i in zf.infolist() if not i.is_dir()}
    return [
        os.path.join(d, f)  # noqa: PTH118
        for d, _, files in os.walk(root)
        for f in files
        if normcase(os.path.join(d, f)) not in wanted and not f.startswith(TEMP_PREFIX)  # noqa: PTH118
    ]


def _crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:  # noqa: PTH123
        while chunk := f.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: str) -> None:
    path = _target(root, info.filename)
    os.makedirs(os.path.dirname(path), exist_ok=True)  # noqa: PTH103, PTH120
    unix_mode = stat.S_IMODE(info.external_attr >> 16)

    def prepare(fd: int) -> None:
        if unix_mode and os.name == "posix":
            os.fchmod(fd, unix_mode)

    with zf.open(info) as src, atomic_writer(path, prepare) as out:
        shutil.copyfileobj(src, out, CHUNK)
