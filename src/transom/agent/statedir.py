"""The agent's state directory is private, or the agent does not start.

SYSTEM (root) acts on what is in it: journals (a planted one with ``removalPolicy: Delete``
would delete what it names), the audit signing key, the client key, staged downloads. On
Windows, %ProgramData% lets Users create files and folders, and a new folder inherits that:
so the directory is created with a protected DACL (SYSTEM and Administrators only). On posix it
is created 0700. Either way, an existing directory, or anything in it, that another account
owns or may write is refused with what to fix, never silently repaired: whatever was planted
is still there.
"""

from __future__ import annotations

import ntpath
import os
import stat
import sys
from pathlib import Path
from typing import Protocol


class StateDirError(Exception):
    """The state directory is not private; the message says what to fix."""


class ProtectedDirs(Protocol):
    """What the check needs of the Windows facade (``facade.Files``)."""

    def path_kind(self, path: str) -> str | None: ...

    def dir_list(self, path: str) -> list[str]: ...

    def dir_create_protected(self, path: str) -> None: ...

    def untrusted_writers(self, path: str) -> list[str]: ...


def secure_state_dir(path: Path, windows: ProtectedDirs | None = None) -> None:
    """Create ``path`` private if missing, then refuse (StateDirError) if it or anything in
    it is writable by another account. ``windows``: the facade to use on Windows (a real
    Win32Facade when None there)."""
    if windows is None and sys.platform == "win32":
        from transom.providers.windows.win32 import Win32Facade  # noqa: PLC0415 - per platform

        windows = Win32Facade()
    if windows is not None:
        _check_windows(windows, str(path))
    elif sys.platform != "win32":
        _check_posix(path)


def _check_windows(os_: ProtectedDirs, root: str) -> None:
    if os_.path_kind(root) is None:
        os_.dir_create_protected(root)
    pending = [root]
    while pending:
        current = pending.pop()
        writers = os_.untrusted_writers(current)
        if writers:
            raise StateDirError(
                f"state directory {root} is not private: {current} can be changed by "
                f"{', '.join(writers)}; only SYSTEM and Administrators may own or write "
                "anything there. Remove what you did not create, then reset the folder "
                f'with: icacls "{root}" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F '
                f"*S-1-5-32-544:(OI)(CI)F /setowner *S-1-5-32-544 /T"
            )
        if os_.path_kind(current) == "directory":
            pending += [ntpath.join(current, name) for name in os_.dir_list(current)]


# Defined off Windows only: os.geteuid and the mode bits are posix's.
if sys.platform != "win32":

    def _check_posix(root: Path) -> None:
        if not root.exists():
            root.mkdir(mode=0o700, parents=True)
        me = os.geteuid()
        for directory, dirs, files in os.walk(root):
            for name in [None, *dirs, *files]:
                path = Path(directory) if name is None else Path(directory) / name
                st = path.lstat()
                problem = ""
                if st.st_uid not in (me, 0):
                    problem = f"is owned by uid {st.st_uid}"
                elif not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                    problem = f"is writable by {'others' if st.st_mode & stat.S_IWOTH else 'group'}"
                if problem:
                    raise StateDirError(
                        f"state directory {root} is not private: {path} {problem}; only the "
                        f"agent's account (uid {me}) or root may own or write anything there. "
                        f"Remove what you did not create, then: chmod -R go-w {root}"
                    )
