"""The SLA clock's edges that `test_sla_clock.py` leaves open, found by mutation testing (`make mutate`).

Each test pins one rule a plausible slip would break: a pause at or after the deadline, a calendar working all
seven days, multi-day "time left", the exact limit of days without work, the messages of refused input. Pure:
no database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import pytest

from requests import sla
from requests.sla import (
    MAX_DAYS_WITHOUT_WORK,
    Calendar,
    SlaState,
    add_working_minutes,
    deadline_offsets,
    due_at,
    format_time_left,
    reminder_at,
    resume_deadline,
    sla_state,
    time_left,
    timer_countdowns,
    working_minutes_between,
)
from tests.requests.test_sla_clock import BUSINESS, WEEKDAYS, london, utc

# Pure functions: the same on every database engine, so run on the SQLite leg only (README, Development).
pytestmark = pytest.mark.engine_independent

EVERY_DAY = Calendar(
    time_zone="Europe/London", working_days=frozenset(range(1, 8)), opens_at=time(9), closes_at=time(17)
)


# --- a pause at or after the deadline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paused", "resumed"),
    [
        pytest.param(london(2026, 1, 9, 12), london(2026, 1, 10, 11), id="paused-at-deadline-resumed-saturday"),
        pytest.param(london(2026, 1, 9, 15), london(2026, 1, 9, 20), id="paused-after-deadline-resumed-at-night"),
        pytest.param(london(2026, 1, 9, 12), london(2026, 1, 9, 12), id="resumed-at-once"),
    ],
)
def test_a_request_paused_at_or_after_its_deadline_is_due_on_resumption(paused, resumed) -> None:
    # Due Friday 12:00; resumed outside business hours it is due at the resumption, not at Monday's opening.
    result = resume_deadline(due_at=london(2026, 1, 9, 12), paused_at=paused, resumed_at=resumed, calendar=BUSINESS)
    assert result == resumed
    assert result.tzinfo is UTC


def test_a_pause_with_one_working_minute_left_resumed_on_saturday_ends_monday() -> None:
    result = resume_deadline(
        due_at=london(2026, 1, 9, 12, 1),
        paused_at=london(2026, 1, 9, 12),
        resumed_at=london(2026, 1, 10, 11),
        calendar=BUSINESS,
    )
    assert result == utc(2026, 1, 12, 9, 1)


def test_without_a_calendar_a_pause_after_the_deadline_is_due_on_resumption() -> None:
    resumed = utc(2026, 1, 5, 20)
    assert (
        resume_deadline(due_at=utc(2026, 1, 5, 12), paused_at=utc(2026, 1, 5, 13), resumed_at=resumed, calendar=None)
        == resumed
    )


def test_resume_refuses_a_resumption_before_the_pause_with_both_times() -> None:
    with pytest.raises(
        ValueError,
        match=r"resumed_at \(2026-01-05T09:00:00\+00:00\) is before paused_at \(2026-01-05T10:00:00\+00:00\)",
    ):
        resume_deadline(
            due_at=utc(2026, 1, 5, 12), paused_at=utc(2026, 1, 5, 10), resumed_at=utc(2026, 1, 5, 9), calendar=None
        )


# --- calendars ------------------------------------------------------------------------------------------------------


def test_a_calendar_working_all_seven_days_is_accepted_and_works_weekends() -> None:
    assert EVERY_DAY.working_days == frozenset({1, 2, 3, 4, 5, 6, 7})
    # Friday 16:00 + 2 working hours: one today, one on Saturday from 09:00.
    assert due_at(start=london(2026, 1, 9, 16), sla_minutes=120, calendar=EVERY_DAY) == utc(2026, 1, 10, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"working_days": [0, 1]}, r"working_days must be ISO weekdays 1 \(Mon\) to 7 \(Sun\), got \[0, 1\]"),
        ({"working_days": {8}}, r"got \[8\]"),
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
        ({"time_zone": "../etc/passwd"}, "unknown time zone"),
        ({"opens_at": time(9, tzinfo=UTC)}, "local wall times and must not carry a tzinfo"),
        ({"closes_at": time(17, tzinfo=UTC)}, "local wall times"),
        ({"closes_at": time(8)}, r"closes_at \(08:00:00\) must be after opens_at \(09:00:00\)"),
    ],
)
def test_a_bad_calendar_is_refused_where_it_is_built_with_a_clear_message(kwargs, message) -> None:
    fields = {"time_zone": "Europe/London", "working_days": WEEKDAYS, "opens_at": time(9), "closes_at": time(17)}
    with pytest.raises(ValueError, match=message):
        Calendar(**(fields | kwargs))


def test_a_calendar_given_lists_is_hashable_and_equal_to_one_given_sets() -> None:
    listed = Calendar(
        time_zone="Europe/London", working_days=[1, 2, 3, 4, 5], opens_at=time(9), closes_at=time(17), holidays=[]
    )
    assert listed == BUSINESS
    assert hash(listed) == hash(BUSINESS)
    assert isinstance(listed.working_days, frozenset)
    assert isinstance(listed.holidays, frozenset)
    assert BUSINESS.holidays == frozenset()


def test_a_calendar_without_working_days_is_built_and_refused_only_when_asked() -> None:
    calendar = replace(BUSINESS, working_days=frozenset())
    with pytest.raises(
        ValueError, match=r"calendar has no working day within 3660 days \(working days \[\], 0 holidays\)"
    ):
        due_at(start=utc(2026, 1, 5), sla_minutes=1, calendar=calendar)


def test_the_limit_of_days_without_work_is_exact() -> None:
    assert MAX_DAYS_WITHOUT_WORK == 3660
    start = date(2026, 1, 5)  # a Monday, working days Monday to Sunday
    # 3659 days off then a working day: found. 3660 days off: refused.
    found = replace(EVERY_DAY, holidays=frozenset(start + timedelta(days=d) for d in range(MAX_DAYS_WITHOUT_WORK - 1)))
    opening = start + timedelta(days=MAX_DAYS_WITHOUT_WORK - 1)
    assert due_at(start=london(2026, 1, 5, 9), sla_minutes=0, calendar=found) == datetime.combine(
        opening, time(9), tzinfo=BUSINESS.zone
    ).astimezone(UTC)
    refused = replace(EVERY_DAY, holidays=frozenset(start + timedelta(days=d) for d in range(MAX_DAYS_WITHOUT_WORK)))
    with pytest.raises(ValueError, match="3660 holidays"):
        due_at(start=london(2026, 1, 5, 9), sla_minutes=0, calendar=refused)


def test_working_days_between_holidays_reset_the_count() -> None:
    # Every other day off for far longer than the limit: never 3660 days in a row without work.
    start = date(2026, 1, 5)
    calendar = replace(EVERY_DAY, holidays=frozenset(start + timedelta(days=2 * d) for d in range(2000)))
    result = due_at(start=london(2026, 1, 5, 9), sla_minutes=480 * 1900, calendar=calendar)
    assert result > utc(2036, 1, 1)


def test_a_deadline_at_closing_stays_that_day_and_a_start_at_closing_moves_on() -> None:
    assert add_working_minutes(start=london(2026, 1, 5, 16), minutes=60, calendar=BUSINESS) == utc(2026, 1, 5, 17)
    assert add_working_minutes(start=london(2026, 1, 5, 17), minutes=0, calendar=BUSINESS) == utc(2026, 1, 6, 9)


def test_a_dst_jump_that_swallows_the_working_hours_leaves_no_working_time() -> None:
    # Sunday 2026-03-29 01:00-02:00 London does not exist: 01:30 (read as GMT) is 01:30 UTC, 02:10 BST is 01:10 UTC.
    calendar = Calendar(
        time_zone="Europe/London", working_days=frozenset({7}), opens_at=time(1, 30), closes_at=time(2, 10)
    )
    assert working_minutes_between(start=utc(2026, 3, 28), end=utc(2026, 3, 30), calendar=calendar) == 0
    assert working_minutes_between(start=utc(2026, 3, 21), end=utc(2026, 3, 23), calendar=calendar) == 40


# --- minutes between --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(london(2026, 1, 5, 10), london(2026, 1, 5, 10), 0, id="empty"),
        pytest.param(london(2026, 1, 5, 11), london(2026, 1, 5, 10), 0, id="reversed"),
        pytest.param(london(2026, 1, 5, 16, 59), london(2026, 1, 6, 9, 1), 2, id="over-night"),
        pytest.param(london(2026, 1, 5, 8), london(2026, 1, 5, 9), 0, id="before-opening"),
        pytest.param(london(2026, 1, 5, 17), london(2026, 1, 5, 18), 0, id="after-closing"),
        pytest.param(london(2026, 1, 9, 9), london(2026, 1, 12, 17), 960, id="weekend-skipped"),
    ],
)
def test_working_minutes_between_edges(start, end, expected) -> None:
    assert working_minutes_between(start=start, end=end, calendar=BUSINESS) == expected


def test_wall_minutes_between() -> None:
    assert working_minutes_between(start=utc(2026, 1, 5, 10), end=utc(2026, 1, 5, 10, 1, 30), calendar=None) == 1.5
    assert working_minutes_between(start=utc(2026, 1, 5, 11), end=utc(2026, 1, 5, 10), calendar=None) == 0


# --- reminders and states --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("percent", "minutes"), [(0, 0), (1, 1.2), (50, 60), (99, 118.8), (100, 120)])
def test_the_reminder_at_each_percentage(percent, minutes) -> None:
    expected = utc(2026, 1, 5, 10) + timedelta(minutes=minutes)
    assert reminder_at(start=utc(2026, 1, 5, 10), sla_minutes=120, percent=percent, calendar=None) == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"percent": True}, TypeError, "percent must be a number, got bool"),
        ({"percent": "75"}, TypeError, "percent must be a number, got str"),
        ({"percent": 101}, ValueError, "percent must be between 0 and 100, got 101"),
        ({"percent": -1}, ValueError, "percent must be between 0 and 100, got -1"),
        ({"sla_minutes": True}, TypeError, "sla_minutes must be a number of minutes, got bool"),
        ({"sla_minutes": "120"}, TypeError, "sla_minutes must be a number of minutes, got str"),
        ({"sla_minutes": -1}, ValueError, "sla_minutes must be a finite, non-negative number of minutes, got -1"),
        ({"start": "2026-01-05"}, TypeError, "start must be a datetime, got str"),
        ({"start": datetime(2026, 1, 5)}, ValueError, "start must be timezone-aware, got naive 2026-01-05T00:00:00"),
    ],
)
def test_bad_reminder_input_is_refused_with_a_clear_message(kwargs, error, message) -> None:
    values = {"start": utc(2026, 1, 5, 10), "sla_minutes": 120, "percent": 75, "calendar": None} | kwargs
    with pytest.raises(error, match=f"^{message}$"):
        reminder_at(**values)


def test_zero_minutes_is_allowed_and_a_float_is_a_number() -> None:
    assert due_at(start=utc(2026, 1, 5, 10), sla_minutes=0, calendar=None) == utc(2026, 1, 5, 10)
    assert add_working_minutes(start=utc(2026, 1, 5, 10), minutes=0.5, calendar=None) == utc(2026, 1, 5, 10, 0, 30)


def test_deadline_offsets_are_the_sla_and_the_reminder() -> None:
    assert deadline_offsets(sla_minutes=120, percent=75, calendar=None) == (
        timedelta(minutes=120),
        timedelta(minutes=90),
    )
    assert deadline_offsets(sla_minutes=120, percent=75, calendar=EVERY_DAY) is None


@pytest.mark.parametrize(
    ("now", "remind", "expected"),
    [
        (utc(2026, 1, 5, 11, 29), utc(2026, 1, 5, 11, 30), SlaState.ON_TIME),
        (utc(2026, 1, 5, 11, 30), utc(2026, 1, 5, 11, 30), SlaState.DUE_SOON),
        (utc(2026, 1, 5, 11, 59), None, SlaState.ON_TIME),
        (utc(2026, 1, 5, 12), None, SlaState.BREACHED),
        (utc(2026, 1, 5, 12), utc(2026, 1, 5, 11, 30), SlaState.BREACHED),
    ],
)
def test_sla_state_boundaries(now, remind, expected) -> None:
    assert sla_state(now=now, due_at=utc(2026, 1, 5, 12), remind_at=remind) is expected


# --- time left, as people say it --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        pytest.param(timedelta(days=2, hours=23), "2 d 23 h left", id="2d23h"),
        pytest.param(timedelta(days=2, hours=23, minutes=59), "2 d 23 h left", id="2d23h59"),
        pytest.param(timedelta(days=1, minutes=59), "1 d 0 h left", id="1d0h59"),
        pytest.param(timedelta(days=1, hours=1), "1 d 1 h left", id="1d1h"),
        pytest.param(timedelta(days=10, hours=12), "10 d 12 h left", id="10d12h"),
        pytest.param(timedelta(hours=23, minutes=59, seconds=59), "23 h 59 min left", id="just-under-a-day"),
        pytest.param(timedelta(hours=2, minutes=7), "2 h 07 min left", id="2h07"),
        pytest.param(timedelta(hours=10, minutes=30), "10 h 30 min left", id="10h30"),
        pytest.param(timedelta(minutes=2), "2 min left", id="2min"),
        pytest.param(-timedelta(days=2, hours=23), "overdue by 2 d 23 h", id="overdue-2d23h"),
        pytest.param(-timedelta(minutes=1), "overdue by 1 min", id="overdue-1min"),
        pytest.param(-timedelta(minutes=59), "overdue by 59 min", id="overdue-59min"),
        pytest.param(-timedelta(hours=1), "overdue by 1 h 00 min", id="overdue-1h"),
    ],
)
def test_format_time_left_over_days_and_hours(delta, expected) -> None:
    assert format_time_left(delta) == expected


def test_format_time_left_refuses_anything_but_a_timedelta() -> None:
    with pytest.raises(TypeError, match=r"^delta must be a timedelta, got int$"):
        format_time_left(120)


def test_the_module_exports_what_callers_use() -> None:
    assert set(sla.__all__) >= {"Calendar", "due_at", "resume_deadline", "format_time_left"}


# --- refused input names the argument ---------------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 5, 10)
AWARE = utc(2026, 1, 5, 10)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("start", lambda: add_working_minutes(start=NAIVE, minutes=1, calendar=None)),
        ("minutes", lambda: add_working_minutes(start=AWARE, minutes=-1, calendar=None)),
        ("start", lambda: working_minutes_between(start=NAIVE, end=AWARE, calendar=None)),
        ("end", lambda: working_minutes_between(start=AWARE, end=NAIVE, calendar=None)),
        ("start", lambda: due_at(start=NAIVE, sla_minutes=1, calendar=None)),
        ("sla_minutes", lambda: due_at(start=AWARE, sla_minutes=-1, calendar=None)),
        ("due_at", lambda: resume_deadline(due_at=NAIVE, paused_at=AWARE, resumed_at=AWARE, calendar=None)),
        ("paused_at", lambda: resume_deadline(due_at=AWARE, paused_at=NAIVE, resumed_at=AWARE, calendar=None)),
        ("resumed_at", lambda: resume_deadline(due_at=AWARE, paused_at=AWARE, resumed_at=NAIVE, calendar=None)),
        ("now", lambda: sla_state(now=NAIVE, due_at=AWARE, remind_at=None)),
        ("due_at", lambda: sla_state(now=AWARE, due_at=NAIVE, remind_at=None)),
        ("remind_at", lambda: sla_state(now=AWARE, due_at=AWARE, remind_at=NAIVE)),
        ("now", lambda: time_left(now=NAIVE, due_at=AWARE)),
        ("due_at", lambda: time_left(now=AWARE, due_at=NAIVE)),
    ],
)
def test_refused_input_names_the_argument(name, call) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be "):
        call()


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: such a datetime is naive for Python."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


def test_a_datetime_whose_tzinfo_has_no_offset_counts_as_naive() -> None:
    with pytest.raises(ValueError, match=r"^start must be timezone-aware"):
        due_at(start=datetime(2026, 1, 5, 10, tzinfo=_NoOffset()), sla_minutes=1, calendar=None)


def test_an_aware_opening_time_is_refused_with_the_whole_message() -> None:
    with pytest.raises(ValueError, match=r"^opens_at and closes_at are local wall times and must not carry a tzinfo$"):
        replace(BUSINESS, opens_at=time(9, tzinfo=UTC))


# --- the count of days without work restarts after each working day ---------------------------------------------------


def _gap_after_one_working_day(days_off: int) -> Calendar:
    # Monday 2026-01-05 is worked, then ``days_off`` days in a row are holidays, then work resumes.
    first = date(2026, 1, 6)
    return replace(EVERY_DAY, holidays=frozenset(first + timedelta(days=d) for d in range(days_off)))


def test_a_gap_just_under_the_limit_after_a_working_day_is_bridged() -> None:
    calendar = _gap_after_one_working_day(MAX_DAYS_WITHOUT_WORK - 1)
    back = date(2026, 1, 6) + timedelta(days=MAX_DAYS_WITHOUT_WORK - 1)
    expected = datetime.combine(back, time(9, 1), tzinfo=BUSINESS.zone).astimezone(UTC)
    assert due_at(start=london(2026, 1, 5, 9), sla_minutes=481, calendar=calendar) == expected


def test_a_gap_at_the_limit_after_a_working_day_is_refused() -> None:
    with pytest.raises(ValueError, match="no working day within 3660 days"):
        due_at(start=london(2026, 1, 5, 9), sla_minutes=481, calendar=_gap_after_one_working_day(MAX_DAYS_WITHOUT_WORK))


def test_days_without_work_are_counted_in_a_row_not_in_total() -> None:
    # Only Mondays are worked: 6 days off a week, over 3660 days off in total before this deadline.
    mondays = replace(EVERY_DAY, working_days=frozenset({1}))
    result = due_at(start=london(2026, 1, 5, 9), sla_minutes=480 * 700, calendar=mondays)
    assert result == datetime.combine(
        date(2026, 1, 5) + timedelta(weeks=699), time(17), tzinfo=BUSINESS.zone
    ).astimezone(UTC)


# timer_countdowns: when the precise SLA checks run (requests/services/timers.py schedules them).
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HORIZON, RESOLUTION = timedelta(seconds=30), timedelta(milliseconds=100)


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([10.0], [10.0]),
        ([0.0, -5.0], []),  # due now or past: the running sweep's business
        ([30.0], [30.0]),  # at the horizon: still this interval's
        ([30.01], []),  # beyond the horizon: the next sweep's
        ([1.01, 1.04, 1.1], [1.1]),  # merged, rounded up: never early
        ([29.95], [30.0]),  # rounded up, but never past the horizon
        ([20.0, 5.0, 12.0], [5.0, 12.0, 20.0]),  # in order
        ([0.01], [0.1]),
    ],
)
def test_timer_countdowns(offsets, expected) -> None:
    moments = [T0 + timedelta(seconds=offset) for offset in offsets]
    got = timer_countdowns([*moments, None], now=T0, horizon=HORIZON, resolution=RESOLUTION)
    assert got == pytest.approx(expected)
    assert isinstance(got, list)


def test_timer_countdowns_reads_moments_in_any_zone_as_instants() -> None:
    moment = (T0 + timedelta(seconds=12)).astimezone(BUSINESS.zone)
    assert timer_countdowns([moment], now=T0.astimezone(BUSINESS.zone), horizon=HORIZON, resolution=RESOLUTION) == [
        pytest.approx(12.0)
    ]


def test_timer_countdowns_of_nothing_is_nothing() -> None:
    assert timer_countdowns([None, None], now=T0, horizon=HORIZON, resolution=RESOLUTION) == []


@pytest.mark.parametrize("resolution", [timedelta(0), timedelta(seconds=-1)])
def test_timer_countdowns_refuses_a_resolution_that_is_not_positive(resolution) -> None:
    with pytest.raises(ValueError, match=r"^resolution must be positive$"):
        timer_countdowns([T0 + timedelta(seconds=5)], now=T0, horizon=HORIZON, resolution=resolution)


@pytest.mark.parametrize(
    ("moments", "now", "message"),
    [
        ([T0], datetime(2026, 11, 23, 10, 0), r"^now must be timezone-aware"),
        ([datetime(2026, 11, 23, 10, 0, 5)], T0, r"^moment must be timezone-aware"),
    ],
)
def test_timer_countdowns_refuses_naive_times(moments, now, message) -> None:
    with pytest.raises(ValueError, match=message):
        timer_countdowns(moments, now=now, horizon=HORIZON, resolution=RESOLUTION)
