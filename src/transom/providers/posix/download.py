"""Downloads checked against a sha256 before they land."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from transom.api.conditions import CHECKSUM_MISMATCH
from transom.engine.atomicfile import atomic_writer
from transom.engine.provider import ProviderError

CHUNK = 1 << 20
TIMEOUT_SECONDS = 60


def default_cache_dir() -> str:
    """Where downloads are kept when no state directory is given: root's /var/cache/transom,
    a user's ~/.cache/transom. Never the shared temp folder, where another local user could
    plant or swap a file between its check and its use."""
    if os.name == "posix" and os.geteuid() == 0:
        return "/var/cache/transom"
    return str(Path.home() / ".cache" / "transom")


def _urlopen(url: str, timeout: float) -> Any:
    # Imported on first download: urllib.request brings http.client, email and ssl, which a
    # run of local files never needs (transom apply's start-up time).
    import urllib.request  # noqa: PLC0415

    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s) only, by the model's pattern


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:  # noqa: PTH123 - str paths throughout providers
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class DigestCache:
    """sha256 of files, hashed again only when the file may have changed. The key includes
    ctime, which no user call can set back, so a write that restores size and mtime is still
    seen."""

    def __init__(self) -> None:
        self._digests: dict[str, tuple[tuple[int, int, int, int], str]] = {}

    def sha256(self, path: str) -> str:
        with open(path, "rb") as handle:  # noqa: PTH123 - str paths throughout providers
            return self._digest(path, handle)

    def open_verified(self, path: str, sha256: str) -> BinaryIO:
        """``path`` opened for reading, its digest checked through that handle: what the
        caller then reads is what was checked, even if the path is swapped meanwhile. The
        caller closes it. ProviderError (ChecksumMismatch) when it differs."""
        handle = open(path, "rb")  # noqa: PTH123, SIM115 - returned to the caller
        try:
            digest = self._digest(path, handle)
            if digest != sha256:
                raise ProviderError(
                    f"{path} has sha256 {digest}, expected {sha256}", reason=CHECKSUM_MISMATCH
                )
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle

    def _digest(self, path: str, handle: BinaryIO) -> str:
        st = os.fstat(handle.fileno())
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._digests.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        digest = hashlib.sha256()
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
        self._digests[path] = (key, digest.hexdigest())
        return digest.hexdigest()


def download(
    url: str, sha256: str, path: str, prepare: Callable[[int], None] | None = None
) -> None:
    """Fetch ``url`` to ``path`` atomically; a wrong checksum leaves ``path`` untouched."""
    digest = hashlib.sha256()
    try:
        with (
            _urlopen(url, timeout=TIMEOUT_SECONDS) as response,
            atomic_writer(path, prepare) as out,
        ):
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != sha256:
                raise ProviderError(
                    f"download of {url} has sha256 {digest.hexdigest()}, expected {sha256}",
                    reason=CHECKSUM_MISMATCH,
                )
    except OSError as exc:
        raise ProviderError(f"download of {url} failed: {exc}") from exc
