"""The filing form: the preview's words for a wrong field, the error summary, the tier caps, the deadline's zone."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from requests.models import ExceptionRequest
from requests.services import exception_request_file
from tests.conftest import facts, form_data


@pytest.mark.parametrize(
    ("amount", "days", "expected"),
    [
        ("-5", "0", "the amount cannot be negative"),
        ("12.345", "0", "the amount takes at most two decimals"),
        ("abc", "0", "the amount must be a number"),
        ("10", "-1", "the business days cannot be negative"),
        ("10", "400", "the business days can be at most 365"),
    ],
)
def test_the_preview_names_a_wrong_field_in_words(client, rep, policy, amount, days, expected):
    client.force_login(rep)
    response = client.get(
        reverse("requests:preview"),
        {"policy": str(policy.pk), "sentiment": "unhappy", "amount": amount, "business_days": days},
    )
    assert expected in response.text
    assert "Still needed" not in response.text


def test_the_preview_lists_empty_fields_as_still_needed(client, rep, policy):
    client.force_login(rep)
    response = client.get(reverse("requests:preview"), {"policy": str(policy.pk), "amount": "10", "business_days": "0"})
    assert "Still needed for the preview: customer sentiment." in response.text


def test_the_preview_announces_only_the_outcome_sentence(client, rep, policy):
    client.force_login(rep)
    response = client.get(reverse("requests:preview"), {**form_data(policy), "amount": "20.00"})
    announced = re.findall(r"data-announce>\s*([^<]*)", response.text)
    assert [" ".join(text.split()) for text in announced] == ["You may grant this at once."]


def test_a_failed_submit_shows_an_error_summary_linking_to_the_fields(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, amount="-1", situation="", sentiment=""))
    page = response.content.decode()
    assert "<title>Error: New request" in page
    assert 'role="alert"' in page and 'id="error-summary"' in page
    assert 'href="#id_amount"' in page and 'href="#id_situation"' in page and 'href="#id_sentiment_0"' in page
    assert ExceptionRequest.objects.count() == 0


def test_the_form_carries_each_policys_tier_caps_for_the_script(client, rep, policy):
    client.force_login(rep)
    page = client.get(reverse("requests:new")).content.decode()
    data = json.loads(re.search(r'<script id="tier-caps" type="application/json">(.*?)</script>', page).group(1))
    assert [(tier["label"], tier["cap"], tier["days"]) for tier in data[str(policy.pk)]][:2] == [
        ("Tier 1", "50.00", 5),
        ("Tier 2 (reward)", "250.00", 15),
    ]
    assert "<script>" not in page  # no inline script: a CSP is coming


def test_the_deadline_in_the_routing_is_shown_in_the_readers_time_zone(client, rep, policy, manager_low):
    filed_at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    with timezone.override(ZoneInfo("America/New_York")):
        pending = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=filed_at)
    client.force_login(manager_low)
    client.cookies["tz"] = "Europe/London"
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    assert "Due by Mon 23 Nov 2026, 17:00 GMT (120 minute SLA)." in page
    client.cookies["tz"] = "America/New_York"
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    assert "Due by Mon 23 Nov 2026, 12:00 EST (120 minute SLA)." in page


@pytest.fixture
def three_requests(rep, policy, manager_high):
    """Maya's pending one (asked about by the approver), Ola's granted one, Ben's pending one."""
    from requests.services import exception_request_ask

    asked = exception_request_file(
        rep=rep, facts=facts(policy, amount=Decimal("300")), now=datetime(2026, 11, 2, 9, tzinfo=UTC)
    )
    exception_request_ask(request_id=asked.pk, approver=manager_high, question="Which order?")
    granted = exception_request_file(
        rep=rep,
        facts=facts(policy, customer_ref="C-2", customer_name="Ola Nowak"),
        now=datetime(2026, 11, 10, 9, tzinfo=UTC),
    )
    newest = exception_request_file(
        rep=rep,
        facts=facts(policy, customer_ref="C-3", customer_name="Ben Ode", amount=Decimal("300")),
        now=datetime(2026, 11, 20, 9, tzinfo=UTC),
    )
    return asked, granted, newest


def references(response) -> list[str]:
    return re.findall(r">(EX-\d{4}-\d{6})</a>", response.content.decode())


def test_my_requests_puts_what_waits_for_the_rep_first(client, rep, three_requests):
    asked, granted, newest = three_requests
    client.force_login(rep)
    response = client.get(reverse("requests:mine"))
    assert references(response) == [asked.reference, newest.reference, granted.reference]
    assert "1 request waits for your answer" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "granted"}, [1]),
        ({"status": "waiting_for_rep"}, [0]),
        ({"q": "ola"}, [1]),
        ({"q": "C-3"}, [2]),
        ({"filed_from": "2026-11-05", "filed_to": "2026-11-10"}, [1]),
    ],
)
def test_my_requests_filters(client, rep, three_requests, query, expected):
    client.force_login(rep)
    response = client.get(reverse("requests:mine"), query)
    assert references(response) == [three_requests[i].reference for i in expected]


def test_my_requests_search_by_reference_and_a_bad_status_changes_nothing(client, rep, three_requests):
    client.force_login(rep)
    found = client.get(reverse("requests:mine"), {"q": three_requests[2].reference})
    assert references(found) == [three_requests[2].reference]
    bad = client.get(reverse("requests:mine"), {"status": "nonsense"})
    assert bad.status_code == 200 and len(references(bad)) == 3


def test_an_overdue_request_has_a_red_banner(client, rep, policy, manager_low):
    pending = exception_request_file(
        rep=rep, facts=facts(policy, amount=Decimal("300")), now=datetime(2026, 1, 5, 9, tzinfo=UTC)
    )
    client.force_login(manager_low)
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    assert 'class="alert alert-danger" data-banner="breached"' in page
