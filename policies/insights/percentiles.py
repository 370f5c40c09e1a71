"""Median and 90th percentile of the time to an approver's decision, by nearest rank, from counts per whole minute.

A time to decision is only ever shown through formatting.format_duration, which floors it to whole minutes (pages,
CSV exports; the emails show none). Flooring keeps the order, so the nearest-rank percentile of the times floored
to whole minutes is the floored nearest-rank percentile of the exact times: counting the decisions per whole
minute gives exactly the figures shown, with no sort of the decisions (tests/insights/test_decision_time_minutes.py
checks it against the exact percentiles). The values are those whole minutes, timedelta(minutes=m).

One query, one pass over the period's decisions (an index-only scan of request_decided_filed on PostgreSQL): counts
per policy, approver and whole minute, summed per minute for each table (per policy, per approver, per problem type
through the policy table, overall); the database finds each group's ranks in its running count and returns one row
per group. The same SQL on both engines. Unlike the other figures of the page (policies.insights.rollups), this
pass still reads every decision of the period: counts per whole minute do not compress into daily rows at the
density of a day's decisions per policy and approver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import connection
from django.db.models import Count, F, FloatField, Func, IntegerField, Q, QuerySet

from policies.insights.periods import Period, requests_in
from policies.models import Policy
from requests.models import ExceptionRequest, Status

DECIDED_BY_APPROVER = Q(status__in=[Status.APPROVED, Status.DENIED])

Percentiles = dict[str | None, dict[object, dict[str, timedelta]]]
SHARES = {"median": 0.5, "p90": 0.9}


class WholeMinutes(Func):
    """A duration in whole minutes, floored (so 59 s is 0 and -30 s is -1, as format_duration reads them), computed
    exactly from the database's own duration: whole microseconds on SQLite (Django's django_timestamp_diff), an
    interval on PostgreSQL. A duration just under a minute boundary stays under it (tests: ±1 µs around them)."""

    output_field = IntegerField()

    # Whole microseconds (SQLite): integer division truncates towards zero, so shift every duration a datetime
    # can hold (under 3.2e17 µs either way) above zero first, and the division floors. The duration (a Python
    # function on SQLite) appears once.
    template = "((%(expressions)s + 600000000000000000) / 60000000 - 10000000000)"

    def as_postgresql(self, compiler, connection, **extra_context):
        # date_part() is a double: the interval's whole microseconds / 1e6, correctly rounded. Floored after / 60 it
        # is exact while a minute boundary stays farther from its neighbours (1 µs / 60) than a double's spacing
        # there (m * 2.2e-16): durations under 10 million minutes (19 years) either way. EXTRACT() is numeric since
        # PostgreSQL 14, also exact, but its arithmetic made the pass over a year of decisions half as slow again.
        return self.as_sql(
            compiler, connection, template="FLOOR(DATE_PART('epoch', %(expressions)s) / 60)::bigint", **extra_context
        )


def decision_time_percentiles(rows: QuerySet[ExceptionRequest], groupings: Sequence[str | None]) -> Percentiles:
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
    counted = (
        rows.filter(DECIDED_BY_APPROVER, decided_at__isnull=False)
        .values(
            **{f"group_{i}": F(g) for i, g in enumerate(own)}, minutes=WholeMinutes(F("decided_at") - F("filed_at"))
        )
        .annotate(n=Count("*"))  # not the id: the index the decisions are read from has every column but that one
    )
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
    approver, overall), from one query over the period's decisions."""
    return decision_time_percentiles(requests_in(period), ["policy", "policy__problem_type", "decided_by", None])
