"""Where a period's figures come from: the daily rollups for the requests rolled up, a live count for the rest.

The rollups (requests.models.RequestDayRollup and its siblings, kept by services.rollups) hold the final
requests by their local day in settings.TIME_ZONE. A period whose every boundary (its first instant, the
instant after its last day, the Mondays its weekly trend cuts at) falls at the same instant in the
reader's time zone as in settings.TIME_ZONE holds exactly the rolled-up requests of its days; the
requests not rolled up yet (open ones, or decided since the last catch-up) are counted live, from the
partial index on the requests not rolled up. Each figure reads both parts in one statement (UNION ALL),
so a catch-up committing in between can neither count a request twice nor miss it.

Otherwise (a reader in a zone whose midnight differs, e.g. New York against London) the figures are
counted live from the requests, as before the rollups: correct, and as slow as the period is long.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils import timezone

from policies.insights.periods import Period, day_start

_live_only: ContextVar[bool] = ContextVar("insights_live_only", default=False)


@contextmanager
def counted_live() -> Iterator[None]:
    """Count every figure from the requests, ignoring the rollups: the reference the rollups must equal."""
    token = _live_only.set(True)
    try:
        yield
    finally:
        _live_only.reset(token)


def usable(period: Period, *, cuts: Iterable[date] = ()) -> bool:
    """Whether the rollups' days are the period's days (and ``cuts``' days) in the reader's time zone."""
    if _live_only.get():
        return False
    portal = ZoneInfo(settings.TIME_ZONE)
    if timezone.get_current_timezone_name() == settings.TIME_ZONE:
        return True
    return all(
        day_start(day) == timezone.make_aware(datetime.combine(day, time.min), portal)
        for day in {period.start, period.end + timedelta(days=1), *cuts}
    )


def days_of(model: type[Model], period: Period) -> QuerySet:
    """A rollup table's rows of the period's days, under its problem type (the policy's current one, as
    the live count joins it) when it has one."""
    rows = model.objects.filter(day__gte=period.start, day__lte=period.end).order_by()
    if period.problem_type_id:
        rows = rows.filter(policy__problem_type_id=period.problem_type_id)
    return rows
