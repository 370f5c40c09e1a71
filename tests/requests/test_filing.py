"""Filing: the service and the browser form."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from policies.models import Control, RepRight
from requests.models import Customer, ExceptionRequest, Status
from requests.services import FilingRefused, exception_request_file
from tests.conftest import facts, form_data
from tests.support import FILED as NOW

# --- the service -----------------------------------------------------------------


def test_tier_1_is_granted_at_once_by_the_rep(rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy), now=NOW)
    assert filed.status == Status.GRANTED
    assert filed.decided_by == rep
    assert filed.due_at is None
    assert filed.reference == f"EX-2026-{filed.pk:06d}"
    assert "Dear Maya Brooks" in filed.customer_message
    assert "exists for a reason: returned items must be resold as new" in filed.customer_message


def test_rep_without_right_gets_pending_due_within_the_sla(rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("100")), now=NOW)
    assert filed.status == Status.PENDING
    assert filed.approval_level == 1
    assert filed.due_at == NOW + timedelta(minutes=120)
    assert filed.remind_at == NOW + timedelta(minutes=90)
    assert filed.routing_reasons[-1] == {"due_by": filed.due_at.isoformat(), "sla_minutes": policy.sla_minutes}


def test_rep_with_right_grants_tier_2(rep_with_right, policy):
    filed = exception_request_file(rep=rep_with_right, facts=facts(policy, amount=Decimal("100")), now=NOW)
    assert (filed.status, filed.tier_level, filed.tier_kind) == (Status.GRANTED, 2, "save")


def test_right_held_through_a_group_grants_tier_2(rep, policy):
    group = Group.objects.create(name="Senior reps")
    rep.groups.add(group)
    RepRight.objects.create(policy=policy, group=group)
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("100")), now=NOW)
    assert filed.status == Status.GRANTED


def test_second_exception_for_the_same_customer_is_pending_whatever_the_rights(rep_with_right, policy):
    first = exception_request_file(rep=rep_with_right, facts=facts(policy), now=NOW)
    second = exception_request_file(rep=rep_with_right, facts=facts(policy), now=NOW)
    assert first.status == Status.GRANTED
    assert second.status == Status.PENDING
    assert second.is_repeat is True
    assert any(first.reference in reason for reason in second.routing_reasons)


def test_denied_earlier_request_does_not_make_a_repeat(rep, policy):
    earlier = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("100")), now=NOW)
    ExceptionRequest.objects.filter(pk=earlier.pk).update(status=Status.DENIED)
    assert exception_request_file(rep=rep, facts=facts(policy), now=NOW).status == Status.GRANTED


def test_beyond_every_tier_goes_to_the_top_level(rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("5000")), now=NOW)
    assert (filed.status, filed.approval_level, filed.beyond_all_tiers) == (Status.PENDING, 2, True)


def test_waived_control_is_refused_and_saves_nothing(rep, policy):
    with pytest.raises(FilingRefused) as refused:
        exception_request_file(rep=rep, facts=facts(policy, waived_controls=("Serial numbers",)), now=NOW)
    assert "not for controls" in refused.value.reasons[0]
    assert ExceptionRequest.objects.count() == 0
    assert Customer.objects.count() == 0


def test_inactive_policy_is_refused_and_saves_nothing(rep, policy):
    policy.active = False
    policy.save()
    with pytest.raises(FilingRefused):
        exception_request_file(rep=rep, facts=facts(policy), now=NOW)
    assert ExceptionRequest.objects.count() == 0


def test_known_customer_filed_without_a_name_keeps_their_recorded_name(rep, policy):
    exception_request_file(rep=rep, facts=facts(policy), now=NOW)
    second = exception_request_file(rep=rep, facts=facts(policy, customer_ref="c-1", customer_name=""), now=NOW)
    assert second.customer.name == "Maya Brooks"
    assert Customer.objects.count() == 1


def test_filing_records_one_creation_in_history_with_the_rep(rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy), now=NOW)
    records = list(filed.history.all())
    assert len(records) == 1
    assert (records[0].history_user, records[0].reference, records[0].history_type) == (rep, filed.reference, "+")


@pytest.mark.django_db(transaction=True)
def test_references_stay_unique_when_filed_concurrently(rep, policy):
    errors: list[BaseException] = []

    def file(n: int) -> None:
        try:
            exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"C-{n}"))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=file, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    references = list(ExceptionRequest.objects.values_list("reference", flat=True))
    assert len(references) == 6 and len(set(references)) == 6 and None not in references


# --- the browser form --------------------------------------------------------------


def test_rep_files_through_the_form_and_lands_on_the_request(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, amount="100.00"))
    filed = ExceptionRequest.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("requests:detail", args=[filed.pk])
    page = client.get(response.url)
    assert filed.reference in page.text
    assert "Tier 2 needs approval" in page.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "-1", "greater than or equal to 0"),
        ("amount", "1000000000.01", "less than or equal to 1000000000"),
        ("amount", "1.234", "no more than 2 decimal places"),
        ("amount", "ten", "Enter a number"),
        ("business_days", "366", "less than or equal to 365"),
        ("business_days", "-1", "greater than or equal to 0"),
        ("policy", "999999", "Select a valid choice"),
        ("sentiment", "furious", "Select a valid choice"),
        ("situation", "x" * 4001, "at most 4000 characters"),
        ("customer_ref", "", "This field is required"),
        ("customer_ref", "<script>", "Use letters, digits"),
    ],
)
def test_bad_input_shows_an_error_and_saves_nothing(client, rep, policy, field, value, message):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, **{field: value}))
    assert response.status_code == 200
    assert message in response.text
    assert ExceptionRequest.objects.count() == 0
    assert Customer.objects.count() == 0


def test_new_customer_without_a_name_is_asked_for_it(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_name=""))
    assert response.status_code == 200
    assert "give their name" in response.text
    assert ExceptionRequest.objects.count() == 0


def test_control_of_another_policy_is_rejected(client, rep, policy, problem_type):
    from tests.conftest import make_policy

    other = make_policy(problem_type, name="Other policy")
    foreign = Control.objects.get(policy=other)
    client.force_login(rep)
    response = client.post(reverse("requests:new"), {**form_data(policy), "waived_controls": [str(foreign.pk)]})
    assert response.status_code == 200
    assert "belongs to another policy" in response.text
    assert ExceptionRequest.objects.count() == 0


def test_waiving_a_control_in_the_form_is_refused_with_the_reason(client, rep, policy):
    control = Control.objects.get(policy=policy)
    client.force_login(rep)
    response = client.post(reverse("requests:new"), {**form_data(policy), "waived_controls": [str(control.pk)]})
    assert response.status_code == 200
    assert "we can change how, not why" in response.text
    assert "Nothing was saved." in response.text
    assert ExceptionRequest.objects.count() == 0


def test_stale_form_after_the_policy_was_deactivated(client, rep, policy):
    client.force_login(rep)
    policy.active = False
    policy.save()
    response = client.post(reverse("requests:new"), form_data(policy))
    assert response.status_code == 200
    assert "is no longer active" in response.text
    assert ExceptionRequest.objects.count() == 0


def test_inactive_policy_is_not_offered_in_the_form(client, rep, policy, problem_type):
    from tests.conftest import make_policy

    make_policy(problem_type, name="Retired policy", active=False)
    client.force_login(rep)
    page = client.get(reverse("requests:new")).text
    assert "Return window (Returns)" in page
    assert "Retired policy" not in page


def test_preview_shows_the_tier_and_who_decides(client, rep, policy):
    client.force_login(rep)
    data = form_data(policy, amount="300")
    response = client.get(reverse("requests:preview"), data)
    assert response.status_code == 200
    assert 'data-outcome="pending"' in response.text
    assert "Tier 3" in response.text
    assert "Manager_Low" in response.text
    assert ExceptionRequest.objects.count() == 0


def test_preview_with_a_half_filled_form_says_what_is_missing(client, rep, policy):
    client.force_login(rep)
    response = client.get(reverse("requests:preview"), {"policy": str(policy.pk), "amount": "x"})
    assert response.status_code == 200
    assert "Still needed for the preview" in response.text


def test_filing_needs_the_reps_role(client, outsider, policy):
    client.force_login(outsider)
    assert client.get(reverse("requests:new")).status_code == 403
    assert client.post(reverse("requests:new"), form_data(policy)).status_code == 403
    assert ExceptionRequest.objects.count() == 0


def test_anonymous_user_is_sent_to_login(client, policy):
    response = client.get(reverse("requests:new"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_rep_cannot_see_another_reps_request(client, rep, rep_with_right, policy):
    filed = exception_request_file(rep=rep_with_right, facts=facts(policy), now=NOW)
    client.force_login(rep)
    assert client.get(reverse("requests:detail", args=[filed.pk])).status_code == 404


def test_my_requests_lists_only_my_own(client, rep, rep_with_right, policy):
    mine = exception_request_file(rep=rep, facts=facts(policy, customer_ref="A-1"), now=NOW)
    theirs = exception_request_file(rep=rep_with_right, facts=facts(policy, customer_ref="B-1"), now=NOW)
    client.force_login(rep)
    page = client.get(reverse("requests:mine")).text
    assert mine.reference in page
    assert theirs.reference not in page


def test_rep_edits_and_sends_the_drafted_message(client, rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy), now=NOW)
    client.force_login(rep)
    url = reverse("requests:message", args=[filed.pk])
    client.post(url, {"text": "Dear Maya, edited.", "send": "1"})
    filed.refresh_from_db()
    assert filed.customer_message == "Dear Maya, edited."
    assert filed.message_sent_at is not None
    # Once sent, it cannot be changed.
    client.post(url, {"text": "Changed later", "send": "1"})
    filed.refresh_from_db()
    assert filed.customer_message == "Dear Maya, edited."


def test_message_cannot_be_sent_before_a_decision(client, rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("100")), now=NOW)
    client.force_login(rep)
    client.post(reverse("requests:message", args=[filed.pk]), {"text": "Hello", "send": "1"})
    filed.refresh_from_db()
    assert filed.message_sent_at is None


def test_message_endpoint_refuses_get(client, rep, policy):
    filed = exception_request_file(rep=rep, facts=facts(policy), now=NOW)
    client.force_login(rep)
    assert client.get(reverse("requests:message", args=[filed.pk])).status_code == 405
