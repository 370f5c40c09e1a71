"""Median and 90th percentile of the time to an approver's decision, by nearest rank, from histograms of whole
minutes.

A time to decision is only ever shown through formatting.format_duration, which floors it to whole minutes. Flooring
keeps the order, so the nearest-rank percentile of the times floored to whole minutes is the floored nearest-rank
percentile of the exact times: counting the decisions per whole minute gives exactly the figures shown (pages,
CSV, emails), with no sort of the decisions. One query counts them per policy and per approver (each a GROUP BY,
together in a UNION ALL: the same SQL on every engine); the coarser tables (per problem type, overall) merge the
policy histograms here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from math import ceil

from django.db.models import Count, F, Func, IntegerField, Q, QuerySet, Value

from policies.insights.periods import Period, requests_in
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
    # can hold (under 3.2e17 µs either way) above zero first, and the division floors. The Python function
    # behind the duration is called once a row.
    template = "((%(expressions)s + 600000000000000000) / 60000000 - 10000000000)"

    def as_postgresql(self, compiler, connection, **extra_context):
        # EXTRACT(EPOCH FROM interval) is numeric (exact to the microsecond) since PostgreSQL 14.
        return self.as_sql(
            compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / 60)::bigint", **extra_context
        )


def _through_policy(grouping: str | None) -> bool:
    return grouping is not None and (grouping == "policy" or grouping.startswith("policy__"))


def decision_time_percentiles(rows: QuerySet[ExceptionRequest], groupings: Sequence[str | None]) -> Percentiles:
    """Median and 90th percentile of time to an approver's decision, by nearest rank (the value at
    rank ceil(p * n)), for each grouping: {grouping: {group key: {"median": ..., "p90": ...}}}, each value
    the whole minutes it is shown as (timedelta(minutes=m)).

    A grouping is a field path ("policy", "decided_by") or None for all decisions together; groups
    without a decision are left out. One query counts the decisions per whole minute: once per policy (with
    the policy's current problem type and whatever else is read through it), and once per other grouping.
    Counts add up, so the groupings through the policy and the total are merged from the policy's counts.
    """
    decided = rows.filter(DECIDED_BY_APPROVER, decided_at__isnull=False)
    through_policy = [g for g in groupings if _through_policy(g)]
    parts: list[list[str]] = []
    if through_policy or None in groupings:
        parts.append(["policy", *(g for g in through_policy if g != "policy")])
    parts += [[g] for g in dict.fromkeys(groupings) if g is not None and not _through_policy(g)]
    if not parts:
        return {}
    columns = {path: f"group_{i}" for i, path in enumerate(dict.fromkeys(p for part in parts for p in part))}
    minutes = WholeMinutes(F("decided_at") - F("filed_at"))
    counted = [
        decided.values(
            part=Value(number),
            **{
                column: F(path) if path in part else Value(None, output_field=IntegerField())
                for path, column in columns.items()
            },
            minutes=minutes,
        ).annotate(n=Count("pk"))
        for number, part in enumerate(parts)
    ]
    histograms: dict[str | None, dict[object, Counter[int]]] = {grouping: {} for grouping in groupings}
    for row in counted[0].union(*counted[1:], all=True):
        # The first part is per policy when there is one: it serves every grouping through the policy, and the total.
        part = parts[row["part"]]
        targets = (
            [*((g, row[columns[g]]) for g in through_policy), *([(None, None)] if None in groupings else [])]
            if part[0] == "policy"
            else [(part[0], row[columns[part[0]]])]
        )
        for grouping, key in targets:
            histograms[grouping].setdefault(key, Counter())[row["minutes"]] += row["n"]
    return {
        grouping: {key: _nearest_ranks(counts) for key, counts in groups.items()}
        for grouping, groups in histograms.items()
    }


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
