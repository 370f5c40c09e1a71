"""Login throttling (django-axes): a username is locked out from one address after
AXES_FAILURE_LIMIT wrong passwords, on the portal's login and the admin's, until the
cool-off passes or a superuser unlocks it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tests.conftest import make_user
from tests.portal.test_project import manage

LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def three_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def attempt(client: Client, url: str, username: str, password: str, ip: str = "10.0.0.1", **extra):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username="manager", times=3, url=LOGIN, ip="10.0.0.1"):
    for _ in range(times):
        response = attempt(client, url, username, "wrong", ip)
    return response


@pytest.mark.django_db
def test_wrong_passwords_below_the_limit_still_let_the_right_one_in_and_reset_the_count():
    make_user("manager")
    client = Client()
    assert fail(client, times=2).status_code == 200  # the login form with its error
    response = attempt(client, LOGIN, "manager", "pw")
    assert response.status_code == 302 and logged_in(client)
    assert not AccessAttempt.objects.filter(username="manager").exists()


@pytest.mark.django_db
def test_the_limit_locks_the_username_from_that_address_even_with_the_right_password():
    make_user("manager")
    client = Client()
    response = fail(client)
    assert response.status_code == 429
    response = attempt(client, LOGIN, "manager", "pw")
    assert response.status_code == 429 and not logged_in(client)
    text = response.content.decode()
    assert "Log-in locked for now" in text
    assert "3 wrong passwords" in text and "manager" in text
    assert "Wait 15 minutes" in text and "administrator to unlock you" in text


@pytest.mark.django_db
def test_the_lock_is_per_username_and_address():
    make_user("manager")
    make_user("colleague")
    fail(Client())
    other_address = Client()
    assert attempt(other_address, LOGIN, "manager", "pw", ip="10.0.0.2").status_code == 302
    same_address_other_user = Client()
    assert attempt(same_address_other_user, LOGIN, "colleague", "pw").status_code == 302


@pytest.mark.django_db
def test_admin_login_is_throttled_too_and_shares_the_count():
    make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    fail(client, "boss", times=2, url=ADMIN_LOGIN)
    response = attempt(client, LOGIN, "boss", "wrong")
    assert response.status_code == 429
    response = attempt(client, ADMIN_LOGIN, "boss", "pw")
    assert response.status_code == 429 and not logged_in(client)
    assert "Log-in locked for now" in response.content.decode()


@pytest.mark.django_db
def test_the_lock_lifts_after_the_cool_off():
    make_user("manager")
    client = Client()
    fail(client)
    with time_machine.travel(timezone.now() + timedelta(minutes=14), tick=False):
        assert attempt(client, LOGIN, "manager", "pw").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        assert attempt(client, LOGIN, "manager", "pw").status_code == 302
    assert logged_in(client)


@pytest.mark.django_db
def test_a_superuser_unlocks_in_admin():
    make_user("manager")
    fail(Client())
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    admin = Client()
    admin.force_login(superuser)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "manager" in listing.content.decode()
    row = AccessAttempt.objects.get(username="manager")
    response = admin.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert attempt(Client(), LOGIN, "manager", "pw").status_code == 302


@pytest.mark.django_db
def test_a_spoofed_forwarded_for_is_ignored_unless_the_proxy_is_trusted(settings):
    make_user("manager")
    client = Client()
    # Reached directly: a new X-Forwarded-For each time does not dodge the lock.
    for n in range(3):
        attempt(client, LOGIN, "manager", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert attempt(client, LOGIN, "manager", "pw", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429

    # Behind the operator's proxy, the right-most forwarded address is the client's.
    settings.TRUST_PROXY_HEADERS = True
    AccessAttempt.objects.all().delete()
    for _ in range(3):
        attempt(client, LOGIN, "manager", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7")
    assert attempt(client, LOGIN, "manager", "pw", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert attempt(client, LOGIN, "manager", "pw", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 302


def test_the_limit_and_cool_off_come_from_the_environment(tmp_path):
    show = "from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    result = manage("shell", "-c", show, tmp_path=tmp_path, DEBUG="true")
    assert result.stdout.split()[-2:] == ["5", "0:15:00"], result.stderr
    result = manage(
        "shell", "-c", show, tmp_path=tmp_path, DEBUG="true", AXES_FAILURE_LIMIT="8", AXES_COOLOFF_MINUTES="60"
    )
    assert result.stdout.split()[-2:] == ["8", "1:00:00"], result.stderr
