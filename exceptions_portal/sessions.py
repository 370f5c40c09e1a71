"""Django's database sessions, each read with one plain statement.

Every signed-in request reads its session. Django's ``db`` engine reads it through the ORM, building and compiling
the same query each time, which cost more than the round trip to the database on the filing POST. This engine
reads the same row (``django_session``, by key, unexpired) with a fixed statement; writing, expiry and clearing
are Django's own. ``SESSION_ENGINE = "exceptions_portal.sessions"``.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        table, key, data, expires = (
            quote(model._meta.db_table),
            *(quote(model._meta.get_field(name).column) for name in ("session_key", "session_data", "expire_date")),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {data} FROM {table} WHERE {key} = %s AND {expires} > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: a key that names no live session is forgotten
            return None
        return model(session_key=self.session_key, session_data=row[0])
