"""Filing in few statements: the reference in the INSERT, the policy's rules cached per rules version."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from policies.models import ExceptionTier, RulesVersion
from policies.selectors import policy_with_rules
from requests.models import ExceptionRequest, Status
from requests.services import exception_request_file
from tests.conftest import facts, form_data


def stamp() -> str:
    return RulesVersion.objects.get(pk=1).stamp


def test_the_reference_is_written_with_the_row_and_its_creation_history(rep, policy):
    request = exception_request_file(rep=rep, facts=facts(policy))
    stored = ExceptionRequest.objects.get(pk=request.pk)
    assert stored.reference == request.reference == f"EX-{stored.filed_at.year}-{stored.pk:06d}"
    history = list(stored.history.values_list("history_type", "reference"))
    assert history == [("+", stored.reference)]  # one creation, no UPDATE after it


def test_references_follow_the_rows(rep, policy):
    first = exception_request_file(rep=rep, facts=facts(policy, customer_ref="A"))
    second = exception_request_file(rep=rep, facts=facts(policy, customer_ref="B"))
    assert second.pk > first.pk
    assert {first.reference, second.reference} == set(ExceptionRequest.objects.values_list("reference", flat=True))


def test_a_change_in_admin_reaches_the_next_filing(rep, policy):
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="A")).status == Status.GRANTED
    before = stamp()
    tier = ExceptionTier.objects.get(policy=policy, level=1)
    tier.money_cap = Decimal("10.00")
    tier.save()
    assert stamp() != before
    # The cached policy still had the 50.00 cap: 20.00 would have been granted at once.
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="B")).status == Status.PENDING


def test_a_deactivated_policy_refuses_the_next_filing(rep, policy):
    policy_with_rules(policy.pk)  # cached
    policy.active = False
    policy.save()
    assert policy_with_rules(policy.pk).active is False


def test_a_login_keeps_the_cached_rules(client, rep, policy):
    before = stamp()
    client.force_login(rep)
    assert stamp() == before
    get_user_model().objects.filter(pk=rep.pk).update(first_name="Renamed")  # no signal: no new stamp
    assert stamp() == before


def test_a_filing_post_runs_a_fixed_number_of_statements(client, rep, policy, django_assert_max_num_queries):
    client.force_login(rep)
    for amount, ref in (("20.00", "WARM-G"), ("300.00", "WARM-P")):  # fill the caches
        client.post(reverse("requests:new"), form_data(policy, customer_ref=ref, amount=amount))
    # The session with the rules version, in one statement (the signed-in person, their permissions, the policy,
    # who may decide, the rep's stand-ins and whether a webhook endpoint listens are kept under it), and the next
    # id. Then on PostgreSQL one statement:
    # the new customer, the request, a history row each, and for a pending one the arrival notices. Elsewhere
    # through the ORM: the customer looked up, inserted with its history row inside the savepoint pair that
    # makes its creation race-free, the request and its history row, the notices. And in a test the
    # transaction's savepoint pair.
    bound = 5 if connection.vendor == "postgresql" else 13
    for amount, ref in (("20.00", "G"), ("300.00", "P")):
        with django_assert_max_num_queries(bound):
            response = client.post(reverse("requests:new"), form_data(policy, customer_ref=ref, amount=amount))
        assert response.status_code == 302
    assert ExceptionRequest.objects.count() == 4


def test_the_form_offers_the_active_policies_when_shown(client, rep, policy, problem_type):
    from tests.conftest import make_policy

    make_policy(problem_type, name="Old rule", active=False)
    client.force_login(rep)
    page = client.get(reverse("requests:new")).text
    assert f'<option value="{policy.pk}">Return window (Returns)</option>' in page
    assert "Old rule (Returns)" not in page
