"""The session engine (exceptions_portal/sessions.py): Django's database sessions, read with one plain statement."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from exceptions_portal.sessions import SessionStore


def test_the_portal_uses_it():
    assert settings.SESSION_ENGINE == "exceptions_portal.sessions"


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
