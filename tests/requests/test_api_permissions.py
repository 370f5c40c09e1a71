"""The API's permission table: every API URL × every role, with the status each gets.

Rows are the URL names under the ``api`` namespace, read from the resolver: a URL nobody put in the table
fails the test. The request is pending at level 1 (filed by rep), the "waiting" one waits for rep's answer.
Each cell runs in its own savepoint, rolled back, so that one role's claim or decision does not change
what the next one sees.

    anon: no token · outsider: no role · rep · approver: level 1 · director: level 2 only (the request has
    not reached them) · admin: policy admin (reads everything, files and decides nothing)
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import get_resolver, reverse
from rest_framework.test import APIClient

from requests import services
from requests.api.tokens import api_token_create
from tests.conftest import facts

ROLES = ("anon", "outsider", "rep", "approver", "director", "admin")

FILING = {
    "customer_ref": "C-9",
    "customer_name": "New Customer",
    "sentiment": "unhappy",
    "cause": "our_mistake",
    "situation": "s",
    "resolution_requested": "r",
    "amount": "20.00",
    "business_days": 0,
    "alternative_offered": "a",
    "corrective_action": "c",
}

DECISION = {"decision": "deny", "note": "n", "alternative": "a"}

# fmt: off
TABLE = [
    # url name              method  target     body                      anon outsider rep approver director admin
    ("policies",            "get",  None,      None,                     (401, 403, 200, 200, 200, 200)),
    ("policy",              "get",  "policy",  None,                     (401, 403, 200, 200, 200, 200)),
    ("requests",            "get",  None,      None,                     (401, 403, 200, 200, 200, 200)),
    ("requests",            "post", None,      FILING,                   (401, 403, 201, 201, 201, 403)),
    ("preview",             "post", None,      FILING,                   (401, 403, 200, 200, 200, 403)),
    ("request",             "get",  "pending", None,                     (401, 404, 200, 200, 404, 200)),
    ("claim",               "post", "pending", None,                     (401, 403, 403, 200, 404, 403)),
    ("release",             "post", "pending", None,                     (401, 403, 403, 409, 404, 403)),
    ("decide",              "post", "pending", DECISION,                 (401, 403, 403, 200, 404, 403)),
    ("ask",                 "post", "pending", {"question": "Why?"},     (401, 403, 403, 200, 404, 403)),
    ("answer",              "post", "waiting", {"answer": "Because."},   (401, 404, 200, 409, 404, 409)),
    ("withdraw",            "post", "pending", {"reason": "Dup."},       (401, 404, 200, 409, 404, 409)),
    ("queue",               "get",  None,      None,                     (401, 403, 403, 200, 200, 403)),
    ("notifications",       "get",  None,      None,                     (401, 200, 200, 200, 200, 200)),
    ("notifications_read",  "post", None,      {},                       (401, 200, 200, 200, 200, 200)),
    # The schema and its docs are public documentation.
    ("schema",              "get",  None,      None,                     (200, 200, 200, 200, 200, 200)),
    ("docs",                "get",  None,      None,                     (200, 200, 200, 200, 200, 200)),
]
# fmt: on
NOT_ROUTES = {"not_found"}  # the catch-all 404 (tested below)


def api_url_names() -> set[str]:
    names: set[str] = set()
    api_resolver = get_resolver().namespace_dict["api"][1]

    def walk(resolver) -> None:
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern)
            elif pattern.name:
                names.add(pattern.name)

    walk(api_resolver)
    return names - NOT_ROUTES


def test_every_api_url_is_in_the_table():
    assert api_url_names() == {name for name, *_ in TABLE}


@pytest.fixture
def users(rep, manager_high, director, admin_user, outsider):
    return {"rep": rep, "approver": manager_high, "director": director, "admin": admin_user, "outsider": outsider}


def test_permission_table(users, policy, rep, manager_low, settings):
    settings.API_THROTTLE_RATE = "100000/min"
    cache.clear()
    targets = {
        "policy": policy,
        "pending": services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("120"))),
        "waiting": services.exception_request_ask(
            request_id=services.exception_request_file(
                rep=rep, facts=facts(policy, customer_ref="C-3", amount=Decimal("130"))
            ).pk,
            approver=manager_low,
            question="Receipt?",
        ),
    }
    tokens = {role: api_token_create(user=user, name="table")[1] for role, user in users.items()}
    wrong: list[str] = []
    for name, method, target, body, expected in TABLE:
        args = [targets[target].pk] if target else []
        url = reverse(f"api:{name}", args=args)
        if body is FILING:
            body = {**body, "policy": policy.pk}
        for role, status in zip(ROLES, expected, strict=True):
            client = APIClient()
            if role != "anon":
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[role]}")
            with transaction.atomic():
                response = (
                    getattr(client, method)(url, body, format="json")
                    if body is not None
                    else getattr(client, method)(url)
                )
                transaction.set_rollback(True)
            if response.status_code != status:
                wrong.append(f"{method.upper()} {url} as {role}: {response.status_code}, expected {status}")
    assert not wrong, "\n".join(wrong)


def test_unknown_api_urls_are_problem_json_404s(db):
    response = APIClient().get("/api/v1/requests/not-a-number/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
