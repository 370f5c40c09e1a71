"""Table-driven tests for the pure SLA clock (requests/sla.py); no Django, no database.

Every expected instant is written out by hand in UTC, never recomputed with the code under test. London is on
GMT (= UTC) until 2026-03-29 01:00 and from 2026-10-25 02:00 BST, and on BST (= UTC+1) in between.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from requests.sla import (
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
    working_minutes_between,
)

# Pure functions: the same on every database engine, so run on the SQLite leg only (README, Development).
pytestmark = pytest.mark.engine_independent

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
DUBAI = ZoneInfo("Asia/Dubai")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


WEEKDAYS = frozenset({1, 2, 3, 4, 5})
BUSINESS = Calendar(time_zone="Europe/London", working_days=WEEKDAYS, opens_at=time(9), closes_at=time(17))
# Monday 2026-01-12 off.
HOLIDAY_MONDAY = replace(BUSINESS, holidays=frozenset({date(2026, 1, 12)}))
# Christmas Friday and the Boxing Day substitute Monday off.
CHRISTMAS = replace(BUSINESS, holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
NEW_YORK_HOURS = Calendar(time_zone="America/New_York", working_days=WEEKDAYS, opens_at=time(9), closes_at=time(17))
DUBAI_SUN_THU = Calendar(
    time_zone="Asia/Dubai", working_days=frozenset({7, 1, 2, 3, 4}), opens_at=time(9), closes_at=time(17)
)
# Works only the small hours of Sunday, so the DST jump falls inside working time.
SUNDAY_NIGHT_SHIFT = Calendar(
    time_zone="Europe/London", working_days=frozenset({7}), opens_at=time(0), closes_at=time(3)
)
NO_WORKING_DAYS = Calendar(time_zone="Europe/London", working_days=frozenset(), opens_at=time(9), closes_at=time(17))
# Only Mondays are worked and every Monday for 600 weeks (> 3660 days) is a holiday.
EVERY_MONDAY_OFF = Calendar(
    time_zone="Europe/London",
    working_days=frozenset({1}),
    opens_at=time(9),
    closes_at=time(17),
    holidays=frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(600)),
)


def assert_utc(result: datetime, expected: datetime) -> None:
    assert result == expected
    assert result.tzinfo is UTC


# --- due_at -------------------------------------------------------------------------------------------------------

DUE_CASES = [
    # Wall clock: every minute counts, weekends and nights included.
    pytest.param(utc(2026, 1, 5, 10), 120, None, utc(2026, 1, 5, 12), id="wall-utc"),
    pytest.param(utc(2026, 1, 9, 16), 120, None, utc(2026, 1, 9, 18), id="wall-ignores-weekend"),
    pytest.param(london(2026, 6, 1, 10), 120, None, utc(2026, 6, 1, 11), id="wall-london-summer-start"),
    pytest.param(datetime(2026, 1, 5, 9, tzinfo=NEW_YORK), 120, None, utc(2026, 1, 5, 16), id="wall-new-york-start"),
    # 00:30 GMT + 2 real hours = 02:30 UTC (03:30 BST); wall-clock arithmetic in London time would say 01:30 UTC.
    pytest.param(london(2026, 3, 29, 0, 30), 120, None, utc(2026, 3, 29, 2, 30), id="wall-across-spring-forward"),
    # 00:30 BST is 23:30 UTC the day before; 2 real hours later is 01:30 UTC (the second 01:30 in London).
    pytest.param(london(2026, 10, 25, 0, 30), 120, None, utc(2026, 10, 25, 1, 30), id="wall-across-fall-back"),
    pytest.param(utc(2026, 1, 5, 10, 7), 0, None, utc(2026, 1, 5, 10, 7), id="wall-zero-minutes"),
    # Business hours Mon-Fri 09:00-17:00 Europe/London.
    pytest.param(london(2026, 1, 9, 16), 120, BUSINESS, utc(2026, 1, 12, 10), id="friday-16h-to-monday-10h"),
    pytest.param(london(2026, 1, 10, 11), 120, BUSINESS, utc(2026, 1, 12, 11), id="saturday-to-monday-11h"),
    pytest.param(london(2026, 1, 11, 23, 59), 120, BUSINESS, utc(2026, 1, 12, 11), id="sunday-night"),
    pytest.param(london(2026, 1, 5, 7, 30), 120, BUSINESS, utc(2026, 1, 5, 11), id="before-opening"),
    pytest.param(london(2026, 1, 5, 10), 120, BUSINESS, utc(2026, 1, 5, 12), id="inside-hours"),
    pytest.param(london(2026, 1, 5, 18), 120, BUSINESS, utc(2026, 1, 6, 11), id="after-closing"),
    pytest.param(london(2026, 1, 5, 15), 120, BUSINESS, utc(2026, 1, 5, 17), id="ends-exactly-at-closing"),
    pytest.param(london(2026, 1, 5, 17), 120, BUSINESS, utc(2026, 1, 6, 11), id="starts-exactly-at-closing"),
    pytest.param(london(2026, 1, 9, 17), 120, BUSINESS, utc(2026, 1, 12, 11), id="friday-at-closing"),
    pytest.param(london(2026, 1, 5, 16, 59, 30), 120, BUSINESS, utc(2026, 1, 6, 10, 59, 30), id="keeps-seconds"),
    pytest.param(london(2026, 1, 5, 9), 1000, BUSINESS, utc(2026, 1, 7, 9, 40), id="several-days"),
    pytest.param(london(2026, 6, 5, 16), 120, BUSINESS, utc(2026, 6, 8, 9), id="summer-friday-bst"),
    # Holidays.
    pytest.param(london(2026, 1, 9, 16), 120, HOLIDAY_MONDAY, utc(2026, 1, 13, 10), id="holiday-monday-to-tuesday"),
    pytest.param(london(2026, 1, 12, 10), 120, HOLIDAY_MONDAY, utc(2026, 1, 13, 11), id="filed-on-holiday"),
    pytest.param(london(2026, 12, 24, 16), 120, CHRISTMAS, utc(2026, 12, 29, 10), id="christmas-long-weekend"),
    # DST weekends: Sunday 2026-03-29 (GMT -> BST) and Sunday 2026-10-25 (BST -> GMT).
    pytest.param(london(2026, 3, 27, 16), 120, BUSINESS, utc(2026, 3, 30, 9), id="dst-spring-weekend"),
    pytest.param(london(2026, 3, 29, 12), 120, BUSINESS, utc(2026, 3, 30, 10), id="dst-spring-sunday-filing"),
    pytest.param(london(2026, 3, 26, 9), 1440, BUSINESS, utc(2026, 3, 30, 16), id="dst-spring-three-days"),
    pytest.param(london(2026, 10, 23, 16), 120, BUSINESS, utc(2026, 10, 26, 10), id="dst-autumn-weekend"),
    pytest.param(london(2026, 10, 25, 12), 120, BUSINESS, utc(2026, 10, 26, 11), id="dst-autumn-sunday-filing"),
    # Other calendars; the start's own time zone does not matter, only the instant.
    pytest.param(london(2026, 1, 5, 21), 120, NEW_YORK_HOURS, utc(2026, 1, 6, 15), id="new-york-hours-london-start"),
    # US clocks go forward on 2026-03-08, three weeks before London's.
    pytest.param(
        datetime(2026, 3, 6, 16, tzinfo=NEW_YORK), 120, NEW_YORK_HOURS, utc(2026, 3, 9, 14), id="new-york-dst"
    ),
    pytest.param(datetime(2026, 1, 8, 16, tzinfo=DUBAI), 120, DUBAI_SUN_THU, utc(2026, 1, 11, 6), id="dubai-sun-thu"),
    # Zero minutes: the next working instant.
    pytest.param(london(2026, 1, 5, 10, 15), 0, BUSINESS, utc(2026, 1, 5, 10, 15), id="zero-inside-hours"),
    pytest.param(london(2026, 1, 5, 9), 0, BUSINESS, utc(2026, 1, 5, 9), id="zero-at-opening"),
    pytest.param(london(2026, 1, 10, 12), 0, BUSINESS, utc(2026, 1, 12, 9), id="zero-on-weekend"),
    pytest.param(london(2026, 1, 9, 17), 0, BUSINESS, utc(2026, 1, 12, 9), id="zero-at-friday-closing"),
]


@pytest.mark.parametrize(("start", "sla_minutes", "calendar", "expected"), DUE_CASES)
def test_due_at(start: datetime, sla_minutes: int, calendar: Calendar | None, expected: datetime) -> None:
    assert_utc(due_at(start=start, sla_minutes=sla_minutes, calendar=calendar), expected)


@pytest.mark.parametrize(("start", "sla_minutes", "calendar", "expected"), DUE_CASES)
def test_add_working_minutes_matches_due_at(
    start: datetime, sla_minutes: int, calendar: Calendar | None, expected: datetime
) -> None:
    assert_utc(add_working_minutes(start=start, minutes=sla_minutes, calendar=calendar), expected)


@pytest.mark.parametrize(
    ("start", "minutes", "calendar", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 10), 0.5, None, utc(2026, 1, 5, 10, 0, 30), id="wall-half-minute"),
        pytest.param(london(2026, 1, 5, 9), 90.5, BUSINESS, utc(2026, 1, 5, 10, 30, 30), id="calendar-fraction"),
        pytest.param(london(2026, 1, 5, 16), 60.25, BUSINESS, utc(2026, 1, 6, 9, 0, 15), id="fraction-next-day"),
    ],
)
def test_add_fractional_minutes(start: datetime, minutes: float, calendar: Calendar | None, expected: datetime) -> None:
    assert_utc(add_working_minutes(start=start, minutes=minutes, calendar=calendar), expected)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        # 100000 = 208 days x 480 + 160: 41 weeks + Mon-Wed, then 2 h 40 on Thursday 22 Oct (BST).
        pytest.param(100_000, utc(2026, 10, 22, 10, 40), id="100k-minutes"),
        # 1000000 = 2083 days x 480 + 160: 416 weeks + Mon-Wed, then 2 h 40 on Thursday 29 Dec 2033 (GMT).
        pytest.param(1_000_000, utc(2033, 12, 29, 11, 40), id="1m-minutes"),
    ],
)
def test_large_minute_count_is_fast_and_exact(minutes: int, expected: datetime) -> None:
    started = clock.perf_counter()
    result = add_working_minutes(start=london(2026, 1, 5, 9), minutes=minutes, calendar=BUSINESS)
    elapsed = clock.perf_counter() - started
    assert_utc(result, expected)
    # Day stepping takes milliseconds; minute stepping would take far longer. Generous bound against slow CI.
    assert elapsed < 1.0
    assert working_minutes_between(start=london(2026, 1, 5, 9), end=expected, calendar=BUSINESS) == minutes


# --- working_minutes_between --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "calendar", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 10), utc(2026, 1, 5, 11, 30), None, 90.0, id="wall"),
        pytest.param(utc(2026, 1, 5, 10), utc(2026, 1, 5, 10, 0, 30), None, 0.5, id="wall-half-minute"),
        pytest.param(utc(2026, 1, 5, 11), utc(2026, 1, 5, 10), None, 0.0, id="wall-end-before-start"),
        pytest.param(utc(2026, 1, 5, 10), utc(2026, 1, 5, 10), None, 0.0, id="wall-empty"),
        # Local 00:00 -> 03:00 on the spring-forward night is only 2 real hours.
        pytest.param(london(2026, 3, 29, 0), london(2026, 3, 29, 3), None, 120.0, id="wall-spring-forward-night"),
        pytest.param(london(2026, 1, 9, 16), london(2026, 1, 12, 10), BUSINESS, 120.0, id="friday-to-monday"),
        pytest.param(london(2026, 1, 10, 0), london(2026, 1, 12, 0), BUSINESS, 0.0, id="weekend"),
        pytest.param(london(2026, 1, 5, 8), london(2026, 1, 5, 18), BUSINESS, 480.0, id="whole-day"),
        pytest.param(london(2026, 1, 5, 0), london(2026, 1, 12, 0), BUSINESS, 2400.0, id="whole-week"),
        pytest.param(london(2026, 1, 5, 17), london(2026, 1, 6, 9), BUSINESS, 0.0, id="night"),
        pytest.param(london(2026, 1, 6, 10), london(2026, 1, 5, 10), BUSINESS, 0.0, id="end-before-start"),
        pytest.param(london(2026, 1, 9, 16), london(2026, 1, 13, 10), HOLIDAY_MONDAY, 120.0, id="holiday-monday"),
        pytest.param(london(2026, 3, 27, 16), utc(2026, 3, 30, 9), BUSINESS, 120.0, id="dst-spring-weekend"),
        # The night shift is 00:00-03:00 local: 2 real hours on spring-forward Sunday, 4 on fall-back Sunday.
        pytest.param(utc(2026, 3, 28), utc(2026, 3, 30), SUNDAY_NIGHT_SHIFT, 120.0, id="shift-spring-forward"),
        pytest.param(utc(2026, 10, 24), utc(2026, 10, 26), SUNDAY_NIGHT_SHIFT, 240.0, id="shift-fall-back"),
        pytest.param(utc(2026, 1, 10), utc(2026, 1, 12), SUNDAY_NIGHT_SHIFT, 180.0, id="shift-ordinary"),
        pytest.param(utc(2026, 1, 1), utc(2027, 1, 1), NO_WORKING_DAYS, 0.0, id="no-working-days-is-zero"),
    ],
)
def test_working_minutes_between(start: datetime, end: datetime, calendar: Calendar | None, expected: float) -> None:
    assert working_minutes_between(start=start, end=end, calendar=calendar) == expected


def test_shift_crossing_dst_deadline() -> None:
    # 150 working minutes from Sunday 2026-03-29 00:00 GMT: the 2 real hours of that night (to 03:00 BST), then
    # 30 minutes of the next Sunday's shift (GMT+1 by then: 00:30 BST = 23:30 UTC Saturday).
    result = due_at(start=london(2026, 3, 29, 0), sla_minutes=150, calendar=SUNDAY_NIGHT_SHIFT)
    assert_utc(result, utc(2026, 4, 4, 23, 30))


# --- reminder_at --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "sla_minutes", "percent", "calendar", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 12), 120, 75, None, utc(2026, 1, 5, 13, 30), id="wall-75pct"),
        pytest.param(london(2026, 1, 5, 9), 120, 75, BUSINESS, utc(2026, 1, 5, 10, 30), id="business-75pct"),
        pytest.param(london(2026, 1, 5, 16), 120, 75, BUSINESS, utc(2026, 1, 6, 9, 30), id="across-night"),
        pytest.param(london(2026, 1, 10, 11), 120, 75, BUSINESS, utc(2026, 1, 12, 10, 30), id="from-saturday"),
        pytest.param(london(2026, 3, 27, 16), 120, 75, BUSINESS, utc(2026, 3, 30, 8, 30), id="across-dst"),
        pytest.param(utc(2026, 1, 5, 12), 45, 50, None, utc(2026, 1, 5, 12, 22, 30), id="half-of-45"),
        pytest.param(london(2026, 1, 10, 11), 120, 0, BUSINESS, utc(2026, 1, 12, 9), id="zero-pct-next-opening"),
        pytest.param(london(2026, 1, 9, 16), 120, 100, BUSINESS, utc(2026, 1, 12, 10), id="100pct-is-deadline"),
    ],
)
def test_reminder_at(
    start: datetime, sla_minutes: int, percent: int, calendar: Calendar | None, expected: datetime
) -> None:
    assert_utc(reminder_at(start=start, sla_minutes=sla_minutes, percent=percent, calendar=calendar), expected)


@pytest.mark.parametrize(
    ("sla_minutes", "percent", "expected"),
    [
        pytest.param(120, 75, (timedelta(minutes=120), timedelta(minutes=90)), id="default"),
        pytest.param(45, 50, (timedelta(minutes=45), timedelta(minutes=22, seconds=30)), id="half-of-45"),
        pytest.param(1, 100, (timedelta(minutes=1), timedelta(minutes=1)), id="one-minute"),
    ],
)
def test_deadline_offsets_without_calendar(
    sla_minutes: int, percent: int, expected: tuple[timedelta, timedelta]
) -> None:
    assert deadline_offsets(sla_minutes=sla_minutes, percent=percent, calendar=None) == expected
    # The offsets are exactly what due_at and reminder_at give from any start, across a DST change too: they are
    # added to the UTC instant (as the database does), not to the local wall time.
    start = london(2026, 3, 29, 0, 30).astimezone(UTC)
    due, remind = expected
    assert due_at(start=start, sla_minutes=sla_minutes, calendar=None) == start + due
    assert reminder_at(start=start, sla_minutes=sla_minutes, percent=percent, calendar=None) == start + remind


def test_deadline_offsets_with_a_calendar_are_none() -> None:
    assert deadline_offsets(sla_minutes=120, percent=75, calendar=BUSINESS) is None


# --- resume_deadline ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "paused", "resumed", "calendar", "expected"),
    [
        pytest.param(
            utc(2026, 1, 5, 12), utc(2026, 1, 5, 10), utc(2026, 1, 5, 10, 30), None, utc(2026, 1, 5, 12, 30), id="wall"
        ),
        # Without a calendar the night counts: paused 16 h, deadline moves 16 h.
        pytest.param(
            utc(2026, 1, 5, 18), utc(2026, 1, 5, 17), utc(2026, 1, 6, 9), None, utc(2026, 1, 6, 10), id="wall-night"
        ),
        # Paused 00:30 GMT, resumed 03:30 BST: 2 real hours (3 on the wall), deadline 03:00 -> 05:00 UTC.
        pytest.param(
            utc(2026, 3, 29, 3),
            london(2026, 3, 29, 0, 30),
            london(2026, 3, 29, 3, 30),
            None,
            utc(2026, 3, 29, 5),
            id="wall-across-dst",
        ),
        pytest.param(
            utc(2026, 1, 5, 11),
            london(2026, 1, 5, 10),
            london(2026, 1, 5, 14),
            BUSINESS,
            utc(2026, 1, 5, 15),
            id="business-same-day",
        ),
        # Filed Mon 16:00, due Tue 10:00; paused Mon 16:30 with 90 working minutes left, resumed Tue 09:30.
        pytest.param(
            utc(2026, 1, 6, 10),
            london(2026, 1, 5, 16, 30),
            london(2026, 1, 6, 9, 30),
            BUSINESS,
            utc(2026, 1, 6, 11),
            id="business-pause-spans-night",
        ),
        # A pause entirely outside working hours costs nothing.
        pytest.param(
            utc(2026, 1, 6, 10),
            london(2026, 1, 5, 18),
            london(2026, 1, 6, 8),
            BUSINESS,
            utc(2026, 1, 6, 10),
            id="business-pause-outside-hours",
        ),
        pytest.param(
            utc(2026, 1, 12, 10),
            london(2026, 1, 9, 16),
            london(2026, 1, 12, 9),
            BUSINESS,
            utc(2026, 1, 12, 11),
            id="business-pause-spans-weekend",
        ),
        pytest.param(
            utc(2026, 1, 12, 10),
            london(2026, 1, 9, 16, 30),
            london(2026, 1, 10, 12),
            BUSINESS,
            utc(2026, 1, 12, 10, 30),
            id="business-resumed-on-saturday",
        ),
        # Due Mon 2026-03-30 10:00 BST; paused Fri 16:30 GMT (30 + 60 left), resumed Mon 09:00 BST.
        pytest.param(
            utc(2026, 3, 30, 9),
            london(2026, 3, 27, 16, 30),
            london(2026, 3, 30, 9),
            BUSINESS,
            utc(2026, 3, 30, 9, 30),
            id="business-across-dst",
        ),
        # Already due when paused: it stays due, from the moment it is resumed.
        pytest.param(
            utc(2026, 1, 5, 11),
            london(2026, 1, 5, 11, 30),
            london(2026, 1, 5, 14),
            BUSINESS,
            utc(2026, 1, 5, 14),
            id="paused-after-due",
        ),
        pytest.param(
            utc(2026, 1, 5, 11),
            london(2026, 1, 5, 11),
            london(2026, 1, 5, 14),
            BUSINESS,
            utc(2026, 1, 5, 14),
            id="paused-exactly-at-due",
        ),
        pytest.param(
            utc(2026, 1, 5, 11), utc(2026, 1, 5, 12), utc(2026, 1, 5, 13), None, utc(2026, 1, 5, 13), id="wall-late"
        ),
        # Zero-length pause: deadline unchanged.
        pytest.param(
            utc(2026, 1, 5, 11),
            london(2026, 1, 5, 10),
            london(2026, 1, 5, 10),
            BUSINESS,
            utc(2026, 1, 5, 11),
            id="zero-pause",
        ),
    ],
)
def test_resume_deadline(
    due: datetime, paused: datetime, resumed: datetime, calendar: Calendar | None, expected: datetime
) -> None:
    result = resume_deadline(due_at=due, paused_at=paused, resumed_at=resumed, calendar=calendar)
    assert_utc(result, expected)


def test_resume_before_pause_raises() -> None:
    with pytest.raises(ValueError, match="before paused_at"):
        resume_deadline(
            due_at=utc(2026, 1, 5, 12), paused_at=utc(2026, 1, 5, 11), resumed_at=utc(2026, 1, 5, 10), calendar=None
        )


# --- sla_state and time_left --------------------------------------------------------------------------------------

DUE = utc(2026, 1, 5, 11)
REMIND = utc(2026, 1, 5, 10, 30)


@pytest.mark.parametrize(
    ("now", "remind", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 10), REMIND, SlaState.ON_TIME, id="well-before"),
        pytest.param(utc(2026, 1, 5, 10, 29, 59, 999999), REMIND, SlaState.ON_TIME, id="just-before-remind"),
        pytest.param(utc(2026, 1, 5, 10, 30), REMIND, SlaState.DUE_SOON, id="exactly-at-remind"),
        pytest.param(datetime(2026, 1, 5, 5, 30, tzinfo=NEW_YORK), REMIND, SlaState.DUE_SOON, id="remind-other-tz"),
        pytest.param(utc(2026, 1, 5, 10, 59, 59, 999999), REMIND, SlaState.DUE_SOON, id="just-before-due"),
        pytest.param(utc(2026, 1, 5, 11), REMIND, SlaState.BREACHED, id="exactly-at-due"),
        pytest.param(utc(2026, 1, 6, 11), REMIND, SlaState.BREACHED, id="long-after"),
        pytest.param(utc(2026, 1, 5, 10, 45), None, SlaState.ON_TIME, id="no-reminder"),
        pytest.param(utc(2026, 1, 5, 10, 59, 59, 999999), None, SlaState.ON_TIME, id="no-reminder-just-before-due"),
        pytest.param(utc(2026, 1, 5, 11), None, SlaState.BREACHED, id="no-reminder-at-due"),
    ],
)
def test_sla_state(now: datetime, remind: datetime | None, expected: SlaState) -> None:
    assert sla_state(now=now, due_at=DUE, remind_at=remind) is expected


def test_sla_state_values_are_stable_strings() -> None:
    # These strings end up in the database and templates.
    assert [s.value for s in SlaState] == ["on_time", "due_soon", "breached"]
    assert SlaState.DUE_SOON == "due_soon"


@pytest.mark.parametrize(
    ("now", "due", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 10), utc(2026, 1, 5, 11, 5), timedelta(hours=1, minutes=5), id="left"),
        pytest.param(utc(2026, 1, 5, 11, 12), utc(2026, 1, 5, 11), timedelta(minutes=-12), id="overdue"),
        pytest.param(london(2026, 6, 1, 12), utc(2026, 6, 1, 12), timedelta(hours=1), id="mixed-zones"),
        # Same zone on both sides across spring-forward: 2 real hours, although the wall clock says 3.
        pytest.param(london(2026, 3, 29, 0, 30), london(2026, 3, 29, 3, 30), timedelta(hours=2), id="dst-same-zone"),
    ],
)
def test_time_left(now: datetime, due: datetime, expected: timedelta) -> None:
    assert time_left(now=now, due_at=due) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        pytest.param(timedelta(hours=1, minutes=5), "1 h 05 min left", id="1h05"),
        pytest.param(timedelta(hours=1, minutes=5, seconds=59), "1 h 05 min left", id="truncates-seconds"),
        pytest.param(timedelta(hours=1), "1 h 00 min left", id="1h00"),
        pytest.param(timedelta(minutes=45), "45 min left", id="45min"),
        pytest.param(timedelta(minutes=59, seconds=59), "59 min left", id="59min59s"),
        pytest.param(timedelta(minutes=1), "1 min left", id="1min"),
        pytest.param(timedelta(seconds=59), "less than a minute left", id="59s"),
        pytest.param(timedelta(microseconds=1), "less than a minute left", id="1us"),
        pytest.param(timedelta(hours=23, minutes=59), "23 h 59 min left", id="23h59"),
        pytest.param(timedelta(days=1), "1 d 0 h left", id="1d"),
        pytest.param(timedelta(days=2, hours=3, minutes=59), "2 d 3 h left", id="2d3h"),
        pytest.param(timedelta(0), "overdue by less than a minute", id="zero-is-overdue"),
        pytest.param(timedelta(seconds=-30), "overdue by less than a minute", id="overdue-30s"),
        pytest.param(timedelta(minutes=-12), "overdue by 12 min", id="overdue-12min"),
        pytest.param(timedelta(minutes=-12, seconds=-40), "overdue by 12 min", id="overdue-12min40s"),
        pytest.param(-timedelta(hours=2, minutes=3), "overdue by 2 h 03 min", id="overdue-2h03"),
        pytest.param(-timedelta(days=3, hours=4, minutes=30), "overdue by 3 d 4 h", id="overdue-3d4h"),
    ],
)
def test_format_time_left(delta: timedelta, expected: str) -> None:
    assert format_time_left(delta) == expected


# --- errors -------------------------------------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 5, 10)
AWARE = utc(2026, 1, 5, 10)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: add_working_minutes(start=NAIVE, minutes=10, calendar=None), id="add-wall"),
        pytest.param(lambda: add_working_minutes(start=NAIVE, minutes=10, calendar=BUSINESS), id="add-calendar"),
        pytest.param(lambda: working_minutes_between(start=NAIVE, end=AWARE, calendar=None), id="between-start"),
        pytest.param(lambda: working_minutes_between(start=AWARE, end=NAIVE, calendar=BUSINESS), id="between-end"),
        pytest.param(lambda: due_at(start=NAIVE, sla_minutes=120, calendar=None), id="due"),
        pytest.param(lambda: reminder_at(start=NAIVE, sla_minutes=120, percent=75, calendar=None), id="reminder"),
        pytest.param(
            lambda: resume_deadline(due_at=NAIVE, paused_at=AWARE, resumed_at=AWARE, calendar=None), id="resume-due"
        ),
        pytest.param(
            lambda: resume_deadline(due_at=AWARE, paused_at=NAIVE, resumed_at=AWARE, calendar=None),
            id="resume-paused",
        ),
        pytest.param(
            lambda: resume_deadline(due_at=AWARE, paused_at=AWARE, resumed_at=NAIVE, calendar=BUSINESS),
            id="resume-resumed",
        ),
        pytest.param(lambda: sla_state(now=NAIVE, due_at=AWARE, remind_at=None), id="state-now"),
        pytest.param(lambda: sla_state(now=AWARE, due_at=NAIVE, remind_at=None), id="state-due"),
        pytest.param(lambda: sla_state(now=AWARE, due_at=AWARE, remind_at=NAIVE), id="state-remind"),
        pytest.param(lambda: time_left(now=NAIVE, due_at=AWARE), id="left-now"),
        pytest.param(lambda: time_left(now=AWARE, due_at=NAIVE), id="left-due"),
    ],
)
def test_naive_datetime_raises(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: add_working_minutes(start=AWARE, minutes=-1, calendar=None), id="add-negative"),
        pytest.param(lambda: add_working_minutes(start=AWARE, minutes=-0.5, calendar=BUSINESS), id="add-negative-cal"),
        pytest.param(lambda: add_working_minutes(start=AWARE, minutes=float("nan"), calendar=None), id="add-nan"),
        pytest.param(lambda: add_working_minutes(start=AWARE, minutes=float("inf"), calendar=BUSINESS), id="add-inf"),
        pytest.param(lambda: due_at(start=AWARE, sla_minutes=-120, calendar=None), id="due-negative"),
        pytest.param(
            lambda: reminder_at(start=AWARE, sla_minutes=-120, percent=75, calendar=None), id="reminder-negative-sla"
        ),
        pytest.param(lambda: reminder_at(start=AWARE, sla_minutes=120, percent=-1, calendar=None), id="percent-neg"),
        pytest.param(lambda: reminder_at(start=AWARE, sla_minutes=120, percent=101, calendar=None), id="percent-101"),
    ],
)
def test_invalid_minutes_raise(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: due_at(start=AWARE, sla_minutes=120, calendar=NO_WORKING_DAYS), id="no-days-due"),
        pytest.param(
            lambda: add_working_minutes(start=AWARE, minutes=0, calendar=NO_WORKING_DAYS), id="no-days-zero-minutes"
        ),
        pytest.param(
            lambda: reminder_at(start=AWARE, sla_minutes=120, percent=75, calendar=NO_WORKING_DAYS), id="no-days-remind"
        ),
        pytest.param(lambda: due_at(start=AWARE, sla_minutes=1, calendar=EVERY_MONDAY_OFF), id="every-monday-off"),
    ],
)
def test_calendar_that_never_opens_raises(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="no working day"):
        call()


def test_calendar_reopening_after_long_gap_still_works() -> None:
    # 3000 days off is a long gap but below the 3660-day limit: the deadline is found, not refused.
    holidays = frozenset(date(2026, 1, 5) + timedelta(days=d) for d in range(3000))
    calendar = replace(BUSINESS, holidays=holidays)
    # Day 3000 after Mon 2026-01-05 is Fri 2034-03-24 (GMT in March before the change).
    assert_utc(due_at(start=london(2026, 1, 5, 9), sla_minutes=120, calendar=calendar), utc(2034, 3, 24, 11))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"opens_at": time(17), "closes_at": time(9)}, id="closes-before-opens"),
        pytest.param({"opens_at": time(9), "closes_at": time(9)}, id="closes-at-opens"),
        pytest.param({"working_days": frozenset({0, 1})}, id="weekday-0"),
        pytest.param({"working_days": frozenset({8})}, id="weekday-8"),
        pytest.param({"time_zone": "Mars/Olympus_Mons"}, id="unknown-zone"),
        pytest.param({"opens_at": time(9, tzinfo=UTC)}, id="aware-opening"),
    ],
)
def test_invalid_calendar_raises(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "time_zone": "Europe/London",
        "working_days": WEEKDAYS,
        "opens_at": time(9),
        "closes_at": time(17),
    }
    with pytest.raises(ValueError):
        Calendar(**(fields | kwargs))  # type: ignore[arg-type]
