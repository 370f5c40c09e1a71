"""The SLA clock for exception requests: when a request is due, when to remind, and how much time is left.

This module is pure (stdlib only, no Django, no ORM, no clock of its own) because the Celery sweep, the views and
the tests all have to agree on the same answers: the database stores the computed deadline as a plain timestamp,
not a broker countdown, so anything holding that timestamp and the policy's calendar can recompute or check it,
and the tests can pin every edge (weekends, holidays, DST, pauses) with exact instants.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MAX_DAYS_WITHOUT_WORK",
    "Calendar",
    "SlaState",
    "add_working_minutes",
    "deadline_offsets",
    "due_at",
    "format_time_left",
    "reminder_at",
    "resume_deadline",
    "sla_state",
    "time_left",
    "timer_countdowns",
    "working_minutes_between",
]

# Ten years is far longer than any real gap between working days, so reaching it means the calendar can never
# open (no working days, or every working day a holiday) and looping on would never end.
MAX_DAYS_WITHOUT_WORK = 3660

_ONE_MINUTE = timedelta(minutes=1)
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


@dataclass(frozen=True)
class Calendar:
    """Business hours in one local time zone; SLA minutes only tick inside them."""

    time_zone: str
    working_days: frozenset[int]
    opens_at: time
    closes_at: time
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Frozensets keep the calendar hashable even if a caller hands in a list or set.
        object.__setattr__(self, "working_days", frozenset(self.working_days))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        # Fail where the calendar is built, not later inside the sweep with a less helpful error.
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from exc
        if not self.working_days <= frozenset(range(1, 8)):
            raise ValueError(f"working_days must be ISO weekdays 1 (Mon) to 7 (Sun), got {sorted(self.working_days)}")
        if self.opens_at.tzinfo is not None or self.closes_at.tzinfo is not None:
            raise ValueError("opens_at and closes_at are local wall times and must not carry a tzinfo")
        if self.closes_at <= self.opens_at:
            raise ValueError(f"closes_at ({self.closes_at}) must be after opens_at ({self.opens_at})")
        # An empty working_days is allowed here on purpose: it is only an error once someone asks for a deadline.

    @property
    def zone(self) -> ZoneInfo:
        # ZoneInfo caches instances per key, so this is cheap to call in loops.
        return ZoneInfo(self.time_zone)


class SlaState(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    BREACHED = "breached"


def _utc(name: str, value: datetime) -> datetime:
    # All arithmetic happens in UTC: subtracting or adding to datetimes that share a ZoneInfo tzinfo is wall-clock
    # arithmetic in Python and silently gains or loses an hour across DST.
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _duration(name: str, minutes: float) -> timedelta:
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise TypeError(f"{name} must be a number of minutes, got {type(minutes).__name__}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"{name} must be a finite, non-negative number of minutes, got {minutes!r}")
    return timedelta(minutes=minutes)


def _working_interval(calendar: Calendar, day: date) -> tuple[datetime, datetime] | None:
    """The UTC [open, close) interval worked on the local ``day``, or None if nothing is worked that day."""
    if day.isoweekday() not in calendar.working_days or day in calendar.holidays:
        return None
    zone = calendar.zone
    opens = datetime.combine(day, calendar.opens_at, tzinfo=zone).astimezone(UTC)
    closes = datetime.combine(day, calendar.closes_at, tzinfo=zone).astimezone(UTC)
    # Bounds are real instants, so a DST jump inside the working hours makes that day shorter or longer. A bound
    # inside a skipped hour can even land after the other one; such a degenerate day has no working time.
    if closes <= opens:
        return None
    return opens, closes


def _add_working_time(start: datetime, amount: timedelta, calendar: Calendar | None) -> datetime:
    """``start`` (UTC) plus ``amount`` of working time; both already validated."""
    if calendar is None:
        return start + amount
    day = start.astimezone(calendar.zone).date()
    remaining = amount
    days_without_work = 0
    # One step per calendar day, taking each working day's whole interval at once, so the cost grows with the
    # number of days spanned, not with the number of minutes.
    while True:
        interval = _working_interval(calendar, day)
        if interval is None:
            days_without_work += 1
            if days_without_work >= MAX_DAYS_WITHOUT_WORK:
                raise ValueError(
                    f"calendar has no working day within {MAX_DAYS_WITHOUT_WORK} days "
                    f"(working days {sorted(calendar.working_days)}, {len(calendar.holidays)} holidays)"
                )
        else:
            days_without_work = 0
            opens, closes = interval
            segment_start = max(opens, start)
            # Strictly before closing: a clock started at closing time has nothing left today.
            if segment_start < closes:
                available = closes - segment_start
                # "<=" so that a deadline landing exactly on closing time stays today instead of the next opening.
                if remaining <= available:
                    return segment_start + remaining
                remaining -= available
        day += _ONE_DAY


def _working_time_between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Working time in [start, end), both UTC; summed as a timedelta to stay exact to the microsecond."""
    if end <= start:
        return _ZERO
    if calendar is None:
        return end - start
    zone = calendar.zone
    day = start.astimezone(zone).date()
    last_day = end.astimezone(zone).date()
    worked = _ZERO
    while day <= last_day:
        interval = _working_interval(calendar, day)
        if interval is not None:
            lo = max(interval[0], start)
            hi = min(interval[1], end)
            if lo < hi:
                worked += hi - lo
        day += _ONE_DAY
    return worked


def add_working_minutes(*, start: datetime, minutes: float, calendar: Calendar | None) -> datetime:
    """The UTC instant at which ``minutes`` working minutes have passed since ``start``.

    Without a calendar every minute counts. With one, a start outside working hours begins at the next opening,
    and ``minutes == 0`` gives the next working instant (``start`` itself when inside working hours).
    """
    return _add_working_time(_utc("start", start), _duration("minutes", minutes), calendar)


