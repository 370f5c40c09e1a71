"""Django's database sessions, each read with one plain statement.

Every signed-in request reads its session. Django's ``db`` engine reads it through the ORM, building and compiling
the same query each time, which cost more than the round trip to the database on the filing POST. This engine
reads the same row (``django_session``, by key, unexpired) with a fixed statement; writing, expiry and clearing
are Django's own.

A subclass may read more in the same statement (``also_read``: one scalar subquery, handed to ``received``),
for what nearly every signed-in request reads next: the portal's engine, ``policies.sessions``, reads the
rules version with the session.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    # A scalar subquery read with the session (the row or not), its value handed to ``received``.
    also_read: str | None = None

    def received(self, value) -> None:
        """What ``also_read`` read."""

    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        table, key, data, expires = (
            quote(model._meta.db_table),
            *(quote(model._meta.get_field(name).column) for name in ("session_key", "session_data", "expire_date")),
        )
        session = f"SELECT {data} FROM {table} WHERE {key} = %s AND {expires} > %s"
        parameters = [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())]
        with connection.cursor() as cursor:
            if self.also_read is None:
                cursor.execute(session, parameters)
                row = cursor.fetchone()
            else:
                # One row whether or not the session is there: the session's data (or NULL), and the other value.
                cursor.execute(f"SELECT ({session}), ({self.also_read})", parameters)
                data_value, other = cursor.fetchone()
                self.received(other)
                row = None if data_value is None else (data_value,)
        if row is None:
            self._session_key = None  # as Django's: a key that names no live session is forgotten
            return None
        return model(session_key=self.session_key, session_data=row[0])
