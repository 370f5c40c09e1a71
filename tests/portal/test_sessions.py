"""The session engine (exceptions_portal/sessions.py): Django's database sessions, read with one plain statement."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exceptions_portal.sessions import SessionStore
from policies.selectors import rules_stamp


def test_the_portal_uses_it_with_the_rules_version():
    assert settings.SESSION_ENGINE == "policies.sessions"
    assert issubclass(import_module(settings.SESSION_ENGINE).SessionStore, SessionStore)


def test_a_signed_in_request_reads_the_rules_version_with_its_session(client, rep):
    client.force_login(rep)
    url = reverse("requests:mine")
    client.get(url)  # the signed-in person and their permissions are kept from here on
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    statements = [query["sql"] for query in captured.captured_queries]
    assert 'FROM "django_session"' in statements[0] and 'FROM "policies_rulesversion"' in statements[0]
    assert sum('FROM "policies_rulesversion"' in sql for sql in statements) == 1
    assert not any('FROM "auth_user"' in sql for sql in statements)


def test_the_rules_version_read_with_a_session_is_the_current_one(client, rep):
    client.force_login(rep)
    url = reverse("requests:mine")
    client.get(url)
    rep.groups.clear()  # renews the version: the next request reads it with the session, and sees the change
    assert client.get(url).status_code == 403


def test_outside_a_request_loading_a_session_keeps_no_rules_version(client, rep, django_assert_num_queries):
    client.force_login(rep)
    store = import_module(settings.SESSION_ENGINE).SessionStore(client.cookies[settings.SESSION_COOKIE_NAME].value)
    assert store.load()["_auth_user_id"] == str(rep.pk)
    with django_assert_num_queries(1):
        rules_stamp()  # read again: a task or a command has no request to keep it for


def test_a_live_session_signs_its_holder_in_and_an_expired_one_does_not(client, rep):
    client.force_login(rep)
    assert client.get(reverse("requests:mine")).status_code == 200
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert SessionStore(key).load()["_auth_user_id"] == str(rep.pk)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(key)
    assert expired.load() == {} and expired.session_key is None  # forgotten, as Django's own engine does
    response = client.get(reverse("requests:mine"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_unknown_key_is_nobodys_session(db):
    store = SessionStore("no-such-session-key-at-all")
    assert store.load() == {} and store.session_key is None


def test_logging_out_ends_the_session_everywhere(client, rep):
    client.force_login(rep)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post(reverse("logout"))
    assert SessionStore(key).load() == {}
