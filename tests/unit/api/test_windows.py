"""The maintenance-window rule, by property: around DST transitions in zones that have them
(an hour, half an hour), in zones that have none, with Allow and Deny windows mixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cronsim import CronSim
from hypothesis import example, given, settings
from hypothesis import strategies as st

from transom.api.gates import MaintenanceWindow, WindowType, duration_seconds
from transom.api.windows import Span, allowed_at, applicable, evaluate, evaluate_spans, zone
from transom.api.wire import LabelSelector

ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # DST of 30 minutes
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Asia/Kolkata",  # no DST, half-hour offset
]
SCHEDULES = [
    "30 1 * * *",  # inside the hour that is skipped or repeated in Europe
    "0 2 * * *",  # the US transition hour
    "*/20 1 * * *",
    "0 22 * * SAT",
    "0 0 * * *",
    "15 3 * * 0",
    "0 */6 * * *",
    "0 0 1 * *",
]
DURATIONS = ["90s", "15m", "1h", "2h30m", "12h"]
#: Moments near the 2026 DST transitions of the zones above (UTC).
TRANSITIONS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 16, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
]

moments = st.one_of(
    st.builds(
        lambda base, offset: base + timedelta(seconds=offset),
        st.sampled_from(TRANSITIONS),
        st.integers(-6 * 3600, 6 * 3600),
    ),
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
)


@st.composite
def windows(draw: st.DrawFn, max_size: int = 3) -> list[MaintenanceWindow]:
    n = draw(st.integers(1, max_size))
    return [
        MaintenanceWindow(
            name=f"w{i}",
            type=draw(st.sampled_from(list(WindowType))),
            schedule=draw(st.sampled_from(SCHEDULES)),
            duration=draw(st.sampled_from(DURATIONS)),
            time_zone=draw(st.sampled_from(ZONES)),
        )
        for i in range(n)
    ]


def open_by_enumeration(w: MaintenanceWindow, t: datetime) -> bool:
    """The definition, by forward enumeration of starts (the rule itself iterates in
    reverse): some start s with s <= t < s + duration."""
    length = timedelta(seconds=duration_seconds(w.duration))
    origin = (t - length).astimezone(zone(w.time_zone)).replace(microsecond=0)
    for start in CronSim(w.schedule, origin):
        # From the repeated hour's second pass, cron's first pass is yielded again; it ran
        # before the origin, so it is not a start after it.
        if start.astimezone(UTC) > t - length:
            return start.astimezone(UTC) <= t
    return False


def allowed_by_definition(ws: list[MaintenanceWindow], t: datetime) -> bool:
    if any(open_by_enumeration(w, t) for w in ws if w.type is WindowType.DENY):
        return False
    allows = [w for w in ws if w.type is WindowType.ALLOW]
    return not allows or any(open_by_enumeration(w, t) for w in allows)


@settings(max_examples=100, deadline=None)
@given(windows(), moments)
def test_the_rule_agrees_with_the_definition(ws: list[MaintenanceWindow], t: datetime) -> None:
    assert allowed_at(applicable(ws, {}), t) == allowed_by_definition(ws, t)


def test_overlapping_allow_windows_that_never_close_say_so() -> None:
    # Found by the property below: each start every 6 h stays open 12 h, so the union never
    # closes; the search used to give up and name a moment that was still allowed.
    overlapping = MaintenanceWindow(name="always", schedule="0 */6 * * *", duration="12h")
    t = datetime(2026, 5, 4, 3, tzinfo=UTC)
    v = evaluate([overlapping], {}, t, room=timedelta(hours=1))
    assert v.open and v.closes_at is None
    freeze = MaintenanceWindow(
        name="freeze", type=WindowType.DENY, schedule="0 9 4 5 *", duration="1h"
    )
    v = evaluate([overlapping, freeze], {}, t)
    assert v.open and v.closes_at == datetime(2026, 5, 4, 9, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(windows(), moments, st.sampled_from([0, 60, 900, 3600]), st.lists(st.floats(0, 1)))
def test_closing_and_next_opening_are_where_the_definition_puts_them(
    ws: list[MaintenanceWindow], t: datetime, room_seconds: int, fractions: list[float]
) -> None:
    room = timedelta(seconds=room_seconds)
    v = evaluate(ws, {}, t, room=room)
    if v.open:
        assert allowed_by_definition(ws, t)
        if v.closes_at is not None:
            assert v.closes_at - t >= room
            assert not allowed_by_definition(ws, v.closes_at)
            for f in fractions:
                assert allowed_by_definition(ws, t + (v.closes_at - t) * f * 0.999)
        return
    if v.opens_at is None:
        return  # none found within the search bound: said so, never guessed
    assert v.opens_at >= t
    assert allowed_by_definition(ws, v.opens_at)
    reopened = evaluate(ws, {}, v.opens_at, room=room)
    assert reopened.open, (v, reopened)
    for f in fractions:
        between = t + (v.opens_at - t) * f
        if between < v.opens_at:
            assert not evaluate(ws, {}, between, room=room).open


@settings(max_examples=60, deadline=None)
@given(windows(), moments)
@example(  # found by the lane: the fall-back hour's second pass
    [
        MaintenanceWindow(
            name="w0",
            type=WindowType.DENY,
            schedule="30 1 * * *",
            duration="90s",
            time_zone="Europe/London",
        )
    ],
    datetime(2026, 10, 25, 1, tzinfo=UTC),
)
def test_a_deny_window_inside_an_allow_window_wins(
    ws: list[MaintenanceWindow], t: datetime
) -> None:
    everything = MaintenanceWindow(name="all", schedule="* * * * *", duration="2m")
    freeze = MaintenanceWindow(
        name="freeze", type=WindowType.DENY, schedule="* * * * *", duration="2m"
    )
    assert evaluate([*ws, everything], {}, t).open or allowed_by_definition(ws, t) is False
    v = evaluate([*ws, everything, freeze], {}, t)
    assert not v.open and "freeze" in v.reason


def test_per_host_windows_follow_labels() -> None:
    only_db = MaintenanceWindow(
        name="db",
        schedule="0 3 * * *",
        duration="1h",
        host_selector=LabelSelector(match_labels={"role": "db"}),
    )
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert not evaluate([only_db], {"role": "db"}, at).open
    assert evaluate([only_db], {"role": "web"}, at).open  # no window applies: any time


def test_a_window_across_the_spring_gap_opens_when_cron_would_and_lasts_real_time() -> None:
    # 01:30 does not exist in London on 29 March 2026: Debian's cron runs it at 02:00 BST.
    w = MaintenanceWindow(
        name="night", schedule="30 1 * * *", duration="1h", time_zone="Europe/London"
    )
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 00:30 GMT
    v = evaluate([w], {}, before)
    assert not v.open
    assert v.opens_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 BST
    inside = evaluate([w], {}, v.opens_at + timedelta(minutes=59))
    assert inside.open and inside.closes_at == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


def test_in_the_repeated_hour_a_start_cron_already_ran_is_behind_not_ahead() -> None:
    # 01:30 comes twice in London on 25 October 2026; cron runs the job at the first, 01:30
    # BST (00:30 UTC). From 01:00 GMT (01:00 UTC) the next start is the next night's, and at
    # 01:30 GMT the 90 s window opened an hour ago is long closed.
    w = MaintenanceWindow(
        name="freeze",
        type=WindowType.DENY,
        schedule="30 1 * * *",
        duration="90s",
        time_zone="Europe/London",
    )
    span = Span.of(w)
    second_pass = datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert span.next_start(second_pass) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    assert span.end_if_open(datetime(2026, 10, 25, 0, 31, tzinfo=UTC)) == datetime(
        2026, 10, 25, 0, 31, 30, tzinfo=UTC
    )
    assert span.end_if_open(datetime(2026, 10, 25, 1, 30, 30, tzinfo=UTC)) is None
    everything = MaintenanceWindow(name="all", schedule="* * * * *", duration="2m")
    assert evaluate([w, everything], {}, second_pass).open


def test_room_for_a_reboot_is_left_or_the_change_waits() -> None:
    w = MaintenanceWindow(name="night", schedule="0 22 * * *", duration="1h")
    late = datetime(2026, 6, 1, 22, 50, tzinfo=UTC)
    assert evaluate([w], {}, late).open
    short = evaluate([w], {}, late, room=timedelta(minutes=15))
    assert not short.open and "less than 15m left" in short.reason
    assert short.opens_at == datetime(2026, 6, 2, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("schedule", "0 25 * * *", "Bad hour"),
        ("schedule", "* * * * * * *", "5 fields"),
        ("time_zone", "Mars/Olympus", "not an IANA time zone"),
        ("duration", "forever", "duration"),
        ("duration", "0s", "longer than zero"),
    ],
)
def test_invalid_windows_say_what_is_wrong(field: str, value: str, words: str) -> None:
    fields = {"name": "w", "schedule": "0 1 * * *", "duration": "1h", field: value}
    with pytest.raises(ValueError, match=words):
        MaintenanceWindow.model_validate(fields)


def test_zones_come_from_the_iana_database_on_every_platform() -> None:
    """On Windows CPython there is no system database: the tzdata package supplies it (this
    runs in the Windows lane too)."""
    berlin = zone("Europe/Berlin")
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC).astimezone(berlin)
    winter = datetime(2026, 1, 1, 12, tzinfo=UTC).astimezone(berlin)
    assert summer.utcoffset() == timedelta(hours=2)
    assert winter.utcoffset() == timedelta(hours=1)
    span = Span.of(MaintenanceWindow(name="w", schedule="0 3 * * *", duration="1h"))
    assert evaluate_spans([span], datetime(2026, 1, 1, 3, 30, tzinfo=UTC), room=timedelta()).open
