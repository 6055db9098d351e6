"""EnvironmentVariable on posix: one KEY=value line of an environment file."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import ClassVar

from transom.api.resources import Ensure
from transom.api.resources.environment import EnvironmentVariableProperties
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

DEFAULT_FILE = "/etc/environment"
NEW_FILE_MODE = 0o644
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:,@%+=-]*$")


def _file(desired: EnvironmentVariableProperties) -> str:
    return desired.file or DEFAULT_FILE


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def _line(name: str, value: str) -> str:
    if "\n" in value or '"' in value:
        raise ProviderError(
            f"{name}: an environment file cannot hold a value with a newline or a double quote"
        )
    return f"{name}={value}" if _PLAIN.match(value) else f'{name}="{value}"'


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as f:  # noqa: PTH123 - str paths
            # Lines end at "\n" only: splitlines() would also split values at \x1e, \x85, ...
            text = f.read()
        lines = text.split("\n")
    except FileNotFoundError:
        return []
    return lines[:-1] if lines and not lines[-1] else lines


def _find(lines: list[str], name: str) -> int | None:
    """Index of the line that defines ``name``; the last one wins, as in a shell."""
    found = None
    for i, line in enumerate(lines):
        m = _LINE.match(line)
        if m and m.group(1) == name:
            found = i
    return found


class EnvironmentVariableProvider(Provider[EnvironmentVariableProperties]):
    kind: ClassVar[str] = "EnvironmentVariable"

    def get(self, desired: EnvironmentVariableProperties, ctx: Context) -> State:
        lines = _read_lines(_file(desired))
        i = _find(lines, desired.name)
        if i is None:
            return {"ensure": Ensure.ABSENT.value}
        m = _LINE.match(lines[i])
        assert m is not None
        return {"ensure": Ensure.PRESENT.value, "name": desired.name, "value": _unquote(m.group(2))}

    def set(
        self, desired: EnvironmentVariableProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        _rewrite(_file(desired), desired.name, desired.value)
        return SetOutcome()

    def delete(self, desired: EnvironmentVariableProperties, ctx: Context) -> SetOutcome:
        _rewrite(_file(desired), desired.name, None)
        return SetOutcome()

    def touches(self, desired: EnvironmentVariableProperties) -> list[str]:
        return [desired.identity(), f"path:{_file(desired)}"]

    def watch_targets(self, desired: EnvironmentVariableProperties) -> list[WatchTarget]:
        return [WatchTarget("file", _file(desired))]


def _rewrite(path: str, name: str, value: str | None) -> None:
    """The file with ``name`` set to ``value`` (None: every line defining it removed)."""
    lines = _read_lines(path)
    last = _find(lines, name)
    kept: list[str] = []
    for i, line in enumerate(lines):
        m = _LINE.match(line)
        if not (m and m.group(1) == name):
            kept.append(line)
        elif i == last and value is not None:
            # Keep the variable where it was, so a reviewer's diff of the file stays small.
            kept.append(_line(name, value))
    if last is None and value is not None:
        kept.append(_line(name, value))
    try:
        st: os.stat_result | None = os.stat(path)  # noqa: PTH116
    except FileNotFoundError:
        st = None
    mode = st.st_mode & 0o7777 if st else NEW_FILE_MODE

    def prepare(fd: int) -> None:
        os.fchmod(fd, mode)
        if st is not None:
            os.fchown(fd, st.st_uid, st.st_gid)

    write_atomic(path, ("\n".join(kept) + "\n").encode() if kept else b"", prepare)
