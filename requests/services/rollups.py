"""Rolling final requests up into the analysis' daily counters, so that its figures cost the days, not the requests.

A request is rolled up once it is final (granted, approved, denied: nothing changes a decided request
afterwards, and escalations stop at the decision); a withdrawn one is marked without being counted, as
the analysis never counts it. Each batch, in one transaction:

1. takes a few thousand final requests not rolled up yet, locked (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so that two workers never take the same request; SQLite's IMMEDIATE transactions
   serialise the writers);
2. adds their counts to the rows of their local day (settings.TIME_ZONE) and policy, their breaches
   to the day, policy and level, their people's work to the day and person, their customers'
   lifetime counts, and their decision times in whole minutes to the local month, policy and approver,
   by ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``;
3. marks them ``rolled_up``.

A crash anywhere rolls back both sides, so a request is counted exactly once: the analysis reads the
rollups for the whole days of a period and counts what is not rolled up yet live.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.db import connection, models, transaction
from django.db.models import Count, F

from requests.models import (
    CustomerRollup,
    DecisionMinutesMonthRollup,
    Escalation,
    EscalationDayRollup,
    ExceptionRequest,
    PersonDayRollup,
    RequestDayRollup,
    Status,
)
from requests.selectors import (
    DECIDED_BY_APPROVER,
    GRANTED_AT_ONCE,
    WholeMinutes,
    person_counters,
    person_of_work,
    request_counters,
    rollup_day,
    rollup_month,
)

# Final: what the rollups may hold (withdrawn ones are only marked).
ROLLED_UP_STATUSES = (Status.GRANTED, Status.APPROVED, Status.DENIED, Status.WITHDRAWN)
BATCH_SIZE = 2000
# Rows a statement upserts: within SQLite's 32,766 parameters for the widest table (19 columns).
UPSERT_ROWS = 500


def requests_roll_up(*, batch_size: int = BATCH_SIZE, seconds: float | None = None) -> int:
    """Roll up every final request not rolled up yet, batch after batch, until none is left (or, with
    ``seconds``, until that much time has passed: the next run goes on). Returns how many were marked.
    Idempotent and safe to run on several workers at once."""
    started = time.monotonic()
    marked = 0
    while True:
        done = requests_roll_up_batch(batch_size=batch_size)
        marked += done
        if not done or (seconds is not None and time.monotonic() - started >= seconds):
            return marked


def requests_roll_up_batch(*, batch_size: int = BATCH_SIZE) -> int:
    """One batch: count, add and mark in one transaction. Returns how many requests it marked."""
    with transaction.atomic():
        ids = list(
            ExceptionRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(rolled_up=False, status__in=ROLLED_UP_STATUSES)
            .order_by("filed_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        counted = ExceptionRequest.objects.filter(pk__in=ids).exclude(status=Status.WITHDRAWN).order_by()
        day = rollup_day("filed_at")
        _add_into(RequestDayRollup, ["day", "policy"], counted.values("policy", day=day).annotate(**request_counters()))
        _add_into(
            EscalationDayRollup,
            ["day", "policy", "from_level"],
            Escalation.objects.filter(request__in=counted)
            .values("from_level", policy=F("request__policy"), day=rollup_day("request__filed_at"))
            .annotate(n=Count("pk"))
            .order_by(),
        )
        _add_into(
            PersonDayRollup,
            ["day", "person", "at_once"],
            counted.filter(GRANTED_AT_ONCE | DECIDED_BY_APPROVER)
            .values(day=day, **person_of_work())
            .annotate(**person_counters()),
        )
        _add_into(CustomerRollup, ["customer"], counted.values("customer").annotate(filed=Count("pk")))
        _add_into(
            DecisionMinutesMonthRollup,
            ["month", "policy", "decided_by", "minutes"],
            counted.filter(DECIDED_BY_APPROVER, decided_at__isnull=False)
            .values(
                "policy",
                "decided_by",
                month=rollup_month("filed_at"),
                minutes=WholeMinutes(F("decided_at") - F("filed_at")),
            )
            .annotate(n=Count("*")),
        )
        # Not a change to the request: bookkeeping of derived tables. queryset.update() adds no history row
        # (simple-history sees save() only), and the field is left out of the history (models.py).
        ExceptionRequest.objects.filter(pk__in=ids).update(rolled_up=True)
    return len(ids)


def requests_rollups_reset() -> int:
    """Empty the rollups and mark every request not rolled up, in one transaction: the analysis counts everything
    live meanwhile (its figures do not change), and the catch-up job fills the rollups again. For a change of
    settings.TIME_ZONE, whose days the rollups are kept in. Returns how many requests were marked."""
    tables = (RequestDayRollup, EscalationDayRollup, PersonDayRollup, CustomerRollup, DecisionMinutesMonthRollup)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A batch running now has either committed (its requests are marked: unmarked below, its counts
            # emptied) or not yet written its counts: it waits here, then adds them to the empty tables and marks
            # its requests, counted once. Reads go on meanwhile. (SQLite runs one writer at a time.)
            names = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in tables)
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
        marked = ExceptionRequest.objects.filter(rolled_up=True).update(rolled_up=False)
        for model in tables:
            model.objects.all().delete()
    return marked


def _add_into(model: type[models.Model], keys: list[str], rows: Iterable[dict]) -> None:
    """Add counted rows to a rollup table: insert the rows whose keys are new, add to the others.

    Raw SQL: the ORM has no "add to what is there" upsert. ``INSERT … ON CONFLICT … DO UPDATE`` is
    atomic per row on PostgreSQL and SQLite (3.24+) alike, so concurrent batches add, never overwrite.
    The rows are grouped by their keys (one row per key in a statement, as ON CONFLICT requires) and
    written in the keys' order, so that two batches lock the rows they share in the same order."""
    rows = sorted(rows, key=lambda row: [(row[key] is None, row[key]) for key in keys])
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in rows[0]]
    added = [field.column for field in fields if field.name not in keys]
    table = quote(model._meta.db_table)
    row_sql = f"({', '.join(['%s'] * len(fields))})"
    for start in range(0, len(rows), UPSERT_ROWS):
        chunk = rows[start : start + UPSERT_ROWS]
        sql = (
            f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) "
            f"VALUES {', '.join([row_sql] * len(chunk))} "
            f"ON CONFLICT ({', '.join(quote(model._meta.get_field(key).column) for key in keys)}) DO UPDATE SET "
            + ", ".join(f"{quote(column)} = {table}.{quote(column)} + excluded.{quote(column)}" for column in added)
        )
        values = [field.get_db_prep_save(row[field.name], connection) for row in chunk for field in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
