"""The customer page: a customer's whole story, who may read it, and the links to it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from policies.models import ApproverLevel
from requests.models import Customer, ExceptionRequest
from requests.selectors import is_frequent_asker
from requests.services import exception_request_decide, exception_request_file
from tests.conftest import facts, make_policy, make_user


@pytest.fixture
def story(rep, rep_with_right, policy, problem_type, manager_high):
    """Maya: two requests by rep (one approved), one by rep_with_right under another policy, one a year ago."""
    now = timezone.now()
    other_policy = make_policy(problem_type, name="Late fee")
    ApproverLevel.objects.create(policy=other_policy, level=1, user=manager_high, money_authority=Decimal("2500"))
    first = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=now - timedelta(hours=3))
    exception_request_decide(request_id=first.pk, approver=manager_high, approve=True, note="fine")
    second = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("20")), now=now - timedelta(hours=2))
    by_colleague = exception_request_file(rep=rep_with_right, facts=facts(other_policy), now=now - timedelta(hours=1))
    old = exception_request_file(rep=rep_with_right, facts=facts(other_policy), now=now - timedelta(days=200))
    return {"first": first, "second": second, "by_colleague": by_colleague, "old": old}


def customer_url(request: ExceptionRequest) -> str:
    return reverse("requests:customer", args=[request.customer_id])


def test_every_request_across_policies_with_counts_and_the_frequent_mark(client, story, rep):
    client.force_login(rep)
    page = client.get(customer_url(story["first"])).content.decode()
    for key in ("first", "second", "by_colleague", "old"):
        assert story[key].reference in page
    assert "Late fee" in page and "Return window" in page
    assert 'data-count="90">3<' in page and 'data-count="365">4<' in page
    assert "data-frequent-asker" in page
    assert "Manager_High" in page  # who decided the approved one


def test_the_mark_follows_the_analysis_rule(client, rep, policy):
    one = exception_request_file(rep=rep, facts=facts(policy))
    client.force_login(rep)
    assert not is_frequent_asker(1)
    assert "data-frequent-asker" not in client.get(customer_url(one)).content.decode()


def test_a_rep_links_only_to_requests_they_may_open(client, story, rep):
    client.force_login(rep)
    page = client.get(customer_url(story["first"])).content.decode()
    assert reverse("requests:detail", args=[story["second"].pk]) in page
    assert reverse("requests:detail", args=[story["by_colleague"].pk]) not in page


def test_a_rep_who_never_filed_for_the_customer_gets_404(client, story):
    client.force_login(make_user("other_rep", "Reps"))
    assert client.get(customer_url(story["first"])).status_code == 404


@pytest.mark.parametrize("who", ["manager_low", "director", "admin_user"])
def test_approvers_and_policy_admins_see_every_customer(client, story, who, request):
    client.force_login(request.getfixturevalue(who))
    assert client.get(customer_url(story["first"])).status_code == 200


def test_outsider_and_anonymous_are_refused(client, story, outsider):
    assert client.get(customer_url(story["first"])).status_code == 302
    client.force_login(outsider)
    assert client.get(customer_url(story["first"])).status_code == 404


def test_unknown_customer_is_404(client, rep):
    client.force_login(rep)
    assert client.get(reverse("requests:customer", args=[999999])).status_code == 404


def test_the_request_page_links_to_the_customer_and_the_other_exceptions(client, story, rep):
    client.force_login(rep)
    page = client.get(reverse("requests:detail", args=[story["second"].pk])).content.decode()
    assert customer_url(story["second"]) in page
    assert reverse("requests:detail", args=[story["first"].pk]) in page
    assert story["by_colleague"].reference in page
    assert reverse("requests:detail", args=[story["by_colleague"].pk]) not in page


def test_my_requests_and_the_queue_link_to_the_customer(client, story, rep, manager_low):
    client.force_login(rep)
    assert customer_url(story["first"]) in client.get(reverse("requests:mine")).content.decode()
    client.force_login(manager_low)
    assert customer_url(story["second"]) in client.get(reverse("requests:queue")).content.decode()
    assert Customer.objects.count() == 1
