"""The one maintenance-window rule: may a host start a change now, and if not, when?

A window is open from each start of its cron schedule (in its time zone, as Debian's cron
evaluates it across DST transitions) for its duration in elapsed time: a 2h window that opens
at 01:00 on the night clocks go back lasts two real hours. A host may start a change at ``t``
when no Deny window that applies to it is open at ``t`` and, if any Allow window applies to
it, one is open; and, for a change expected to take ``room``, when it stays so for ``room``.
Pure functions of their arguments, so the planner and the tests share them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from transom.api.gates import MaintenanceWindow, WindowType, duration_seconds

#: Change points examined before giving up on finding the next opening (or closing): enough
#: for any sensible set of windows, bounded for a pathological one.
MAX_STEPS = 512
#: Starts enumerated inside one window before looking back from its end instead.
MAX_FORWARD = 2048


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError naming it when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, "
            "America/New_York)"
        ) from None


def check_schedule(expr: str) -> str:
    """``expr`` when cron can read it; ValueError with the parser's reason otherwise."""
    fields = len(expr.split())
    if fields not in (5, 6):
        raise ValueError(
            f"schedule {expr!r} must have 5 fields (minute hour day-of-month month "
            "day-of-week), or 6 with seconds first"
        )
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as e:
        raise ValueError(f"schedule {expr!r}: {e}") from None
    return expr


@dataclass(frozen=True)
class Span:
    """One window, ready to evaluate."""

    name: str
    deny: bool
    schedule: str
    length: timedelta
    tz: ZoneInfo

    @classmethod
    def of(cls, w: MaintenanceWindow) -> Span:
        return cls(
            w.name,
            w.type is WindowType.DENY,
            w.schedule,
            timedelta(seconds=duration_seconds(w.duration)),
            zone(w.time_zone),
        )

    def starts_after(self, t: datetime) -> Iterator[datetime]:
        """The starts strictly after ``t``, in UTC, as cron runs them. From inside a repeated
        DST hour's second pass cron's iterator yields the first pass again (01:30 BST after
        01:00 GMT); that start ran before ``t``, so it is skipped, not taken for the next."""
        origin = t.astimezone(self.tz).replace(microsecond=0)
        for start in CronSim(self.schedule, origin):
            if (utc := start.astimezone(UTC)) > t:
                yield utc

    def next_start(self, t: datetime) -> datetime | None:
        """The first start strictly after ``t``."""
        return next(self.starts_after(t), None)

    def end_if_open(self, t: datetime) -> datetime | None:
        """When the window open at ``t`` closes (its latest start at or before ``t``, plus
        its length); None when it is not open at ``t``. Starts are enumerated forward, as
        cron runs them: in a repeated DST hour cron starts a job once, and reverse iteration
        would find the second pass."""
        starts = self.starts_after(t - self.length)
        latest = next(starts, None)
        if latest is None or latest > t:
            return None
        try:
            for _ in range(MAX_FORWARD):
                following = next(starts)
                if following > t:
                    return latest + self.length
                latest = following
        except StopIteration:
            return latest + self.length
        # A dense schedule with a long window (every second for hours): look back instead.
        floor = t.astimezone(self.tz).replace(microsecond=0) + timedelta(seconds=1)
        back = next(CronSim(self.schedule, floor, reverse=True), None)
        return max(latest, back.astimezone(UTC) if back else latest) + self.length


@dataclass(frozen=True)
class Verdict:
    #: A change may start now (and has ``room`` to finish inside the window).
    open: bool
    #: Open: when the host's windows stop allowing changes (None: never).
    closes_at: datetime | None = None
    #: Closed: when a change may next start (None: none found).
    opens_at: datetime | None = None
    #: Closed: why, for status ("outside its Allow windows", "in Deny window freeze").
    reason: str = ""


ALWAYS = Verdict(open=True)


def follows(window: MaintenanceWindow, labels: Mapping[str, str]) -> bool:
    """A host with ``labels`` follows ``window``: it has no hostSelector, or one that matches."""
    return window.host_selector is None or window.host_selector.matches(dict(labels))


