"""Median and 90th percentile of the time to an approver's decision, by nearest rank.

Two backends: PostgreSQL computes PERCENTILE_DISC once per grouping set; elsewhere (SQLite) window functions
rank each decision within its groups. Either way one pass over the period's decisions serves every table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F, Q, QuerySet

from policies.insights.periods import Period, requests_in
from requests.models import ExceptionRequest, Status

DECIDED_BY_APPROVER = Q(status__in=[Status.APPROVED, Status.DENIED])


def _decision_time() -> ExpressionWrapper:
    return ExpressionWrapper(F("decided_at") - F("filed_at"), output_field=DurationField())


Percentiles = dict[str | None, dict[object, dict[str, timedelta]]]
SHARES = {"median": 0.5, "p90": 0.9}


def decision_time_percentiles(rows: QuerySet[ExceptionRequest], groupings: Sequence[str | None]) -> Percentiles:
    """Median and 90th percentile of time to an approver's decision, by nearest rank (the value at
    rank ceil(p * n)), for each grouping: {grouping: {group key: {"median": ..., "p90": ...}}}.

    A grouping is a field path ("policy", "decided_by") or None for all decisions together; groups
    without a decision are left out. Percentiles do not add up like counts, so each grouping orders
    the decisions on its own, but all of them come from one pass over the decisions. The ORM builds
    the decided rows; the percentile SQL around them is beyond what it can write.
    """
    decided = rows.filter(DECIDED_BY_APPROVER, decided_at__isnull=False)
    columns = {f"group_{i}": grouping for i, grouping in enumerate(groupings) if grouping}
    sql, params = decided.values(
        **{column: F(grouping) for column, grouping in columns.items()}, duration=_decision_time()
    ).query.sql_with_params()
    ranked = _percentiles_by_grouping_sets if connection.vendor == "postgresql" else _percentiles_by_ranks
    result: Percentiles = {grouping: {} for grouping in groupings}
    for grouping, key, label, value in ranked(sql, params, columns, with_total=None in groupings):
        result[grouping].setdefault(key, {})[label] = value
    return result


def _percentiles_by_grouping_sets(
    sql: str, params: tuple, columns: dict[str, str], *, with_total: bool
) -> Iterator[tuple[str | None, object, str, timedelta]]:
    """PostgreSQL's own nearest-rank percentile (PERCENTILE_DISC), once per grouping set."""
    quote = connection.ops.quote_name
    names = [quote(column) for column in columns]
    sets = [f"({name})" for name in names] + (["()"] if with_total else [])
    figures = [f"PERCENTILE_DISC({share}) WITHIN GROUP (ORDER BY {quote('duration')})" for share in SHARES.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join([*(f'GROUPING({name})' for name in names), *names, *figures])} "
            f"FROM ({sql}) AS decided GROUP BY GROUPING SETS ({', '.join(sets)})",
            params,
        )
        found = cursor.fetchall()
    groupings = list(columns.values())
    for row in found:
        flags, keys, values = row[: len(names)], row[len(names) : 2 * len(names)], row[2 * len(names) :]
        if values[0] is None:
            continue  # the grand total of a period without decisions
        # GROUPING(column) is 0 in the rows of the set grouped by that column; 1 everywhere: the total.
        grouping, key = next(
            ((g, k) for g, flag, k in zip(groupings, flags, keys, strict=True) if not flag), (None, None)
        )
        for label, value in zip(SHARES, values, strict=True):
            yield grouping, key, label, value


def _percentiles_by_ranks(
    sql: str, params: tuple, columns: dict[str, str], *, with_total: bool
) -> Iterator[tuple[str | None, object, str, timedelta]]:
    """Elsewhere (SQLite): rank each decision within its group of every grouping, and keep the rows
    at rank ceil(p * n). Ranked over the decided rows as a subquery, so that the duration (a Python
    function on SQLite) is computed once a row, not once a window."""
    quote = connection.ops.quote_name
    names = [quote(column) for column in columns]
    partitions = [(grouping, f"PARTITION BY {quote(column)}") for column, grouping in columns.items()]
    partitions += [(None, "")] if with_total else []
    windows = [
        f"ROW_NUMBER() OVER ({partition} ORDER BY {quote('duration')}) AS rank_{i}, "
        f"COUNT(*) OVER ({partition}) AS size_{i}"
        for i, (_, partition) in enumerate(partitions)
    ]
    hits = [
        (grouping, label, f"rank_{i} = CEILING(size_{i} * {share})")
        for i, (grouping, _) in enumerate(partitions)
        for label, share in SHARES.items()
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join([*names, quote('duration'), *(hit for _, _, hit in hits)])} "
            f"FROM (SELECT decided.*, {', '.join(windows)} FROM ({sql}) AS decided) AS ranked "
            f"WHERE {' OR '.join(hit for _, _, hit in hits)}",
            params,
        )
        found = cursor.fetchall()
    for row in found:
        keys = dict(zip(columns.values(), row, strict=False))
        value = connection.ops.convert_durationfield_value(row[len(names)], None, connection)
        for (grouping, label, _), hit in zip(hits, row[len(names) + 1 :], strict=True):
            if hit:
                yield grouping, keys.get(grouping), label, value


def decision_times(period: Period) -> Percentiles:
    """The decision-time percentiles of every table of the page (per policy, per problem type, per
    approver, overall), from one pass over the period's decisions."""
    return decision_time_percentiles(requests_in(period), ["policy", "policy__problem_type", "decided_by", None])
