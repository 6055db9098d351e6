"""Downloads checked against a sha256 before they land."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable

from transom.api.conditions import CHECKSUM_MISMATCH
from transom.engine.atomicfile import atomic_writer
from transom.engine.provider import ProviderError

CHUNK = 1 << 20
TIMEOUT_SECONDS = 60


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
        st = os.stat(path)  # noqa: PTH116 - str paths throughout providers
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._digests.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        digest = sha256_of(path)
        self._digests[path] = (key, digest)
        return digest


def download(
    url: str, sha256: str, path: str, prepare: Callable[[int], None] | None = None
) -> None:
    """Fetch ``url`` to ``path`` atomically; a wrong checksum leaves ``path`` untouched."""
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response,  # noqa: S310 - http(s) only, by the model's pattern
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