def host_windows(
    windows: Iterable[MaintenanceWindow], labels: Mapping[str, str]
) -> list[MaintenanceWindow]:
    """The windows a host with ``labels`` follows, without their hostSelector: what its agent
    is given, to evaluate with no labels of its own."""
    return [w.model_copy(update={"host_selector": None}) for w in windows if follows(w, labels)]


def applicable(windows: Iterable[MaintenanceWindow], labels: Mapping[str, str]) -> tuple[Span, ...]:
    """The windows a host with ``labels`` follows."""
    return tuple(Span.of(w) for w in windows if follows(w, labels))


def allowed_at(spans: Sequence[Span], t: datetime) -> bool:
    if any(s.end_if_open(t) is not None for s in spans if s.deny):
        return False
    allows = [s for s in spans if not s.deny]
    return not allows or any(s.end_if_open(t) is not None for s in allows)


def closes_after(spans: Sequence[Span], t: datetime) -> datetime | None:
    """With changes allowed at ``t``: the first moment after it they are not (None: never)."""
    denies = [s for s in spans if s.deny]
    allows = [s for s in spans if not s.deny]
    cur = t
    for _ in range(MAX_STEPS):
        deny_starts = [d for d in (s.next_start(cur) for s in denies) if d is not None]
        allow_ends = [e for e in (s.end_if_open(cur) for s in allows) if e is not None]
        deny_at = min(deny_starts, default=None)
        allow_end = max(allow_ends, default=None)
        if allows and allow_end is None:
            return cur  # not reached when changes are allowed at t; kept for safety
        if allow_end is None:
            return deny_at
        if deny_at is not None and deny_at <= allow_end:
            return deny_at
        if not allowed_at(spans, allow_end):
            return allow_end
        cur = allow_end  # another Allow window continues where this one ends
    # Overlapping Allow windows that never leave a gap (every 6h for 12h): no closing found
    # within the bound, which is what "never" means here; ``cur`` would still be allowed.
    return None


def evaluate(
    windows: Iterable[MaintenanceWindow],
    labels: Mapping[str, str],
    now: datetime,
    *,
    room: timedelta = timedelta(0),
) -> Verdict:
    """May a host with ``labels`` start a change taking ``room`` at ``now``?"""
    spans = applicable(windows, labels)
    if not spans:
        return ALWAYS
    return evaluate_spans(spans, now, room=room)


def evaluate_spans(spans: Sequence[Span], now: datetime, *, room: timedelta) -> Verdict:
    if allowed_at(spans, now):
        close = closes_after(spans, now)
        if close is None or close - now >= room:
            return Verdict(open=True, closes_at=close)
        reason = f"less than {_text(room)} left in its maintenance window"
    else:
        reason = _closed_reason(spans, now)
    return Verdict(open=False, opens_at=opens_after(spans, now, room=room), reason=reason)


def opens_after(spans: Sequence[Span], t: datetime, *, room: timedelta) -> datetime | None:
    """The first moment at or after ``t`` a change taking ``room`` may start (None: none
    found within MAX_STEPS change points)."""
    cur = t
    for _ in range(MAX_STEPS):
        if allowed_at(spans, cur):
            close = closes_after(spans, cur)
            if close is None or close - cur >= room:
                return cur
            cur = close
            continue
        deny_ends = [e for e in (s.end_if_open(cur) for s in spans if s.deny) if e is not None]
        if deny_ends:
            cur = max(deny_ends)
            continue
        starts = [n for n in (s.next_start(cur) for s in spans if not s.deny) if n is not None]
        if not starts:
            return None
        cur = min(starts)
    return None


def _closed_reason(spans: Sequence[Span], t: datetime) -> str:
    denying = [s.name for s in spans if s.deny and s.end_if_open(t) is not None]
    if denying:
        return f"in Deny window {', '.join(denying)}"
    return "outside its Allow windows " + ", ".join(s.name for s in spans if not s.deny)


def _text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"
