"""The security counters are shared by every process of the portal (settings.CACHES): the email
decision's wrong-password lockout and the API throttle count the same whether an attacker's attempts
reach one gunicorn worker or several. Each test splits the attempts between this process and another
one (tests/counter_process.py) on the same database; with a cache per process (Django's default
local-memory cache) the last attempt would be let through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from requests import decision_links
from requests.api.tokens import api_token_create
from requests.models import Status
from requests.services import exception_request_file
from tests.celery_processes import REPO_ROOT, subprocess_database_url
from tests.conftest import facts

WRONG = "That is not your password."
LOCKED = "Too many wrong passwords"


def in_another_process(*, method: str, path: str, times: int, data=None, headers=None, **env: str) -> list[dict]:
    """Send the same request ``times`` times from a separate portal process; its responses."""
    spec = {"method": method, "path": path, "times": times, "data": data, "headers": headers or {}}
    done = subprocess.run(
        [sys.executable, "-m", "tests.counter_process"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": subprocess_database_url(), **env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def empty_cache(transactional_db):
    # Committed data (the other process reads it), so the cache table is not rolled back either.
    cache.clear()
    yield
    cache.clear()


def test_wrong_passwords_from_two_processes_add_up_to_the_lockout(empty_cache, rep, policy, manager_high, settings):
    settings.EMAIL_DECISION_STEP_UP_AMOUNT = Decimal("100")
    request = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    token = decision_links.decision_token(approver=manager_high, request=request)
    url = reverse("requests:email_decide", args=[token])
    wrong = {"decision": "approve", "note": "Shipping was our fault", "password": "guess"}
    client = Client()
    for _ in range(3):
        assert WRONG in client.post(url, wrong).content.decode()

    others = in_another_process(method="post", path=url, data=wrong, times=2, EMAIL_DECISION_STEP_UP_AMOUNT="100")
    assert [WRONG in page["body"] for page in others] == [True, True]

    # Five wrong passwords in all: the right one is refused here too, and nothing is decided.
    text = client.post(url, {**wrong, "password": "pw"}).content.decode()
    assert LOCKED in text
    request.refresh_from_db()
    assert request.status == Status.PENDING


def test_the_api_throttle_counts_calls_from_two_processes_together(empty_cache, rep, policy, settings):
    settings.API_THROTTLE_RATE = "3/min"
    _, raw = api_token_create(user=rep, name="two processes")
    headers = {"Authorization": f"Bearer {raw}"}
    client = Client()
    for _ in range(2):
        assert client.get("/api/v1/policies/", headers=headers).status_code == 200

    others = in_another_process(
        method="get", path="/api/v1/policies/", headers=headers, times=2, API_THROTTLE_RATE="3/min"
    )
    assert [page["status"] for page in others] == [200, 429]

    assert client.get("/api/v1/policies/", headers=headers).status_code == 429


def test_an_attempt_is_taken_before_the_password_is_checked_and_given_back_when_right(db, manager_high):
    cache.clear()
    taken = [decision_links.password_attempt_reserve(manager_high) for _ in range(decision_links.PASSWORD_ATTEMPTS)]
    assert None not in taken and len(set(taken)) == decision_links.PASSWORD_ATTEMPTS
    assert decision_links.password_attempt_reserve(manager_high) is None
    decision_links.password_attempt_release(taken[0])
    assert decision_links.password_attempt_reserve(manager_high) == taken[0]
    assert decision_links.password_attempt_reserve(manager_high) is None


@pytest.mark.parametrize(
    ("first", "later", "then"),
    [
        (3, 2, 0),  # five in the window: locked
        (4, 0, 1),  # four in the window: one left, in the next window too
        (5, 0, 0),  # five at the end of a window: still locked in the next one
    ],
)
def test_the_limit_holds_across_the_edge_of_a_window(db, manager_high, first, later, then):
    cache.clear()
    edge = decision_links.PASSWORD_LOCKOUT_SECONDS * 2_000_000  # a window starts here
    with time_machine.travel(edge - 60, tick=False):
        assert all(decision_links.password_attempt_reserve(manager_high) for _ in range(first))
    with time_machine.travel(edge + 60, tick=False):
        assert all(decision_links.password_attempt_reserve(manager_high) for _ in range(later))
        left = 0
        while decision_links.password_attempt_reserve(manager_high) is not None:
            left += 1
        assert left == then
    with time_machine.travel(edge + decision_links.PASSWORD_LOCKOUT_SECONDS + 60, tick=False):
        # Two windows later the first attempts no longer count; this window's do.
        assert decision_links.password_attempt_reserve(manager_high) is not None
