"""The period an analysis covers, and the requests filed in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import QuerySet

from exceptions_portal.days import day_start
from requests.models import ExceptionRequest
from requests.selectors import requests_filed_between

__all__ = ["Period", "day_start", "requests_in"]


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    problem_type_id: int | None = None

    @property
    def start_at(self) -> datetime:
        return day_start(self.start)

    @property
    def end_at(self) -> datetime:
        return day_start(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def requests_in(period: Period) -> QuerySet[ExceptionRequest]:
    """The requests filed in the period (withdrawn ones left out), under its problem type when it has one."""
    rows = requests_filed_between(period.start_at, period.end_at)
    if period.problem_type_id:
        rows = rows.filter(policy__problem_type_id=period.problem_type_id)
    return rows
