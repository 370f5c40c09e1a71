"""Set-based writes the ORM has no verb for: ``INSERT … SELECT``, compiled by Django for each engine.

The SLA sweep escalates thousands of requests at a time. Building a model instance per history row,
notification and escalation, and sending them back through ``bulk_create``, cost most of its time; the
database can copy the rows itself. The SELECT half is an ordinary queryset, so Django compiles it for
SQLite and PostgreSQL alike (quoting, casts, string concatenation), and only the ``INSERT INTO … (…)``
prefix is written here.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
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
    history_model = history_model_of(source)
    columns: dict[str, Any] = {}
    for field in history_model._meta.concrete_fields:
        if field.name not in HISTORY_COLUMNS:
            columns[field.name] = F(source._meta.get_field(field.name).attname)
    columns.update(history_date=Value(date), history_change_reason=reason, history_type=Value(history_type))
    if user_id is not None:
        columns["history_user"] = Value(user_id)
    return insert_from_select(history_model, rows, columns)


@cache
def history_model_of(model: type[Model]) -> type[Model]:
    """The historical model django-simple-history made for ``model``. (Reading ``model.history`` builds a new
    manager class each time, which costs more than the INSERT it serves.)"""
    return model.history.model


def _expression(value: Any) -> Expression:
    return value if hasattr(value, "resolve_expression") else Value(value)


def column_text(name: str) -> Cast:
    """A number column as text, for a sentence written in SQL (``Concat``) such as a notification's."""
    return Cast(name, CharField())


class InsertChain:
    """Rows and their creation history written in one statement: PostgreSQL's data-modifying ``WITH``.

    Filing a request for a new customer writes four rows (the customer, the request, a history row of each).
    Saved one by one through the ORM and django-simple-history that is four round trips to the database and a
    model instance built per row; chained here it is one statement, which the database runs at once and
    atomically (so it needs no transaction of its own). Each link is an ``INSERT … RETURNING *`` named by an
    alias; a later link may read an earlier alias (``source``): it is then inserted once per row that link
    returned, that is not at all when an ``ignore_conflicts`` insert found its row already there.

    PostgreSQL only (SQLite has no INSERT inside WITH): callers keep their ORM path on other engines. Values are
    prepared as Django prepares them for an INSERT (``pre_save`` then ``get_db_prep_save``), and the history
    rows copy the stored row as ``insert_history`` does, so what is written is what ``save()`` would write.
    (simple-history's pre/post_create_historical_record signals are not sent: nothing here listens to them.)
    """

    def __init__(self, using: str = "default") -> None:
        from psycopg.adapt import Transformer

        self.connection = connections[using]
        assert self.connection.vendor == "postgresql", "InsertChain needs PostgreSQL"
        self.connection.ensure_connection()
        # The values go into the statement as literals, quoted by psycopg as it quotes the parameters of any query
        # (Django's client-side binding), but without psycopg parsing this long statement for placeholders at
        # every call (it caches that only for short statements with few parameters): that parse cost more
        # than the rest of the chain.
        self._literals = Transformer(self.connection.connection)
        self._encoding = self.connection.connection.info.encoding
        self.links: list[str] = []

    def _literal(self, value: Any) -> str:
        return "NULL" if value is None else self._literals.as_literal(value).decode(self._encoding)

    def insert(
        self,
        alias: str,
        instance: Model,
        *,
        source: str | None = None,
        columns_from_source: dict[str, str] | None = None,
        ignore_conflicts: bool = False,
    ) -> None:
        """INSERT ``instance`` as ``alias``. ``columns_from_source``: field attname -> column of ``source``
        (such as a foreign key to the row an earlier link inserted). A primary key left empty is the database's."""
        quote = self.connection.ops.quote_name
        from_source = columns_from_source or {}
        columns, values = [], []
        for field in instance._meta.concrete_fields:
            if field.generated or (field.primary_key and getattr(instance, field.attname) is None):
                continue
            columns.append(quote(field.column))
            if field.attname in from_source:
                values.append(f"{source}.{quote(from_source[field.attname])}")
                continue
            values.append(
                self._literal(field.get_db_prep_save(field.pre_save(instance, True), connection=self.connection))
            )
        rows = f"SELECT {', '.join(values)} FROM {source}" if source else f"VALUES ({', '.join(values)})"
        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        self.links.append(
            f"{alias} AS (INSERT INTO {quote(instance._meta.db_table)} ({', '.join(columns)}) {rows}{conflict} "
            "RETURNING *)"
        )

    def history(
        self, alias: str, *, of: str, model: type[Model], user_id: int | None, date: datetime, reason: str
    ) -> None:
        """The creation history row ('+') of each row the link ``of`` inserted, as django-simple-history writes it."""
        quote = self.connection.ops.quote_name
        history_model = history_model_of(model)
        stamp = {"history_date": date, "history_change_reason": reason, "history_type": "+", "history_user": user_id}
        columns, values = [], []
        for field in history_model._meta.concrete_fields:
            if field.name == "history_id":
                continue
            columns.append(quote(field.column))
            if field.name in HISTORY_COLUMNS:
                values.append(self._literal(stamp[field.name]))
            else:
                values.append(f"{of}.{quote(model._meta.get_field(field.name).column)}")
        self.links.append(
            f"{alias} AS (INSERT INTO {quote(history_model._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {of})"
        )

    def execute(self, select: str) -> tuple | None:
        """Run the chain with ``select`` as its outer query (reading the aliases); its first row, None when none."""
        with self.connection.cursor() as cursor:
            cursor.execute(f"WITH {', '.join(self.links)} {select}")
            return cursor.fetchone()
