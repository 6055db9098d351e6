"""Colour when the output is a terminal that shows it; plain text otherwise.

Colour is off when the stream is not a terminal (piped or redirected), when ``NO_COLOR`` is
set to anything non-empty (https://no-color.org), or when ``TERM`` is ``dumb``;
``FORCE_COLOR`` (non-empty) turns it on regardless.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

RESET = "\x1b[0m"
CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real stream
        return False


def colour_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("FORCE_COLOR"):
        return True
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return is_tty(stream)


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
            tty=is_tty(stream) and env.get("TERM") != "dumb",
        )

    def paint(self, text: str, colour: str) -> str:
        return f"\x1b[{CODES[colour]}m{text}{RESET}" if self.colour and text else text

    def dim(self, text: str) -> str:
        return self.paint(text, "dim")
