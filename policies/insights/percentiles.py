"""Median and 90th percentile of the time to an approver's decision, by nearest rank, from counts per whole minute.

A time to decision is only ever shown through formatting.format_duration, which floors it to whole minutes (pages,
CSV exports; the emails show none). Flooring keeps the order, so the nearest-rank percentile of the times floored
to whole minutes is the floored nearest-rank percentile of the exact times: counting the decisions per whole
minute gives exactly the figures shown, with no sort of the decisions (tests/insights/test_decision_time_minutes.py
checks it against the exact percentiles). The values are those whole minutes, timedelta(minutes=m).

One query: counts per policy, approver and whole minute, summed per minute for each table (per policy, per
approver, per problem type through the policy table, overall); the database finds each group's ranks in its
running count and returns one row per group. The counts of the local months a period holds whole come from
their rollup (DecisionMinutesMonthRollup, kept by requests.services.rollups: a day's decisions per policy and
approver are too few to compress, a month's are not); the days around them and whatever is not rolled up yet
are counted from the decisions (an index-only scan of request_decided_filed on PostgreSQL). The same SQL on
both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, F, FloatField, IntegerField, QuerySet, Sum

from policies.insights import rollups
from policies.insights.periods import Period, day_start, requests_in
from policies.models import Policy
from requests.models import DecisionMinutesMonthRollup, ExceptionRequest
from requests.selectors import DECIDED_BY_APPROVER, WholeMinutes

__all__ = ["Percentiles", "WholeMinutes", "decision_time_percentiles", "decision_times"]

Percentiles = dict[str | None, dict[object, dict[str, timedelta]]]
SHARES = {"median": 0.5, "p90": 0.9}


def decision_time_percentiles(
    rows: QuerySet[ExceptionRequest] | Sequence[QuerySet[ExceptionRequest]],
    groupings: Sequence[str | None],
    *,
    rolled: QuerySet | None = None,
) -> Percentiles:
    """Median and 90th percentile of time to an approver's decision, by nearest rank (the value at
    rank ceil(p * n)), for each grouping: {grouping: {group key: {"median": ..., "p90": ...}}}, each value
    the whole minutes it is shown as (timedelta(minutes=m)).

    A grouping is a field path ("policy", "decided_by", "policy__problem_type") or None for all decisions
    together; groups without a decision are left out. One query, one pass over the decisions: it counts
    them per whole minute and per combination of the request's own columns (policy, approver); each
    grouping sums those counts per minute (a path through the policy, its current problem type, joins the
    policy table to the counts rather than to every decision), and the database walks each group's minutes
    in order to the first one whose running count reaches the rank: one row per group comes back.
    """
    through_policy = list(dict.fromkeys(g for g in groupings if g is not None and g.startswith("policy__")))
    own = list(dict.fromkeys(g for g in groupings if g is not None and not g.startswith("policy__")))
    if through_policy or None in groupings or "policy" in own:  # the policy first: the paths join through it
        own = ["policy", *(g for g in own if g != "policy")]
    if not own:
        return {}
    counted, *more = (
        part.filter(DECIDED_BY_APPROVER, decided_at__isnull=False)
        .values(
            **{f"group_{i}": F(g) for i, g in enumerate(own)}, minutes=WholeMinutes(F("decided_at") - F("filed_at"))
        )
        .annotate(n=Count("*"))  # not the id: the index the decisions are read from has every column but that one
        for part in ([rows] if isinstance(rows, QuerySet) else rows)
    )
    if rolled is not None:  # counts per policy, approver and minute already counted (decision_times())
        more.append(rolled)
    if more:
        counted = counted.union(*more, all=True)
    policies = Policy.objects.order_by().values(
        group_0=F("pk"), **{f"path_{i}": F(g.removeprefix("policy__")) for i, g in enumerate(through_policy)}
    )
    parts = [*own, *through_policy, *([None] if None in groupings else [])]
    result: Percentiles = {grouping: {} for grouping in groupings}
    for part, key, *minutes in _ranked(counted, policies, len(own), len(through_policy), None in groupings):
        grouping = parts[part]
        if grouping in result:
            result[grouping][key] = {label: timedelta(minutes=m) for label, m in zip(SHARES, minutes, strict=True)}
    return result


def _ranked(counted: QuerySet, policies: QuerySet, own: int, paths: int, total: bool) -> list[tuple]:
    """(part, key, whole minutes at each share's rank) per group of each part: the request's own columns
    ``group_0``.. first, then the paths through the policy ``path_0``.., then (``total``) all decisions.

    The SQL around the ORM's querysets is beyond what the ORM writes: the counts per minute of each part in one
    UNION ALL over the counts (a WITH, computed once), a running sum over each group's minutes in order (a
    window), and per group the first minute whose running count reaches p * n. The count is compared with the
    product p * n in floating point, as PostgreSQL's PERCENTILE_DISC computes its rank ceil(p * n), so that the
    ranks agree for every n. The same SQL on both engines; the keys are integer ids, cast alike in every part."""
    quote = connection.ops.quote_name
    key_type = IntegerField().cast_db_type(connection)
    sql, params = counted.query.sql_with_params()
    policies_sql, policies_params = policies.query.sql_with_params()
    selects = [
        f"SELECT {i} AS part, CAST({quote(f'group_{i}')} AS {key_type}) AS k, minutes, SUM(n) AS n "
        f"FROM counted GROUP BY {quote(f'group_{i}')}, minutes"
        for i in range(own)
    ]
    selects += [
        f"SELECT {own + i}, CAST(policy.{quote(f'path_{i}')} AS {key_type}), minutes, SUM(n) FROM counted "
        f"INNER JOIN ({policies_sql}) AS policy ON policy.{quote('group_0')} = counted.{quote('group_0')} "
        f"GROUP BY policy.{quote(f'path_{i}')}, minutes"
        for i in range(paths)
    ]
    if total:
        selects.append(f"SELECT {own + paths}, CAST(NULL AS {key_type}), minutes, SUM(n) FROM counted GROUP BY minutes")
    float_type = FloatField().cast_db_type(connection)
    reached = [
        f"MIN(CASE WHEN seen >= CAST(total AS {float_type}) * {share!r} THEN minutes END)" for share in SHARES.values()
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH counted AS ({sql}), histogram AS ({' UNION ALL '.join(selects)}), "
            "running AS (SELECT part, k, minutes, SUM(n) OVER (PARTITION BY part, k ORDER BY minutes) AS seen, "
            "SUM(n) OVER (PARTITION BY part, k) AS total FROM histogram) "
            f"SELECT part, k, {', '.join(reached)} FROM running GROUP BY part, k",
            (*params, *(policies_params * paths)),
        )
        return cursor.fetchall()


def decision_times(period: Period) -> Percentiles:
    """The decision-time percentiles of every table of the page (per policy, per problem type, per
    approver, overall), from one query over the period's decisions.

    The local months the period holds whole (settings.TIME_ZONE's, when they are the reader's too) come
    from their rolled-up counts per whole minute (DecisionMinutesMonthRollup); the days around them, and
    whatever is not rolled up yet, are counted live; a request is in exactly one of the two."""
    groupings = ["policy", "policy__problem_type", "decided_by", None]
    months = _whole_months(period)
    if not months or not rollups.usable(period, cuts=[months[0], _next_month(months[-1])]):
        return decision_time_percentiles(requests_in(period), groupings)
    first_at, after_at = day_start(months[0]), day_start(_next_month(months[-1]))
    rolled = DecisionMinutesMonthRollup.objects.filter(month__in=months).order_by()
    if period.problem_type_id:
        rolled = rolled.filter(policy__problem_type_id=period.problem_type_id)
    rolled = rolled.values(group_0=F("policy"), group_1=F("decided_by"), minutes_=F("minutes")).annotate(n=Sum("n"))
    # Three ranges, each read by an index on its own (an OR of them would read every decision of the period).
    live = requests_in(period)
    parts = [
        live.filter(filed_at__lt=first_at),
        live.filter(rolled_up=False, filed_at__gte=first_at, filed_at__lt=after_at),
        live.filter(filed_at__gte=after_at),
    ]
    return decision_time_percentiles(parts, groupings, rolled=rolled)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _whole_months(period: Period) -> list[date]:
    """The first days of the months from the period's first to its last day, both included."""
    month = period.start if period.start.day == 1 else _next_month(period.start)
    months = []
    while _next_month(month) - timedelta(days=1) <= period.end:
        months.append(month)
        month = _next_month(month)
    return months
