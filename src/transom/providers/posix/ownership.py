"""posix mode, owner and group: reading them as wire values, and applying desired ones.

``pwd`` and ``grp`` are imported where they are used: the Windows providers reuse the posix
archive and file code, and Windows CPython has neither module.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from transom.engine.provider import Context, ProviderError


def mode_string(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def modes_equal(desired: Any, actual: Any) -> bool:
    return isinstance(actual, str) and int(str(desired), 8) == int(actual, 8)


def user_name(uid: int, ctx: Context) -> str:
    names: dict[int, str] = ctx.cache.setdefault("posix.users", {})
    if uid not in names:
        import pwd  # noqa: PLC0415  (posix only, see the module docstring)

        try:
            names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            names[uid] = str(uid)
    return names[uid]


def group_name(gid: int, ctx: Context) -> str:
    names: dict[int, str] = ctx.cache.setdefault("posix.groups", {})
    if gid not in names:
        import grp  # noqa: PLC0415  (posix only, see the module docstring)

        try:
            names[gid] = grp.getgrgid(gid).gr_name
        except KeyError:
            names[gid] = str(gid)
    return names[gid]


def uid_of(name: str) -> int:
    import pwd  # noqa: PLC0415  (posix only, see the module docstring)

    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise ProviderError(f"no such user {name!r}") from None


def gid_of(name: str) -> int:
    import grp  # noqa: PLC0415  (posix only, see the module docstring)

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise ProviderError(f"no such group {name!r}") from None


def observe(state: dict[str, Any], desired: Any, st: os.stat_result, ctx: Context) -> None:
    """Add mode, owner and group to ``state``, for those ``desired`` sets."""
    if desired.mode is not None:
        state["mode"] = mode_string(st)
    if desired.owner is not None:
        state["owner"] = user_name(st.st_uid, ctx)
    if desired.group is not None:
        state["group"] = group_name(st.st_gid, ctx)


def apply_fd(fd: int, desired: Any, default_mode: int, st: os.stat_result | None) -> None:
    """Set mode/owner/group on an open file (a temp file about to be renamed into place):
    desired values, else those of the file it replaces, else ``default_mode``."""
    if desired.mode is not None:
        mode = int(desired.mode, 8)
    elif st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        mode = default_mode
    uid = uid_of(desired.owner) if desired.owner is not None else (st.st_uid if st else -1)
    gid = gid_of(desired.group) if desired.group is not None else (st.st_gid if st else -1)
    current = os.fstat(fd)
    if (uid not in (-1, current.st_uid)) or (gid not in (-1, current.st_gid)):
        os.fchown(fd, uid, gid)
    os.fchmod(fd, mode)


def apply_path(path: str, desired: Any, changed: set[str]) -> None:
    """Set only the changed ones of mode/owner/group on an existing path."""
    if "owner" in changed or "group" in changed:
        uid = uid_of(desired.owner) if "owner" in changed else -1
        gid = gid_of(desired.group) if "group" in changed else -1
        os.chown(path, uid, gid)
    if "mode" in changed:
        os.chmod(path, int(desired.mode, 8))  # noqa: PTH101 - str paths throughout providers
