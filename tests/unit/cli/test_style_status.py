"""Colour only where a terminal shows it; the status table painted, summarised and redrawn."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.cli.status import (
    CLEAR_BELOW,
    EXIT_FAILED,
    EXIT_READY,
    EXIT_TIMEOUT,
    HOME,
    Screen,
    follow,
    outcome,
    painted,
    summary,
)
from transom.cli.style import Style, colour_enabled
from transom.controller.report import Row, render

STATES = ("Ready", "Failed", "Drifted", "Applying", "-")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def row(host: str, state: str, online: bool = True) -> Row:
    return Row(host, online, "default/web", "3", "main@sha1:0123456789ab", state, "")


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),  # piped
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty does not count (no-color.org)
        ({"TERM": "dumb"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
    ],
)
def test_colour_follows_terminal_and_environment(
    env: dict[str, str], tty: bool, expected: bool
) -> None:
    stream = Terminal() if tty else io.StringIO()
    assert colour_enabled(stream, env) is expected
    assert Style.for_stream(stream, env).colour is expected


def test_dumb_terminal_is_not_redrawn_in_place() -> None:
    assert not Style.for_stream(Terminal(), {"TERM": "dumb"}).tty
    assert Style.for_stream(Terminal(), {"NO_COLOR": "1"}).tty


def test_plain_style_changes_nothing() -> None:
    rows = [row("web-0", "Failed"), row("web-1", "Ready")]
    table = render(rows)
    assert painted(table, rows, Style()) == table
    assert "\x1b[" not in painted(table, rows, Style(colour=False, tty=True))


def test_rows_are_coloured_by_state_and_offline_hosts_red() -> None:
    rows = [row("web-0", "Failed"), row("web-1", "Ready"), row("web-2", "Ready", online=False)]
    lines = painted(render(rows), rows, Style(colour=True)).splitlines()
    assert lines[0].startswith("\x1b[1m")
    assert lines[1].startswith("\x1b[31m") and "web-0" in lines[1]
    assert lines[2].startswith("\x1b[32m") and "web-1" in lines[2]
    assert lines[3].startswith("\x1b[31m") and "web-2" in lines[3]


@given(st.lists(st.sampled_from(STATES), max_size=12))
def test_colour_never_changes_the_text(states: list[str]) -> None:
    rows = [row(f"h{i}", s, online=i % 3 > 0) for i, s in enumerate(states)]
    table = render(rows)
    coloured = painted(table, rows, Style(colour=True))
    plain = coloured
    for code in ("\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m"):
        plain = plain.replace(code, "")
    assert plain == table


@given(st.lists(st.sampled_from(STATES), max_size=12))
def test_wait_decides_only_when_all_ready_or_one_failed(states: list[str]) -> None:
    rows = [row(f"h{i}", s) for i, s in enumerate(states)]
    assigned = [s for s in states if s != "-"]
    expected = (
        EXIT_FAILED
        if "Failed" in assigned
        else EXIT_READY
        if assigned and set(assigned) == {"Ready"}
        else None
    )
    assert outcome(rows) == expected


def test_summary_counts_states_and_offline_hosts() -> None:
    rows = [row("a", "Ready"), row("b", "Applying", online=False), row("c", "Ready")]
    assert summary(rows) == "2/3 Ready, 1 applying, 1 host(s) offline"


def test_terminal_frames_redraw_in_place_and_pipes_print_only_changes() -> None:
    tty, pipe = Terminal(), io.StringIO()
    for out, style in ((tty, Style(tty=True)), (pipe, Style())):
        screen = Screen(out, style)
        screen.show("table v1", "t1")
        screen.show("table v1", "t2")
        screen.show("table v2", "t3")
    assert tty.getvalue().count(HOME) == 3 and tty.getvalue().endswith(CLEAR_BELOW)
    assert pipe.getvalue().count("table v1") == 1 and "t2" not in pipe.getvalue()
    assert "\x1b" not in pipe.getvalue()


async def test_follow_waits_for_the_rollout_and_survives_a_failed_read() -> None:
    frames: list[list[Row] | Exception] = [
        [row("a", "Applying"), row("b", "Applying")],
        ConnectionRefusedError(111, "refused"),
        [row("a", "Ready"), row("b", "Applying")],
        [row("a", "Ready"), row("b", "Ready")],
    ]

    async def fetch() -> list[Row]:
        frame = frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame

    out = io.StringIO()
    code = await follow(fetch, render, out, Style(), interval=0, wait=True, timeout=60)
    assert code == EXIT_READY and not frames
    text = out.getvalue()
    assert "cannot reach the server" in text and "(retrying)" in text
    assert "2/2 Ready" in text


async def test_follow_gives_up_after_the_timeout() -> None:
    ticks = iter(range(0, 1000, 10))

    async def fetch() -> list[Row]:
        return [row("a", "Applying")]

    out = io.StringIO()
    code = await follow(
        fetch, render, out, Style(), interval=0, wait=True, timeout=25, clock=lambda: next(ticks)
    )
    assert code == EXIT_TIMEOUT and "not decided after 25 s: 0/1 Ready" in out.getvalue()
