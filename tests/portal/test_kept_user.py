"""The signed-in person kept per process under the rules version (policies.permissions.KeptUserBackend), and
sessions signed in before it moving to it (policies migration 0007) instead of being signed out."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exceptions_portal.sessions import SessionStore
from policies.models import RulesVersion

migration = import_module("policies.migrations.0007_sessions_kept_user_backend")


def _user_reads(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response.status_code, sum('FROM "auth_user"' in q["sql"] for q in captured.captured_queries)


def test_the_signed_in_person_is_read_once_and_again_after_a_change(client, rep, policy):
    client.force_login(rep)
    url = reverse("requests:mine")
    assert _user_reads(client, url) == (200, 1)
    assert _user_reads(client, url) == (200, 0)
    assert client.get(url).context["user"] == rep
    rep.first_name = "Renamed"
    rep.save()
    assert _user_reads(client, url) == (200, 1)
    assert client.get(url).context["user"].first_name == "Renamed"


def test_each_request_gets_its_own_user_object(client, rep, policy):
    client.force_login(rep)
    first = client.get(reverse("requests:mine")).context["user"]
    first.first_name = "Changed in one request only"
    assert client.get(reverse("requests:mine")).context["user"].first_name == rep.first_name


def test_a_password_changed_or_a_person_deactivated_signs_them_out_at_once(client, rep, policy):
    url = reverse("requests:mine")
    client.force_login(rep)
    assert client.get(url).status_code == 200
    rep.set_password("a-new-password-42")
    rep.save()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    client.force_login(rep)
    assert client.get(url).status_code == 200
    rep.is_active = False
    rep.save()
    assert client.get(url).status_code == 302


def test_a_change_made_by_another_process_reaches_the_next_request(client, rep, policy):
    client.force_login(rep)
    url = reverse("requests:mine")
    assert client.get(url).status_code == 200
    # Another process deactivates them: its save renewed the version (no signal in this one).
    type(rep).objects.filter(pk=rep.pk).update(is_active=False)
    assert client.get(url).status_code == 200  # kept under the version this process read
    RulesVersion.objects.filter(pk=1).update(stamp="renewed-by-another-process")
    assert client.get(url).status_code == 302


def test_a_session_of_djangos_model_backend_moves_to_the_kept_one_and_stays_signed_in(client, rep, policy):
    client.force_login(rep, backend=migration.MODEL_BACKEND)
    url = reverse("requests:mine")
    assert client.get(url).status_code == 302  # no longer listed: signed out, unless moved
    client.force_login(rep, backend=migration.MODEL_BACKEND)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    later = timezone.now() + timedelta(days=1)
    Session.objects.create(session_key="tampered-session-key", session_data="not:signed", expire_date=later)

    migration.forwards(apps, None)

    assert SessionStore(key).load()["_auth_user_backend"] == migration.KEPT_USER_BACKEND
    assert client.get(url).status_code == 200
    assert Session.objects.get(session_key="tampered-session-key").session_data == "not:signed"
    migration.backwards(apps, None)
    assert SessionStore(key).load()["_auth_user_backend"] == migration.MODEL_BACKEND


def test_the_portal_signs_in_through_it():
    assert settings.AUTHENTICATION_BACKENDS[-1] == migration.KEPT_USER_BACKEND
    assert migration.MODEL_BACKEND not in settings.AUTHENTICATION_BACKENDS
