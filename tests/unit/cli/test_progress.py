"""A long wait shows its progress: redrawn in place on a terminal, a line now and then when
piped, and nothing left behind once it is over."""

from __future__ import annotations

import asyncio
import io

import pytest

from transom.cli import progress
from transom.cli.progress import waiting


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def slow(seconds: float, value: str = "done") -> str:
    await asyncio.sleep(seconds)
    return value


async def test_terminal_redraws_one_line_and_clears_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.01)
    out = Terminal()
    assert await waiting(slow(0.1), "waiting for approval", out) == "done"
    text = out.getvalue()
    assert text.count("\rwaiting for approval ... ") >= 3
    assert "\n" not in text and text.endswith("\r\x1b[K")


async def test_pipe_gets_whole_lines_only_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.04)
    out = io.StringIO()
    await waiting(slow(0.1), "waiting for approval", out)
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 3 and all(x.startswith("waiting for approval ... ") for x in lines)
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


async def test_a_quick_wait_shows_nothing() -> None:
    out = Terminal()
    assert await waiting(slow(0), "waiting", out) == "done"
    assert out.getvalue() == ""


async def test_failure_propagates_and_the_line_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.01)

    async def fails() -> str:
        await asyncio.sleep(0.05)
        raise TimeoutError("not signed within 1 s")

    out = Terminal()
    with pytest.raises(TimeoutError, match="not signed"):
        await waiting(fails(), "waiting", out)
    assert out.getvalue().endswith("\r\x1b[K")
