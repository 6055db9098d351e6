"""Progress of a long wait: redrawn in place on a terminal, a line now and then when piped."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import TextIO, TypeVar

from transom.cli.style import Style

T = TypeVar("T")

#: On a terminal: how often the elapsed time is redrawn.
REDRAW_SECONDS = 0.5
#: Piped: how often a "still waiting" line is written (the first after one interval).
LINE_SECONDS = 15.0


async def waiting(work: Awaitable[T], message: str, out: TextIO | None = None) -> T:
    """Await ``work`` while showing ``message`` and the time spent on ``out`` (stderr)."""
    out = out or sys.stderr
    task = asyncio.ensure_future(work)
    style = Style.for_stream(out)
    started = time.monotonic()
    interval = REDRAW_SECONDS if style.tty else LINE_SECONDS
    drawn = False
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            elapsed = time.monotonic() - started
            if style.tty:
                out.write(f"\r{style.dim(f'{message} ... {elapsed:.0f} s')}\x1b[K")
            else:
                out.write(f"{message} ... {elapsed:.0f} s\n")
            out.flush()
            drawn = True
    finally:
        if not task.done():
            task.cancel()
        if drawn and style.tty:
            out.write("\r\x1b[K")
            out.flush()