def working_minutes_between(*, start: datetime, end: datetime, calendar: Calendar | None) -> float:
    """Working minutes in [start, end); 0 when ``end`` is not after ``start``."""
    return _working_time_between(_utc("start", start), _utc("end", end), calendar) / _ONE_MINUTE


def due_at(*, start: datetime, sla_minutes: int, calendar: Calendar | None) -> datetime:
    """The deadline of an SLA of ``sla_minutes`` working minutes started at ``start``."""
    return _add_working_time(_utc("start", start), _duration("sla_minutes", sla_minutes), calendar)


def reminder_at(*, start: datetime, sla_minutes: int, percent: int, calendar: Calendar | None) -> datetime:
    """The instant at which ``percent``% of the SLA's working minutes have elapsed since ``start``."""
    sla = _duration("sla_minutes", sla_minutes)
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise TypeError(f"percent must be a number, got {type(percent).__name__}")
    # A reminder after the deadline would never be seen as "due soon", so it is a configuration error.
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {percent!r}")
    # Scale the timedelta, not float minutes, so e.g. 75% of 120 is exactly 90 minutes.
    return _add_working_time(_utc("start", start), sla * percent / 100, calendar)


def deadline_offsets(
    *, sla_minutes: int, percent: int, calendar: Calendar | None
) -> tuple[timedelta, timedelta] | None:
    """(deadline, reminder) as fixed offsets from the start, or None when they depend on the start.

    Without a calendar every minute counts, so ``due_at`` and ``reminder_at`` are the start plus a constant and a
    database can move many deadlines in one statement (the sweep does). A business calendar has no such constant.
    """
    if calendar is not None:
        return None
    start = datetime(2000, 1, 1, tzinfo=UTC)
    due = due_at(start=start, sla_minutes=sla_minutes, calendar=None)
    remind = reminder_at(start=start, sla_minutes=sla_minutes, percent=percent, calendar=None)
    return due - start, remind - start


def resume_deadline(
    *, due_at: datetime, paused_at: datetime, resumed_at: datetime, calendar: Calendar | None
) -> datetime:
    """The deadline after a pause: the working time that was left at ``paused_at`` now runs from ``resumed_at``.

    Only working time is frozen, so a pause over a night or weekend costs the approver nothing extra. A request
    paused at or after its deadline stays due: the result is ``resumed_at``.
    """
    due = _utc("due_at", due_at)
    paused = _utc("paused_at", paused_at)
    resumed = _utc("resumed_at", resumed_at)
    if resumed < paused:
        raise ValueError(f"resumed_at ({resumed.isoformat()}) is before paused_at ({paused.isoformat()})")
    remaining = _working_time_between(paused, due, calendar)
    if remaining <= _ZERO:
        return resumed
    return _add_working_time(resumed, remaining, calendar)


def sla_state(*, now: datetime, due_at: datetime, remind_at: datetime | None) -> SlaState:
    """Where ``now`` falls against the deadline; both boundaries belong to the later state."""
    now_utc = _utc("now", now)
    due = _utc("due_at", due_at)
    remind = None if remind_at is None else _utc("remind_at", remind_at)
    if now_utc >= due:
        return SlaState.BREACHED
    if remind is not None and now_utc >= remind:
        return SlaState.DUE_SOON
    return SlaState.ON_TIME


def time_left(*, now: datetime, due_at: datetime) -> timedelta:
    """Wall-clock time until the deadline; negative once it has passed."""
    return _utc("due_at", due_at) - _utc("now", now)


def format_time_left(delta: timedelta) -> str:
    """Time left as people say it: "1 h 05 min left", "overdue by 12 min", "2 d 3 h left"."""
    if not isinstance(delta, timedelta):
        raise TypeError(f"delta must be a timedelta, got {type(delta).__name__}")
    # Zero counts as overdue because sla_state calls a request breached exactly at its deadline.
    overdue = delta <= _ZERO
    # Truncate to whole minutes, like a countdown: never show more time left than there really is.
    total_minutes = abs(delta) // _ONE_MINUTE
    if total_minutes < 1:
        amount = "less than a minute"
    elif total_minutes < 60:
        amount = f"{total_minutes} min"
    elif total_minutes < 24 * 60:
        hours, minutes = divmod(total_minutes, 60)
        amount = f"{hours} h {minutes:02d} min"
    else:
        # Minutes are noise at this scale.
        days, rest = divmod(total_minutes, 24 * 60)
        amount = f"{days} d {rest // 60} h"
    return f"overdue by {amount}" if overdue else f"{amount} left"


def timer_countdowns(
    moments: Iterable[datetime | None], *, now: datetime, horizon: timedelta, resolution: timedelta
) -> list[float]:
    """Seconds from ``now`` to each moment that falls after ``now`` and within ``horizon`` (the next sweep).

    A moment already past is the running sweep's business, one beyond the horizon the next sweep's, so no
    countdown is ever longer than ``horizon``: a broker that redelivers unacknowledged messages after a
    visibility timeout longer than that never runs it twice. Moments are rounded up to ``resolution`` and
    merged, so that a burst of deadlines in the same instant costs one check, never an early one.
    """
    if resolution <= _ZERO:
        raise ValueError("resolution must be positive")
    now_utc = _utc("now", now)
    step = resolution.total_seconds()
    countdowns: set[float] = set()
    for moment in moments:
        if moment is None:
            continue
        ahead = _utc("moment", moment) - now_utc
        if _ZERO < ahead <= horizon:
            countdowns.add(min(math.ceil(ahead.total_seconds() / step) * step, horizon.total_seconds()))
    return sorted(countdowns)
