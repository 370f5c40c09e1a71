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

    The values are parameters (``$1``, ``$2``, … each cast to its column's type), never part of the text: a
    chain of the same links is the same statement each time, written once per process (``_SQL``) and, when
    the connection allows prepared statements (settings ``DB_PREPARED_STATEMENTS``), parsed and planned once
    per connection by PostgreSQL. psycopg's ``RawCursor`` sends it as it is (Django's cursors would look
    through the whole text for placeholders at every call).
    """

    def __init__(self, using: str = "default") -> None:
        self.connection = connections[using]
        assert self.connection.vendor == "postgresql", "InsertChain needs PostgreSQL"
        self.keys: list[tuple] = []
        self.params: list[Any] = []

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
        from_source = columns_from_source or {}
        fields = tuple(
            field
            for field in instance._meta.concrete_fields
            if not field.generated
            and not (field.primary_key and getattr(instance, field.attname) is None)
            and field.attname not in from_source
        )
        for field in fields:
            self.params.append(field.get_db_prep_save(field.pre_save(instance, True), connection=self.connection))
        self.keys.append(
            ("insert", alias, type(instance), fields, source, tuple(sorted(from_source.items())), ignore_conflicts)
        )

    def history(
        self, alias: str, *, of: str, model: type[Model], user_id: int | None, date: datetime, reason: str
    ) -> None:
        """The creation history row ('+') of each row the link ``of`` inserted, as django-simple-history writes it."""
        stamp = {"history_date": date, "history_change_reason": reason, "history_type": "+", "history_user": user_id}
        self.params += [stamp[name] for name in _HISTORY_STAMP]
        self.keys.append(("history", alias, of, model))

    def execute(self, select: str) -> tuple | None:
        """Run the chain with ``select`` as its outer query (reading the aliases); its first row, None when none."""
        from psycopg import RawCursor

        key = (tuple(self.keys), select)
        sql = _SQL.get(key)
        if sql is None:
            sql = _SQL[key] = self._sql(select)
        self.connection.close_if_health_check_failed()  # as Django's own cursor() does first
        self.connection.ensure_connection()
        # Django's cursor wrapper around psycopg's raw one: the statement is logged and counted as any other.
        with self.connection._prepare_cursor(RawCursor(self.connection.connection)) as cursor:
            cursor.execute(sql, self.params)
            return cursor.fetchone()

    def _sql(self, select: str) -> str:
        quote = self.connection.ops.quote_name
        number = iter(range(1, len(self.params) + 1))

        def parameter(field) -> str:
            # Cast to the column's type (a NULL's type, an integer's size), but a text column's to varchar
            # without its length: an explicit cast would cut a long value where storing it must fail.
            cast = field.cast_db_type(self.connection)
            return f"${next(number)}::{'varchar' if cast.startswith('varchar') else cast}"

        links = []
        for kind, alias, *rest in self.keys:
            if kind == "insert":
                model, fields, source, from_source, ignore_conflicts = rest
                columns = [quote(field.column) for field in fields] + [
                    quote(model._meta.get_field(attname).column) for attname, _ in from_source
                ]
                values = [parameter(field) for field in fields] + [
                    f"{source}.{quote(column)}" for _, column in from_source
                ]
                rows = f"SELECT {', '.join(values)} FROM {source}" if source else f"VALUES ({', '.join(values)})"
                conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
                links.append(
                    f"{alias} AS (INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) {rows}{conflict} "
                    "RETURNING *)"
                )
            else:
                of, model = rest
                history_model = history_model_of(model)
                stamp = {name: parameter(history_model._meta.get_field(name)) for name in _HISTORY_STAMP}
                columns, values = [], []
                for field in history_model._meta.concrete_fields:
                    if field.name == "history_id":
                        continue
                    columns.append(quote(field.column))
                    if field.name in HISTORY_COLUMNS:
                        values.append(stamp[field.name])
                    else:
                        values.append(f"{of}.{quote(model._meta.get_field(field.name).column)}")
                links.append(
                    f"{alias} AS (INSERT INTO {quote(history_model._meta.db_table)} ({', '.join(columns)}) "
                    f"SELECT {', '.join(values)} FROM {of})"
                )
        assert next(number, None) is None, "every value has its parameter"
        return f"WITH {', '.join(links)} {select}"


# The statement of each chain of links (InsertChain.execute), written once per process.
_SQL: dict[tuple, str] = {}
# The history columns a chain's history link takes as parameters, in the order it passes them.
_HISTORY_STAMP = ("history_date", "history_change_reason", "history_type", "history_user")
