"""Atomic file replacement: readers see the old file or the new one, never a torn one.

Portable stdlib only: the journal and the file providers of both platforms use it.

Two fsyncs make a replacement durable: the temp file's, before the rename, so a rename that
survives a crash always names complete data; and the directory's, after it, so the rename itself
survives. Only the first is needed for atomicity, so a caller replacing many files may pass a
``DirectorySyncs`` and sync each directory once, after its last rename (the engine does, once per
run; docs/benchmarks.md has the argument): until then a crash leaves each file old or new.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

TEMP_PREFIX = ".transom-"
#: Win32 codes of a file another process holds open (antivirus, backup and indexing agents
#: open files briefly all the time): access denied, sharing violation, and ReplaceFile's
#: ERROR_UNABLE_TO_REMOVE_REPLACED. Worth a few retries; any other error is not.
IN_USE_CODES = frozenset({5, 32, 1175})
#: Delays between attempts, seconds: about 3 s in all.
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5)

T = TypeVar("T")


def retry_in_use(
    call: Callable[[], T],
    *,
    delays: tuple[float, ...] = RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying with backoff while it fails because another process has the
    file open (an OSError whose ``winerror`` is in IN_USE_CODES; posix errors have none)."""
    for delay in delays:
        try:
            return call()
        except OSError as exc:
            if getattr(exc, "winerror", None) not in IN_USE_CODES:
                raise
        sleep(delay)
    return call()


class DirectorySyncs:
    """Directories holding renames not yet made durable; ``flush`` fsyncs each one once."""

    def __init__(self) -> None:
        self._pending: dict[str, None] = {}  # insertion-ordered set

    def add(self, directory: str) -> None:
        self._pending[directory] = None

    def flush(self) -> None:
        """Fsync every pending directory; one that fails stays pending, and the first failure
        is raised (naming its directory) after the others were tried."""
        failed: OSError | None = None
        for directory in list(self._pending):
            try:
                fsync_directory(directory)
            except OSError as exc:
                failed = failed or OSError(exc.errno, exc.strerror, directory)
                continue
            del self._pending[directory]
        if failed is not None:
            raise failed


@contextlib.contextmanager
def atomic_writer(
    path: str,
    prepare: Callable[[int], None] | None = None,
    *,
    syncs: DirectorySyncs | None = None,
) -> Iterator[BinaryIO]:
    """Write to a temp file beside ``path``; on success fsync it and rename it over ``path``.

    ``prepare`` gets the temp file's descriptor before the rename, to set mode and owner, so
    the new file never appears with the wrong permissions. On any exception the temp file is
    removed and ``path`` is left as it was. The directory is fsynced after the rename, or added
    to ``syncs`` for the caller to fsync later.
    """
    directory = str(Path(path).parent)
    fd, name = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if prepare is not None:
                prepare(f.fileno())
            os.fsync(f.fileno())
        retry_in_use(lambda: tmp.replace(path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if syncs is None:
        fsync_directory(directory)
    else:
        syncs.add(directory)


def write_atomic(
    path: str,
    data: bytes,
    prepare: Callable[[int], None] | None = None,
    *,
    syncs: DirectorySyncs | None = None,
) -> None:
    with atomic_writer(path, prepare, syncs=syncs) as f:
        f.write(data)


def fsync_directory(directory: str) -> None:
    """Make a rename durable. Windows has no directory handles to fsync; NTFS journals it."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
