"""Django's PostgreSQL backend (``ENGINE = "exceptions_portal.postgresql"``, set by settings for a postgres
``DATABASE_URL``), with a cheaper health check.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before a request first uses it, by running
``SELECT 1``: a round trip at every request, which cost the filing POST about as much as one of its real
statements. A connection the server has ended (a restart, ``pg_terminate_backend``, an idle timeout) says so on
its socket: the server sends its last message and closes, so the socket turns readable, while an idle healthy
connection has nothing to read. This check looks at the socket without waiting (``select`` with a zero
timeout) and at the connection's state as libpq knows it; anything unexpected closes the connection, and Django
opens a new one, as after a failed ``SELECT 1``. (A connection cut without the server closing it, a dead
network path, is not seen here; nor was it by ``SELECT 1`` until its TCP timeout.)

A connection found inside a transaction (or broken) at that moment gets Django's own check, and after an error
in a request Django still checks with ``SELECT 1`` (``is_usable``): those ask whether the connection can run a
query, not only whether it is open.
"""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if self.pool or self.connection is None or not self.health_check_enabled or self.health_check_done:
            return super().close_if_health_check_failed()
        if self.connection.closed or self.connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            # Not the state a connection rests in between requests (inside a transaction, or broken): Django's
            # own check (SELECT 1), which answers for each of them as it always did.
            return super().close_if_health_check_failed()
        if not self.is_open_and_idle():
            self.close()
        self.health_check_done = True

    def is_open_and_idle(self) -> bool:
        """Open as far as libpq knows, and nothing waiting on its socket (no round trip)."""
        pgconn = self.connection.pgconn
        if self.connection.closed or pgconn.status != pq.ConnStatus.OK:
            return False
        try:
            readable, _, _ = select.select([pgconn.socket], [], [], 0)
        except (OSError, ValueError, psycopg.Error):  # the socket is gone
            return False
        return not readable
