"""How the portal writes amounts of money, durations and moments, wherever they are shown (pages, emails,
CSV, history).

Moments have named date formats, in one place. Templates name them, ``{{ req.filed_at|date:"DATE_TIME" }}``:
settings.FORMAT_MODULE_PATH points Django at exceptions_portal/formats/en/formats.py, which holds these names.
Python writes them with :func:`local`. The syntax is Django's ``date`` filter's, so a page and a message
written in Python read the same.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import dateformat, timezone


def money(amount: Decimal) -> str:
    """An amount with thousands separators and cents: "1,250.00".

    The pure rules (policies.routing) write amounts into their sentences with their own ``money``, of the same
    format: they import nothing of ours, so that they stay plain functions of plain data.
    """
    return f"{amount:,.2f}"


def format_duration(value: timedelta | None) -> str:
    """A time to decision as people read it: "45 min", "2 h 05 min", "3 d 4 h"."""
    if not isinstance(value, timedelta):
        return ""  # no decision in the group (templates pass "" for a missing key)
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# Pages and emails.
DATE = "j M Y"  # 7 Dec 2026
DATE_TIME = "j M Y, H:i"  # 7 Dec 2026, 14:05
DAY_TIME = "j M, H:i"  # 7 Dec, 14:05: deadlines and escalations, days away at most
WEEKDAY_DAY_TIME = "D j M, H:i"  # Mon 7 Dec, 14:05
WEEKDAY_DAY_TIME_ZONE = "D j M, H:i T"  # Mon 7 Dec, 14:05 GMT: an email read in another time zone
WEEKDAY_DATE_TIME = "D j M Y, H:i"  # Mon 7 Dec 2026, 14:05
LONG_DAY_TIME = "l j F, H:i"  # Monday 7 December, 14:05: the open request's deadline
LONG_DATE_TIME = "l j F Y, H:i"  # Monday 7 December 2026, 14:05: when it was decided

# Inside sentences written in Python (refusals, flashes, history values): the day with two digits.
TEXT_DATE = "d M Y"  # 07 Dec 2026
TEXT_DATE_TIME = "d M Y, H:i"  # 07 Dec 2026, 14:05
TEXT_WHEN = r"d M Y \a\t H:i"  # 07 Dec 2026 at 14:05
TEXT_TIME_ON_DAY = r"H:i \o\n d M"  # 14:05 on 07 Dec
TEXT_DAY_MONTH = "d M"  # 07 Dec: the first day of a range whose last day names the year
TEXT_WEEKDAY_DATE_TIME_ZONE = "D d M Y, H:i T"  # Mon 07 Dec 2026, 14:05 GMT: a deadline in the reader's zone


def local(moment: date | datetime, fmt: str) -> str:
    """``moment`` in the named format (``formatting.DATE_TIME``), an aware one in the current time zone."""
    if isinstance(moment, datetime) and timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return dateformat.format(moment, fmt)


def when(moment: datetime) -> str:
    """A moment inside a sentence written in Python: "07 Dec 2026 at 14:05", in the current time zone."""
    return local(moment, TEXT_WHEN)
