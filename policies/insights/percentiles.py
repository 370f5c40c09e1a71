"""Median and 90th percentile of the time to an approver's decision, by nearest rank, from counts per whole minute.

A time to decision is only ever shown through formatting.format_duration, which floors it to whole minutes (pages,
CSV exports; the emails show none). Flooring keeps the order, so the nearest-rank percentile of the times floored
to whole minutes is the floored nearest-rank percentile of the exact times: counting the decisions per whole
minute gives exactly the figures shown, with no sort of the decisions (tests/insights/test_decision_time_minutes.py
checks it against the exact percentiles). The values are those whole minutes, timedelta(minutes=m).

One query, one pass over the period's decisions (an index-only scan of request_decided_filed on PostgreSQL): counts
per policy, approver and whole minute, summed per policy and per approver; the coarser tables (per problem type,
overall) merge the policies' counts here. The same SQL on both engines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from math import ceil

from django.db import connection
from django.db.models import Count, F, Func, IntegerField, Q, QuerySet

from policies.insights.periods import Period, requests_in
from policies.models import Policy
from requests.models import ExceptionRequest, Status

DECIDED_BY_APPROVER = Q(status__in=[Status.APPROVED, Status.DENIED])

Percentiles = dict[str | None, dict[object, dict[str, timedelta]]]
SHARES = {"median": 0.5, "p90": 0.9}


class WholeMinutes(Func):
    """A duration in whole minutes, floored (so 59 s is 0 and -30 s is -1, as format_duration reads them), computed
    exactly from the database's own duration: whole microseconds on SQLite (Django's django_timestamp_diff), an
    interval on PostgreSQL. Never through a float, so a duration just under a minute boundary stays under it."""

    output_field = IntegerField()

    # Whole microseconds (SQLite): integer division truncates towards zero, so shift every duration a datetime
    # can hold (under 3.2e17 µs either way) above zero first, and the division floors. The duration (a Python
    # function on SQLite) appears once.
    template = "((%(expressions)s + 600000000000000000) / 60000000 - 10000000000)"

    def as_postgresql(self, compiler, connection, **extra_context):
        # EXTRACT(EPOCH FROM interval) is numeric since PostgreSQL 14: exact to the microsecond, floored exactly.
        return self.as_sql(
            compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / 60)::bigint", **extra_context
        )


def decision_time_percentiles(rows: QuerySet[ExceptionRequest], groupings: Sequence[str | None]) -> Percentiles:
    """Median and 90th percentile of time to an approver's decision, by nearest rank (the value at
    rank ceil(p * n)), for each grouping: {grouping: {group key: {"median": ..., "p90": ...}}}, each value
    the whole minutes it is shown as (timedelta(minutes=m)).

    A grouping is a field path ("policy", "decided_by", "policy__problem_type") or None for all decisions
    together; groups without a decision are left out. One query, one pass over the decisions: it counts
    them per whole minute and per combination of the request's own columns (policy, approver), sums those
    counts per column, and reads the values of the paths through the policy (its current problem type)
    from the policy table rather than joining it to every decision. Counts add up, so the groupings
    through the policy and the total are merged here from the policies' counts.
    """
    through_policy = list(dict.fromkeys(g for g in groupings if g is not None and g.startswith("policy__")))
    own = list(dict.fromkeys(g for g in groupings if g is not None and not g.startswith("policy__")))
    if through_policy or None in groupings or "policy" in own:  # the policy first: the other tables merge its counts
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
    histograms: dict[str | None, dict[object, Counter[int]]] = {grouping: {} for grouping in [*own, *groupings]}
    paths: dict[object, tuple] = {}
    for part, keys, minutes, n in _counts_per_column(counted, policies if through_policy else None):
        if part < 0:  # a policy (keys[0]) and its values of the paths through it
            paths[keys[0]] = keys[len(own) :]
        else:
            histograms[own[part]].setdefault(keys[part], Counter())[minutes] += int(n)
    for policy, counts in histograms.get("policy", {}).items():
        merged = zip(through_policy, paths.get(policy, (None,) * len(through_policy)), strict=True)
        for grouping, key in [*merged, *([(None, None)] if None in groupings else [])]:
            histograms[grouping].setdefault(key, Counter()).update(counts)
    return {
        grouping: {key: _nearest_ranks(counts) for key, counts in histograms[grouping].items()}
        for grouping in groupings
    }


def _counts_per_column(counted: QuerySet, policies: QuerySet | None) -> list[tuple[int, tuple, int, int]]:
    """(part, keys, whole minutes, count) rows. Part i >= 0: the decisions' counts per whole minute and value of
    the i-th grouping column of ``counted`` (keys[i]; the other keys null). Part -1: a policy (keys[0]) and its
    values of the paths through it (the keys after the grouping columns).

    The SQL around the ORM's querysets is beyond what the ORM writes: a GROUP BY of the counts per column, in
    one UNION ALL whose parts read the counts once (a WITH; PostgreSQL computes it once for every part). The same
    SQL on both engines. Nulls are cast to their column's type, so that PostgreSQL can match the parts."""
    quote = connection.ops.quote_name
    own = [name for name in counted.query.annotation_select if name.startswith("group_")]
    paths = (
        [name for name in policies.query.annotation_select if name.startswith("path_")] if policies is not None else []
    )
    fields = {
        name: query.annotation_select[name].output_field
        for query, names in ((counted.query, own), *([(policies.query, paths)] if policies is not None else []))
        for name in names
    }

    def columns(shown: list[str]) -> str:
        return ", ".join(
            quote(name) if name in shown else f"CAST(NULL AS {fields[name].cast_db_type(connection)})"
            for name in [*own, *paths]
        )

    sql, params = counted.query.sql_with_params()
    selects = [
        f"SELECT {part} AS part, {columns([name])}, minutes, SUM(n) AS n FROM counted GROUP BY {quote(name)}, minutes"
        for part, name in enumerate(own)
    ]
    if policies is not None:
        policies_sql, policies_params = policies.query.sql_with_params()
        selects.append(f"SELECT -1, {columns([own[0], *paths])}, NULL, NULL FROM ({policies_sql}) AS policy")
        params = (*params, *policies_params)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH counted AS ({sql}) {' UNION ALL '.join(selects)}", params)
        return [(row[0], row[1:-2], row[-2], row[-1]) for row in cursor.fetchall()]


def _nearest_ranks(counts: Counter[int]) -> dict[str, timedelta]:
    """The value at rank ceil(p * n) of each share, from the counts per whole minute. The rank is worked out
    in floating point as PostgreSQL's PERCENTILE_DISC does, so that the ranks agree for every n."""
    total = sum(counts.values())
    ranks = {label: ceil(share * total) for label, share in SHARES.items()}
    found: dict[str, timedelta] = {}
    seen = 0
    for minute in sorted(counts):
        seen += counts[minute]
        for label, rank in ranks.items():
            if label not in found and seen >= rank:
                found[label] = timedelta(minutes=minute)
    return {label: found[label] for label in SHARES}


def decision_times(period: Period) -> Percentiles:
    """The decision-time percentiles of every table of the page (per policy, per problem type, per
    approver, overall), from one query over the period's decisions."""
    return decision_time_percentiles(requests_in(period), ["policy", "policy__problem_type", "decided_by", None])
