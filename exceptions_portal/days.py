"""Local days: where a period, a week or a "filed from" filter begins."""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils import timezone


def day_start(day: date) -> datetime:
    """The first instant of a local day, in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))
