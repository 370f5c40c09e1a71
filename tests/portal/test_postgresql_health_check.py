"""The PostgreSQL backend's health check (exceptions_portal.postgresql): no round trip for a healthy connection,
and a connection the server ended is replaced before the request uses it. And the settings of a PostgreSQL
DATABASE_URL (whatever engine the suite runs on)."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.portal.test_project import manage

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's check")
SHOW = "from django.conf import settings as s; d = s.DATABASES['default']; print(d['ENGINE'], d['OPTIONS'])"


def _begin_request() -> None:
    """What Django does when a request starts (close_old_connections), for a connection kept between requests."""
    connection.close_if_unusable_or_obsolete()
    assert connection.health_check_done is False


@pytest.mark.parametrize(("flag", "options"), [(None, "{'prepare_threshold': 5}"), ("false", "{}")])
def test_a_postgresql_url_gets_this_backend_and_prepared_statements_unless_turned_off(tmp_path, flag, options):
    env = {"DEBUG": "true", "DATABASE_URL": "postgres://someone@db.example:5432/portal"}
    if flag is not None:
        env["DB_PREPARED_STATEMENTS"] = flag
    result = manage("shell", "-c", SHOW, tmp_path=tmp_path, **env)
    assert result.stdout.strip().splitlines()[-1] == f"exceptions_portal.postgresql {options}", result.stderr


@on_postgresql
def test_the_portal_uses_it_with_health_checks():
    assert settings.DATABASES["default"]["ENGINE"] == "exceptions_portal.postgresql"
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_healthy_connection_is_kept_without_a_round_trip(monkeypatch):
    connection.close()  # a fresh one, whatever an earlier test left
    connection.ensure_connection()
    kept = connection.connection
    _begin_request()

    def no_query(*args, **kwargs):
        raise AssertionError("the health check ran a query")

    monkeypatch.setattr(kept, "cursor", no_query)
    monkeypatch.setattr(kept, "execute", no_query)
    connection.close_if_health_check_failed()
    assert connection.connection is kept and connection.health_check_done is True
    monkeypatch.undo()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_it_is_used():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    ended = connection.connection
    _begin_request()
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        # The server's last message and the close reach the socket a moment later.
        for _ in range(100):
            if not connection.is_open_and_idle():
                break
            admin.execute("SELECT pg_sleep(0.01)")
    with connection.cursor() as cursor:  # the check runs first: a new connection, no error
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
    assert connection.connection is not ended


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_check_is_djangos_own_and_keeps_the_connection():
    connection.ensure_connection()
    kept = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT 1")
    connection.health_check_done = False
    connection.close_if_health_check_failed()  # SELECT 1 within the transaction: usable, kept
    assert connection.connection is kept and connection.health_check_done is True
    with connection.cursor() as cursor:
        cursor.execute("ROLLBACK")
