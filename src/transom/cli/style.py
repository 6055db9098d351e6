"""Colour when the output is a terminal that shows it; plain text otherwise.

Colour is off when the stream is not a terminal (piped or redirected), when ``NO_COLOR`` is
set to anything non-empty (https://no-color.org), or when ``TERM`` is ``dumb``;
``FORCE_COLOR`` (non-empty) turns it on regardless. A Windows console (Server 2016 and later)
shows escape sequences only once virtual terminal processing is switched on for it; where
that fails, the console is treated as one that cannot show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

RESET = "\x1b[0m"
CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}


#: SetConsoleMode flag that makes a Windows console interpret ANSI escape sequences.
ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real stream
        return False


def _windows_console_vt(stream: TextIO) -> bool:
    """Switch on escape sequences for the Windows console behind ``stream``."""
    import ctypes
    import importlib

    try:
        # By name: msvcrt exists only on Windows.
        handle = importlib.import_module("msvcrt").get_osfhandle(stream.fileno())
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        mode = ctypes.c_uint32()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False
        return bool(
            kernel32.SetConsoleMode(handle, mode.value | ENABLE_VIRTUAL_TERMINAL_PROCESSING)
        )
    except (OSError, ValueError, AttributeError):
        return False


def is_terminal(stream: TextIO) -> bool:
    """A terminal that shows escape sequences (colour, cursor movement)."""
    if not is_tty(stream):
        return False
    return _windows_console_vt(stream) if os.name == "nt" else True


def colour_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("FORCE_COLOR"):
        return True
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


@dataclass(frozen=True)
class Style:
    """``colour``: wrap text in ANSI colours; ``tty``: the stream is a terminal (redraw in
    place is possible)."""

    colour: bool = False
    tty: bool = False

    @classmethod
    def for_stream(cls, stream: TextIO, environ: Mapping[str, str] | None = None) -> Style:
        env = os.environ if environ is None else environ
        return cls(
            colour=colour_enabled(stream, env),
            tty=is_terminal(stream) and env.get("TERM") != "dumb",
        )

    def paint(self, text: str, colour: str) -> str:
        return f"\x1b[{CODES[colour]}m{text}{RESET}" if self.colour and text else text

    def dim(self, text: str) -> str:
        return self.paint(text, "dim")
