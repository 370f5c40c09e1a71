"""Finding requests: the queue's search, flags, filters and bulk claim; the All requests list."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from requests.authority import portal_today
from requests.models import Delegation, ExceptionRequest, Status
from requests.services import (
    AboveAuthority,
    exception_request_decide,
    exception_request_file,
    exception_request_withdraw,
)
from tests.conftest import facts


def file(rep, policy, ref: str, amount: str = "300", name: str = "Maya Brooks") -> ExceptionRequest:
    return exception_request_file(
        rep=rep, facts=facts(policy, customer_ref=ref, customer_name=name, amount=Decimal(amount))
    )


def test_queue_search_by_reference_customer_ref_or_name(client, rep, policy, manager_high):
    maya = file(rep, policy, "C-MAYA")
    omar = file(rep, policy, "C-OMAR", name="Omar Haddad")
    client.force_login(manager_high)
    queue = reverse("requests:queue")
    for query, found, hidden in (
        (maya.reference, maya, omar),
        ("c-omar", omar, maya),
        ("haddad", omar, maya),
    ):
        page = client.get(queue, {"query": query}).text.split("<table", 1)[1]
        assert found.reference in page and hidden.reference not in page, query
    assert "Clear filters" in client.get(queue, {"query": "haddad"}).text
    assert "Clear filters" not in client.get(queue).text


def test_queue_flags_rows_above_the_viewers_authority_and_shows_rep_sentiment_status(client, rep, policy, manager_low):
    file(rep, policy, "C-1", amount="1000")  # tier 3: level 1
    file(rep, policy, "C-2", amount="200")
    client.force_login(manager_low)
    page = client.get(reverse("requests:queue")).text
    assert page.count("data-above-authority") == 1
    assert "needs 1,000.00: you hold 250.00" in page
    assert '<th scope="col">Rep</th>' in page and "Unhappy" in page and "Pending approval" in page


def test_claimed_by_me_filter_and_bulk_claim_release(client, rep, policy, manager_low, manager_high):
    first, second, third = (file(rep, policy, f"C-{n}") for n in range(3))
    client.force_login(manager_high)
    response = client.post(
        reverse("requests:queue_claim"),
        {"action": "claim", "request": [first.pk, second.pk], "next": "/requests/queue/"},
    )
    assert response.status_code == 302
    assert set(ExceptionRequest.objects.filter(claimed_by=manager_high).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    page = client.get(reverse("requests:queue"), {"claimed_by_me": "on"}).text.split("<table", 1)[1]
    assert first.reference in page and second.reference in page and third.reference not in page
    # One of them refused (another approver's claim): the rest go through, the refusal is said.
    client.force_login(manager_low)
    page = client.post(
        reverse("requests:queue_claim"), {"action": "claim", "request": [first.pk, third.pk]}, follow=True
    ).text
    assert "Manager_High is already on this request." in page and f"Claimed: {third.reference}." in page
    client.force_login(manager_high)
    client.post(reverse("requests:queue_claim"), {"action": "release", "request": [first.pk, second.pk]})
    assert not ExceptionRequest.objects.filter(claimed_by=manager_high).exists()


def test_bulk_claim_refuses_get_reps_and_nothing_ticked(client, rep, policy, manager_high):
    pending = file(rep, policy, "C-1")
    client.force_login(rep)
    assert client.post(reverse("requests:queue_claim"), {"action": "claim", "request": [pending.pk]}).status_code == 403
    client.force_login(manager_high)
    assert client.get(reverse("requests:queue_claim")).status_code == 405
    page = client.post(reverse("requests:queue_claim"), {"action": "claim", "request": ["x"]}, follow=True).text
    assert "Tick the requests to claim or release first." in page
    pending.refresh_from_db()
    assert pending.claimed_by is None


def test_all_requests_searches_what_the_person_may_see(client, rep, rep_with_right, policy, manager_high, admin_user):
    mine = file(rep, policy, "C-1", name="Ann Lee")
    theirs = file(rep_with_right, policy, "C-2", name="Ann Park")
    all_url = reverse("requests:all")
    client.force_login(rep)
    page = client.get(all_url, {"query": "ann"}).text
    assert mine.reference in page and theirs.reference not in page
    for user in (manager_high, admin_user):
        client.force_login(user)
        page = client.get(all_url, {"query": "ann"}).text
        assert mine.reference in page and theirs.reference in page


def test_all_requests_filters_and_sorts(client, rep, policy, manager_high):
    small = file(rep, policy, "C-1", amount="100")
    large = file(rep, policy, "C-2", amount="900")
    exception_request_decide(request_id=small.pk, approver=manager_high, approve=True, note="ok")
    client.force_login(manager_high)
    url = reverse("requests:all")
    page = client.get(url, {"decided_by_me": "on"}).text
    assert small.reference in page and large.reference not in page
    page = client.get(url, {"status": Status.PENDING}).text
    assert large.reference in page and small.reference not in page
    page = client.get(url, {"sort": "-amount"}).text
    assert page.index(large.reference) < page.index(small.reference)
    page = client.get(url, {"sort": "amount"}).text
    assert page.index(small.reference) < page.index(large.reference)
    tomorrow = timezone.localdate() + timedelta(days=1)
    page = client.get(url, {"filed_from": tomorrow.isoformat()}).text
    assert small.reference not in page and large.reference not in page
    page = client.get(url, {"filed_from": tomorrow.isoformat(), "filed_to": timezone.localdate().isoformat()}).text
    assert "The last day must be on or after the first day." in page


@pytest.mark.parametrize("params", [{"sort": "drop table"}, {"status": "nonsense"}, {"filed_from": "x"}])
def test_all_requests_bad_filters_are_ignored_not_a_500(client, rep, policy, manager_high, params):
    filed = file(rep, policy, "C-1")
    client.force_login(manager_high)
    response = client.get(reverse("requests:all"), params)
    assert response.status_code == 200 and filed.reference in response.text


def test_all_requests_finds_withdrawn_ones_and_the_queue_never_shows_them(client, rep, policy, manager_high):
    kept = file(rep, policy, "C-1")
    gone = file(rep, policy, "C-2")
    exception_request_withdraw(request_id=gone.pk, rep=rep, reason="Filed twice.")
    client.force_login(manager_high)
    page = client.get(reverse("requests:all"), {"status": Status.WITHDRAWN}).text
    assert '<option value="withdrawn" selected>' in page
    assert gone.reference in page and kept.reference not in page
    queue = client.get(reverse("requests:queue")).text
    assert kept.reference in queue and gone.reference not in queue


def test_the_queue_flag_agrees_with_the_decision_for_a_stand_in(client, rep, policy, manager_low, manager_high):
    """The flag comes from the rule the decision applies: standing in for Manager_High, Manager_Low acts with
    2,500 (no flag, the approval goes through); once Manager_High is no longer active, only their own 250."""
    today = portal_today()
    Delegation.objects.create(approver=manager_high, delegate=manager_low, starts_on=today, ends_on=today)
    first = file(rep, policy, "C-1", amount="1000")
    client.force_login(manager_low)
    page = client.get(reverse("requests:queue")).text
    assert "data-above-authority" not in page and "2,500.00 on behalf of Manager_High" in page
    exception_request_decide(request_id=first.pk, approver=manager_low, approve=True, note="Within their authority")

    second = file(rep, policy, "C-2", amount="1000")
    manager_high.is_active = False
    manager_high.save()
    page = client.get(reverse("requests:queue")).text
    assert page.count("data-above-authority") == 1 and "needs 1,000.00: you hold 250.00" in page
    with pytest.raises(AboveAuthority, match=r"above your money authority of 250\.00"):
        exception_request_decide(request_id=second.pk, approver=manager_low, approve=True, note="Too much")
