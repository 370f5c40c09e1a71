"""Set-based writes the ORM has no verb for: ``INSERT … SELECT``, compiled by Django for each engine.

The SLA sweep escalates thousands of requests at a time. Building a model instance per history row,
notification and escalation, and sending them back through ``bulk_create``, cost most of its time; the
database can copy the rows itself. The SELECT half is an ordinary queryset, so Django compiles it for
SQLite and PostgreSQL alike (quoting, casts, string concatenation), and only the ``INSERT INTO … (…)``
prefix is written here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connections, router
from django.db.models import CharField, Expression, F, Model, QuerySet, Value
from django.db.models.functions import Cast

# The columns simple-history adds to a historical table; every other column copies the tracked row.
HISTORY_COLUMNS = frozenset({"history_id", "history_date", "history_change_reason", "history_type", "history_user"})


def insert_from_select(model: type[Model], rows: QuerySet, columns: dict[str, Any]) -> int:
    """Insert one ``model`` row per row of ``rows`` in one statement; the number inserted.

    ``columns`` maps each field of ``model`` to an expression on the source row (``F``, ``Value``,
    ``Concat``, ...). Fields left out take their database default (NULL for the nullable ones).
    """
    fields = [model._meta.get_field(name) for name in columns]
    # Aliases, not the field names: an annotation may not share a name with a field of the source model.
    # Django 5.2 keeps the order of values(**expressions), which is the order of the target columns.
    select = rows.order_by().values(**{f"c{i}": _expression(value) for i, value in enumerate(columns.values())})
    using = router.db_for_write(model)
    sql, params = select.query.get_compiler(using=using).as_sql()
    connection = connections[using]
    quote = connection.ops.quote_name
    target = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({target}) {sql}", params)
        return cursor.rowcount


def insert_history(
    rows: QuerySet, *, user_id: int | None, date: datetime, reason: Expression | str, history_type: str = "~"
) -> int:
    """simple-history rows for ``rows`` as they now stand in the database, in one ``INSERT … SELECT``.

    What ``bulk_update_with_history`` records, for rows just changed by a set-based UPDATE: each
    historical row is a copy of the stored row, so the audit trail shows exactly what was written.
    """
    source = rows.model
    history_model = source.history.model
    columns: dict[str, Any] = {}
    for field in history_model._meta.concrete_fields:
        if field.name not in HISTORY_COLUMNS:
            columns[field.name] = F(source._meta.get_field(field.name).attname)
    columns.update(history_date=Value(date), history_change_reason=reason, history_type=Value(history_type))
    if user_id is not None:
        columns["history_user"] = Value(user_id)
    return insert_from_select(history_model, rows, columns)


def _expression(value: Any) -> Expression:
    return value if hasattr(value, "resolve_expression") else Value(value)


def column_text(name: str) -> Cast:
    """A number column as text, for a sentence written in SQL (``Concat``) such as a notification's."""
    return Cast(name, CharField())
