"""A Linux Notifier (engine.drift.Notifier) on inotify, through ctypes: no extra dependency.

inotify watches inodes, and atomic writes replace a file's inode, so files are watched through
their directory, by name. A target whose parent does not exist yet is watched through its
nearest existing ancestor, so its creation is seen too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
from collections.abc import Collection

from transom.engine.provider import WatchTarget

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000
WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_EXCL_UNLINK
)
_EVENT = struct.Struct("iIII")
_READ_SIZE = 64 * 1024


def _anchor(path: str) -> tuple[str, str]:
    """The nearest existing directory above ``path`` and the name below it on the way."""
    path = os.path.abspath(path)  # noqa: PTH100 - str paths throughout providers
    parent, name = os.path.split(path)
    while parent != "/" and not os.path.isdir(parent):  # noqa: PTH112
        parent, name = os.path.split(parent)
    return parent, name


class InotifyNotifier:
    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add_watch.restype = ctypes.c_int
        self._rm_watch = libc.inotify_rm_watch
        self._rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd: int | None = fd
        self._wds: dict[str, int] = {}  # watched directory -> watch descriptor
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory
        self._entries: dict[tuple[str, str], set[WatchTarget]] = {}
        self._trees: dict[str, set[WatchTarget]] = {}
        self._all: set[WatchTarget] = set()

    def watch(self, targets: Collection[WatchTarget]) -> None:
        if self._fd is None:
            return
        entries: dict[tuple[str, str], set[WatchTarget]] = {}
        trees: dict[str, set[WatchTarget]] = {}
        needed: set[str] = set()
        for target in targets:
            anchor = _anchor(target.path)
            entries.setdefault(anchor, set()).add(target)
            needed.add(anchor[0])
            if target.kind == "tree" and os.path.isdir(target.path):  # noqa: PTH112
                root = os.path.abspath(target.path)  # noqa: PTH100
                trees.setdefault(root, set()).add(target)
                needed.update(d for d, _, _ in os.walk(root))
        for directory in needed - self._wds.keys():
            wd = self._add_watch(self._fd, os.fsencode(directory), WATCH_MASK)
            if wd >= 0:  # it may be gone again already; the next watch() retries
                self._wds[directory] = wd
                self._dirs[wd] = directory
        for directory in self._wds.keys() - needed:
            wd = self._wds.pop(directory)
            self._dirs.pop(wd, None)
            self._rm_watch(self._fd, wd)
        self._entries, self._trees, self._all = entries, trees, set(targets)

    def wait(self, timeout: float) -> set[WatchTarget]:
        if self._fd is None:
            return set()
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return set()
        fired: set[WatchTarget] = set()
        while True:
            try:
                buf = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return fired
            fired |= self._decode(buf)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _decode(self, buf: bytes) -> set[WatchTarget]:
        fired: set[WatchTarget] = set()
        offset = 0
        while offset < len(buf):
            wd, mask, _, length = _EVENT.unpack_from(buf, offset)
            raw = buf[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                # Events were lost: everything may have changed.
                fired |= self._all
                continue
            directory = self._dirs.get(wd)
            if directory is None:
                continue
            if mask & IN_IGNORED:
                # The directory is gone; the next watch() re-arms it if it comes back.
                del self._dirs[wd]
                self._wds.pop(directory, None)
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            if not name:
                if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                    fired |= {
                        t for (d, _), ts in self._entries.items() if d == directory for t in ts
                    }
                continue
            fired |= self._entries.get((directory, name), set())
            path = os.path.join(directory, name)  # noqa: PTH118
            for root, targets in self._trees.items():
                if path == root or path.startswith(root + os.sep):
                    fired |= targets
        return fired
