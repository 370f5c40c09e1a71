"""The REST API: tokens, filing (idempotent), preview, reading, deciding, problem+json errors, throttling.

The rules themselves are tested with the services; here: the API reaches the same services, refuses what
the portal refuses with the portal's sentence, and keeps its own promises (tokens, idempotency, 429).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from requests import services
from requests.api.tokens import api_token_create, api_token_revoke
from requests.api_models import ApiToken, IdempotencyKey
from requests.models import Customer, ExceptionRequest, Status, routing_reason_text
from tests.conftest import facts


@pytest.fixture(autouse=True)
def fresh_throttle_counts(db):
    # The counts live in the shared cache (the database table by default, Redis with CACHE_URL).
    cache.clear()
    yield
    cache.clear()


def client_for(user) -> APIClient:
    _, raw = api_token_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def filing(policy, **overrides) -> dict:
    body = {
        "customer_ref": "C-1",
        "customer_name": "Maya Brooks",
        "policy": policy.pk,
        "sentiment": "unhappy",
        "cause": "our_mistake",
        "situation": "Returned 40 days after delivery.",
        "resolution_requested": "Full refund",
        "amount": "20.00",
        "business_days": 0,
        "alternative_offered": "Store credit",
        "corrective_action": "Fix shipping emails",
    }
    body.update(overrides)
    return body


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    return body


# Tokens


def test_token_is_stored_hashed_and_works_until_revoked(rep, policy):
    token, raw = api_token_create(user=rep, name="Zendesk")
    assert raw not in {token.key_hash, token.prefix} and len(token.key_hash) == 64
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/policies/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    api_token_revoke(user=rep, token_id=token.pk)
    body = is_problem(client.get("/api/v1/policies/"), 401)
    assert body["detail"] == "That token was revoked."


def test_expired_token_is_refused(rep, policy):
    token, raw = api_token_create(user=rep, name="Zendesk")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert "expired" in is_problem(client.get("/api/v1/policies/"), 401)["detail"]


def test_no_token_is_401_with_a_bearer_challenge(db):
    response = APIClient().get("/api/v1/requests/")
    is_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_user_cannot_revoke_someone_elses_token(rep, outsider):
    token, _ = api_token_create(user=rep, name="mine")
    with pytest.raises(services.NotYours):
        api_token_revoke(user=outsider, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_page_shows_the_token_once_and_revokes(client, rep):
    client.force_login(rep)
    response = client.post("/account/api-tokens/", {"name": "Zendesk app"})
    assert response.status_code == 200
    raw = response.context["created_raw"]
    assert raw.startswith("ept_")
    assert "no-store" in response["Cache-Control"]  # shown once: never kept by a cache
    listing = client.get("/account/api-tokens/")
    assert raw not in listing.content.decode()
    assert "Zendesk app" in listing.content.decode()
    token = ApiToken.objects.get(user=rep)
    client.post("/account/api-tokens/", {"revoke": token.pk})
    token.refresh_from_db()
    assert token.revoked_at is not None


# Throttling


def test_throttled_caller_gets_a_clear_429(rep, policy, settings):
    settings.API_THROTTLE_RATE = "2/min"
    client = client_for(rep)
    assert client.get("/api/v1/policies/").status_code == 200
    assert client.get("/api/v1/policies/").status_code == 200
    response = client.get("/api/v1/policies/")
    body = is_problem(response, 429)
    assert "Try again in" in body["detail"]
    assert int(response["Retry-After"]) > 0


# Policies


def test_policies_say_what_the_caller_may_grant(rep, rep_with_right, manager_high, policy):
    mine = client_for(rep).get(f"/api/v1/policies/{policy.pk}/").json()
    grants = {tier["label"]: tier["you_may_grant"] for tier in mine["tiers"]}
    assert grants == {"Tier 1": True, "Tier 2 (reward)": False, "Tier 2 (save)": False, "Tier 3": False}
    assert mine["your_approval_authority"] == []
    assert [c["name"] for c in mine["controls"]] == ["Serial numbers"]

    rightful = client_for(rep_with_right).get(f"/api/v1/policies/{policy.pk}/").json()
    assert [t["you_may_grant"] for t in rightful["tiers"]] == [True, True, True, False]

    manager = client_for(manager_high).get("/api/v1/policies/").json()[0]
    assert manager["your_approval_authority"] == [{"level": 1, "money_authority": "2500.00", "on_behalf_of": None}]


# Preview and filing


def test_preview_explains_like_the_form_and_writes_nothing(rep, policy):
    response = client_for(rep).post(
        "/api/v1/requests/preview/",
        {"policy": policy.pk, "sentiment": "unhappy", "amount": "120.00", "business_days": 0},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    decision, _ = services.exception_request_preview(rep=rep, facts=facts(policy, amount=Decimal("120.00")))
    assert body["outcome"] == "pending" == decision.outcome.value
    assert body["reasons"] == list(decision.reasons)
    assert body["approval_level"] == 1
    assert ExceptionRequest.objects.count() == 0


def test_filing_is_idempotent_per_key_and_user(rep, policy):
    client = client_for(rep)
    first = client.post("/api/v1/requests/", filing(policy), format="json", HTTP_IDEMPOTENCY_KEY="ticket-42")
    assert first.status_code == 201, first.content
    assert first.json()["status"] == Status.GRANTED
    again = client.post("/api/v1/requests/", filing(policy), format="json", HTTP_IDEMPOTENCY_KEY="ticket-42")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert ExceptionRequest.objects.count() == 1

    other_body = is_problem(
        client.post(
            "/api/v1/requests/", filing(policy, amount="30.00"), format="json", HTTP_IDEMPOTENCY_KEY="ticket-42"
        ),
        409,
    )
    assert "different filing" in other_body["detail"]
    assert ExceptionRequest.objects.count() == 1


def test_same_key_from_another_user_files_separately(rep, rep_with_right, policy):
    client_for(rep).post("/api/v1/requests/", filing(policy), format="json", HTTP_IDEMPOTENCY_KEY="k")
    client_for(rep_with_right).post(
        "/api/v1/requests/", filing(policy, customer_ref="C-2"), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert ExceptionRequest.objects.count() == 2
    assert IdempotencyKey.objects.count() == 2


def test_invalid_filing_is_a_400_problem_with_the_forms_messages_and_saves_nothing(rep, policy):
    body = is_problem(
        client_for(rep).post("/api/v1/requests/", filing(policy, customer_ref="!bad"), format="json"), 400
    )
    assert "Use letters, digits, spaces, dots, dashes or slashes." in body["detail"]
    assert "customer_ref" in body["errors"]
    assert ExceptionRequest.objects.count() == 0


def test_a_name_that_is_someone_elses_is_a_400_on_the_name_and_saves_nothing(rep, policy):
    client = client_for(rep)
    assert client.post("/api/v1/requests/", filing(policy, customer_ref="DEMO-7"), format="json").status_code == 201
    body = is_problem(
        client.post(
            "/api/v1/requests/", filing(policy, customer_ref="demo-7", customer_name="Jo Other"), format="json"
        ),
        400,
    )
    assert "DEMO-7 is the reference of Maya Brooks, not of Jo Other" in body["detail"]
    assert "customer_name" in body["errors"]
    assert ExceptionRequest.objects.count() == 1 and Customer.objects.count() == 1


def test_waived_control_is_refused_with_routings_reason(rep, policy):
    control = policy.controls.get()
    body = is_problem(
        client_for(rep).post("/api/v1/requests/", filing(policy, waived_controls=[control.pk]), format="json"), 422
    )
    assert "Exceptions are for process, not for controls" in body["detail"]
    assert body["reasons"]
    assert ExceptionRequest.objects.count() == 0


def test_outsider_may_not_file(outsider, policy):
    is_problem(client_for(outsider).post("/api/v1/requests/", filing(policy), format="json"), 403)


# Reading and deciding


@pytest.fixture
def pending(rep, policy):
    return services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("120.00")))


def test_read_a_request_with_reasons_and_history(rep, pending):
    body = client_for(rep).get(f"/api/v1/requests/{pending.pk}/").json()
    assert body["reference"] == pending.reference
    assert body["routing_reasons"] == [routing_reason_text(reason) for reason in pending.routing_reasons]
    assert body["routing_reasons"][-1].startswith("Due by ")
    assert body["history"][0]["kind"] == "Created"
    assert body["you"]["is_filing_rep"] is True


def test_a_request_not_visible_is_404(outsider, pending):
    is_problem(client_for(outsider).get(f"/api/v1/requests/{pending.pk}/"), 404)


def test_decide_refusal_carries_the_portals_message(rep, manager_low, policy):
    big = services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300.00")))
    body = is_problem(
        client_for(manager_low).post(
            f"/api/v1/requests/{big.pk}/decide/", {"decision": "approve", "note": "fine"}, format="json"
        ),
        409,
    )
    assert body["detail"].startswith("The amount 300.00 is above your money authority of 250.00")
    big.refresh_from_db()
    assert big.status == Status.PENDING


def test_approver_decides_through_the_api_and_the_rep_reads_it(rep, manager_high, pending):
    response = client_for(manager_high).post(
        f"/api/v1/requests/{pending.pk}/decide/", {"decision": "approve", "note": "Loyal customer"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = client_for(rep).get(f"/api/v1/requests/{pending.pk}/").json()
    assert body["status"] == "approved"
    assert body["decision"]["note"] == "Loyal customer"
    again = client_for(manager_high).post(
        f"/api/v1/requests/{pending.pk}/decide/", {"decision": "deny", "note": "no", "alternative": "x"}, format="json"
    )
    assert "already approved" in is_problem(again, 409)["detail"]


def test_denial_without_alternative_is_400(manager_high, pending):
    body = is_problem(
        client_for(manager_high).post(
            f"/api/v1/requests/{pending.pk}/decide/", {"decision": "deny", "note": "no"}, format="json"
        ),
        400,
    )
    assert "A denial needs the alternative offered to the customer." in body["detail"]


def test_queue_claim_ask_answer(rep, manager_low, pending):
    approver = client_for(manager_low)
    queue = approver.get("/api/v1/queue/").json()
    assert [row["id"] for row in queue["results"]] == [pending.pk]
    assert approver.post(f"/api/v1/requests/{pending.pk}/claim/").json()["claimed_by"] == "Manager_Low"
    assert "already claimed" in is_problem(approver.post(f"/api/v1/requests/{pending.pk}/claim/"), 409)["detail"]
    assert approver.post(f"/api/v1/requests/{pending.pk}/release/").json()["claimed_by"] is None
    asked = approver.post(f"/api/v1/requests/{pending.pk}/ask/", {"question": "Receipt?"}, format="json").json()
    assert asked["thread"] == {"asked_by": "Manager_Low", "question": "Receipt?", "answer": "", "waiting_for_rep": True}
    answered = client_for(rep).post(f"/api/v1/requests/{pending.pk}/answer/", {"answer": "Yes"}, format="json")
    assert answered.json()["status"] == "pending"
    notes = client_for(manager_low).get("/api/v1/notifications/").json()["results"]
    assert notes[0]["kind"] == "info_answered"


def test_list_is_scoped_filtered_and_cursor_paginated(rep, rep_with_right, policy):
    for n in range(3):
        services.exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"C-{n}"))
    services.exception_request_file(rep=rep_with_right, facts=facts(policy, customer_ref="OTHER"))
    client = client_for(rep)
    page = client.get("/api/v1/requests/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(page["next"]).json()
    seen = [r["customer_ref"] for r in page["results"] + rest["results"]]
    assert sorted(seen) == ["C-0", "C-1", "C-2"]
    assert client.get("/api/v1/requests/?customer_ref=c-1").json()["results"][0]["customer_ref"] == "C-1"


def test_docs_page_has_no_inline_script_or_style_and_no_cdn(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and "<style" not in page and "style=" not in page
    assert "https://" not in page  # everything from static/
    assert '<script src="/api/docs/?script=' in page
    assert client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["openapi"] == "3.1.0"
