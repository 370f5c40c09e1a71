"""Deciding: the service rules, the race between two approvers, and the queue."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from policies.models import ApproverLevel
from requests.forms import AnswerForm, AskForm, DecisionForm, WithdrawForm
from requests.models import Delegation, ExceptionRequest, Notification, Status
from requests.services import (
    AboveAuthority,
    AlreadyDecided,
    ExceptionRequestError,
    InvalidInput,
    NotAssigned,
    NotYours,
    SelfDealing,
    WrongStatus,
    exception_request_answer,
    exception_request_ask,
    exception_request_claim,
    exception_request_decide,
    exception_request_file,
)
from tests.conftest import facts
from tests.support import FILED as NOW


def test_approval_records_what_was_in_force(pending, manager_high, policy):
    decided = exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="Our mistake")
    assert decided.status == Status.APPROVED
    assert decided.decided_by == manager_high
    assert decided.approver_authority == Decimal("2500.00")
    assert decided.policy_version == policy.history.latest().history_id
    assert "Dear Maya Brooks" in decided.customer_message
    latest = decided.history.latest()
    assert latest.history_user == manager_high
    assert latest.history_change_reason.startswith(
        "Approved by Manager_High within an authority of 2,500.00: Our mistake"
    )


def test_decision_notifies_the_filing_rep(pending, manager_high, rep, django_capture_on_commit_callbacks, mailoutbox):
    # The approvers were emailed of its arrival when the filing committed (which the fixture's transaction does
    # not): otherwise the decision's email flush, which sends whatever is unsent, would send those too.
    Notification.objects.update(emailed_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    notification = Notification.objects.get(user=rep)
    assert pending.reference in notification.text
    assert [m.to for m in mailoutbox] == [[rep.email]]


def test_approving_above_money_authority_is_refused(pending, manager_low):
    with pytest.raises(AboveAuthority):
        exception_request_decide(request_id=pending.pk, approver=manager_low, approve=True, note="ok")
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_denying_above_money_authority_is_allowed(pending, manager_low):
    decided = exception_request_decide(
        request_id=pending.pk, approver=manager_low, approve=False, note="Outside policy", alternative="Store credit"
    )
    assert decided.status == Status.DENIED
    assert "What we can offer instead: Store credit." in decided.customer_message


def test_denial_needs_the_alternative(pending, manager_high):
    with pytest.raises(InvalidInput):
        exception_request_decide(request_id=pending.pk, approver=manager_high, approve=False, note="no")
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_decision_needs_a_justification(pending, manager_high):
    with pytest.raises(InvalidInput):
        exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="  ")


def test_approver_cannot_decide_what_they_filed(policy, manager_high):
    own = exception_request_file(rep=manager_high, facts=facts(policy, amount=Decimal("300")), now=NOW)
    with pytest.raises(SelfDealing):
        exception_request_decide(request_id=own.pk, approver=manager_high, approve=True, note="ok")


def test_unassigned_approver_is_refused(pending, director):
    with pytest.raises(NotAssigned):
        exception_request_decide(request_id=pending.pk, approver=director, approve=True, note="ok")


def test_second_decision_says_who_decided_first(pending, manager_high, manager_low):
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    with pytest.raises(AlreadyDecided, match="already approved by Manager_High"):
        exception_request_decide(request_id=pending.pk, approver=manager_low, approve=False, note="no", alternative="x")


def test_group_assignment_lets_every_member_decide(rep, policy, manager_low):
    group = Group.objects.create(name="Returns desk")
    colleague = Group.objects.get(name="Approvers").user_set.create(username="colleague")
    colleague.groups.add(group)
    ApproverLevel.objects.filter(policy=policy, level=1).delete()
    ApproverLevel.objects.create(policy=policy, level=1, group=group, money_authority=Decimal("1000"))
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=NOW)
    decided = exception_request_decide(request_id=filed.pk, approver=colleague, approve=True, note="ok")
    assert decided.approver_authority == Decimal("1000.00")


def test_delegate_decides_and_both_names_are_recorded(pending, manager_high, director):
    today = timezone.localdate()
    Delegation.objects.create(approver=manager_high, delegate=director, starts_on=today, ends_on=today)
    decided = exception_request_decide(request_id=pending.pk, approver=director, approve=True, note="Covering")
    assert (decided.decided_by, decided.decided_on_behalf_of) == (director, manager_high)
    assert "on behalf of Manager_High" in decided.history.latest().history_change_reason


def test_expired_delegation_gives_no_rights(pending, manager_high, director):
    past = timezone.localdate() - timedelta(days=3)
    Delegation.objects.create(approver=manager_high, delegate=director, starts_on=past, ends_on=past)
    with pytest.raises(NotAssigned):
        exception_request_decide(request_id=pending.pk, approver=director, approve=True, note="ok")


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_store_exactly_one_decision(rep, policy, manager_low, manager_high):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("100")))
    barrier = threading.Barrier(2)
    outcomes: dict[str, str | ExceptionRequestError] = {}

    def decide(approver, approve: bool) -> None:
        barrier.wait()
        try:
            exception_request_decide(request_id=filed.pk, approver=approver, approve=approve, note="n", alternative="a")
            outcomes[approver.username] = "decided"
        except ExceptionRequestError as error:
            outcomes[approver.username] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(manager_low, True)),
        threading.Thread(target=decide, args=(manager_high, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(outcomes.values()).count("decided") == 1
    loser = next(outcome for outcome in outcomes.values() if outcome != "decided")
    assert isinstance(loser, AlreadyDecided)
    filed.refresh_from_db()
    decisions = [
        h
        for h in filed.history.all()
        if h.history_change_reason and h.history_change_reason.startswith(("Approved", "Denied"))
    ]
    assert len(decisions) == 1


def test_claim_shows_colleagues_and_blocks_a_second_claim(pending, manager_low, manager_high):
    exception_request_claim(request_id=pending.pk, approver=manager_low)
    with pytest.raises(NotAssigned, match="Manager_Low is already on this request"):
        exception_request_claim(request_id=pending.pk, approver=manager_high)
    with pytest.raises(NotAssigned):
        exception_request_claim(request_id=pending.pk, approver=manager_high, release=True)
    released = exception_request_claim(request_id=pending.pk, approver=manager_low, release=True)
    assert released.claimed_by is None


def test_asking_the_rep_pauses_the_clock_and_the_answer_moves_the_deadline(pending, manager_high, rep):
    exception_request_ask(
        request_id=pending.pk, approver=manager_high, question="Photo?", now=NOW + timedelta(minutes=30)
    )
    pending.refresh_from_db()
    assert pending.status == Status.WAITING_FOR_REP
    with pytest.raises(WrongStatus):
        exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    answered = exception_request_answer(
        request_id=pending.pk, rep=rep, answer="Attached", now=NOW + timedelta(minutes=90)
    )
    assert answered.status == Status.PENDING
    # 60 minutes paused: the 12:00 deadline moves to 13:00.
    assert answered.due_at == NOW + timedelta(minutes=180)
    assert Notification.objects.filter(user=manager_high, kind="info_answered").count() == 1


def test_only_the_filing_rep_answers(pending, manager_high, rep_with_right):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Photo?")
    with pytest.raises(NotYours):
        exception_request_answer(request_id=pending.pk, rep=rep_with_right, answer="x")


# --- views -----------------------------------------------------------------------------


def test_approver_decides_from_the_request_page(client, pending, manager_high):
    client.force_login(manager_high)
    page = client.get(reverse("requests:detail", args=[pending.pk]))
    assert "Record decision" in page.text
    response = client.post(reverse("requests:decide", args=[pending.pk]), {"decision": "approve", "note": "Fine"})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED


def test_refused_decision_shows_the_reason_and_changes_nothing(client, pending, manager_low):
    client.force_login(manager_low)
    response = client.post(reverse("requests:decide", args=[pending.pk]), {"decision": "approve", "note": "Fine"})
    # The request page again (no redirect), the rule's reason in the error summary, the note as typed.
    assert response.status_code == 409
    assert "above your money authority" in response.text
    assert "Fine</textarea>" in response.text
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"decision": "maybe", "note": "x"},
        {"decision": "deny", "note": "x"},
        {"decision": "approve", "note": "x" * 2001},
    ],
)
def test_bad_decision_input_changes_nothing(client, pending, manager_high, data):
    client.force_login(manager_high)
    response = client.post(reverse("requests:decide", args=[pending.pk]), data)
    # The request page again, with what was typed and why nothing was decided.
    assert response.status_code == 400
    assert "Nothing was decided; what you typed is kept below." in response.text
    assert 'id="error-summary"' in response.text
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_rep_cannot_open_the_queue_or_decide(client, pending, rep):
    client.force_login(rep)
    assert client.get(reverse("requests:queue")).status_code == 403
    assert (
        client.post(reverse("requests:decide", args=[pending.pk]), {"decision": "approve", "note": "x"}).status_code
        == 403
    )
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_unassigned_approver_gets_404(client, pending, policy, director):
    client.force_login(director)
    assert client.get(reverse("requests:detail", args=[pending.pk])).status_code == 404
    response = client.post(reverse("requests:decide", args=[pending.pk]), {"decision": "approve", "note": "x"})
    assert response.status_code == 404


def test_anonymous_is_sent_to_login_from_the_queue(client, pending):
    response = client.get(reverse("requests:queue"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_decide_refuses_get(client, pending, manager_high):
    client.force_login(manager_high)
    assert client.get(reverse("requests:decide", args=[pending.pk])).status_code == 405


def test_queue_lists_assigned_requests_oldest_deadline_first(client, rep, policy, manager_low, director):
    later = exception_request_file(rep=rep, facts=facts(policy, customer_ref="A", amount=Decimal("300")), now=NOW)
    earlier = exception_request_file(
        rep=rep, facts=facts(policy, customer_ref="B", amount=Decimal("300")), now=NOW - timedelta(minutes=30)
    )
    top = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C", amount=Decimal("9999")), now=NOW)
    client.force_login(manager_low)
    page = client.get(reverse("requests:queue")).text
    assert page.index(earlier.reference) < page.index(later.reference)
    assert top.reference not in page  # level 2: the director's
    client.force_login(director)
    assert top.reference in client.get(reverse("requests:queue")).text


def test_queue_shows_the_delegators_requests_to_the_delegate(client, pending, manager_high, director):
    today = timezone.localdate()
    client.force_login(director)
    assert pending.reference not in client.get(reverse("requests:queue")).text
    Delegation.objects.create(approver=manager_high, delegate=director, starts_on=today, ends_on=today)
    assert pending.reference in client.get(reverse("requests:queue")).text


def test_queue_filters(client, rep, policy, manager_high):
    low = exception_request_file(rep=rep, facts=facts(policy, customer_ref="A", amount=Decimal("100")), now=NOW)
    high = exception_request_file(rep=rep, facts=facts(policy, customer_ref="B", amount=Decimal("300")), now=NOW)
    client.force_login(manager_high)
    page = client.get(reverse("requests:queue"), {"tier": "3"}).text
    assert high.reference in page and low.reference not in page
    page = client.get(reverse("requests:queue"), {"tier": "nonsense", "level": "x"}).text
    assert high.reference in page and low.reference in page  # bad filters are ignored, not a 500


@pytest.mark.parametrize("rows", [5, 200])
def test_queue_issues_a_constant_number_of_queries(
    client, rep, policy, manager_high, django_assert_max_num_queries, rows
):
    customer_filed = [
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"Q-{n}", amount=Decimal("300")), now=NOW)
        for n in range(rows)
    ]
    assert len(customer_filed) == rows
    client.force_login(manager_high)
    # The same at 5 and at 200 rows: whom the approver acts for (the rule of authority's standing), the
    # queue's (policy, level) pairs, the capped count, one page, the viewer's authorities and the
    # waiting-for-rep list, and the page's frame.
    with django_assert_max_num_queries(15):
        response = client.get(reverse("requests:queue"))
    assert response.status_code == 200


def test_out_of_office_form_creates_and_ends_a_delegation(client, manager_high, director):
    client.force_login(manager_high)
    today = timezone.localdate()
    response = client.post(
        reverse("requests:delegation"),
        {"delegate": director.pk, "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=2)).isoformat()},
    )
    assert response.status_code == 302
    delegation = Delegation.objects.get()
    assert (delegation.approver, delegation.delegate) == (manager_high, director)
    client.post(reverse("requests:delegation"), {"end": delegation.pk})
    assert Delegation.objects.count() == 0


def test_out_of_office_rejects_bad_dates(client, manager_high, director):
    client.force_login(manager_high)
    response = client.post(
        reverse("requests:delegation"), {"delegate": director.pk, "starts_on": "2099-12-10", "ends_on": "2099-12-01"}
    )
    assert response.status_code == 200
    assert "on or after the first day" in response.text
    assert Delegation.objects.count() == 0
    response = client.post(reverse("requests:delegation"), {"end": "not-a-number"})
    assert response.status_code == 302


def test_decided_request_is_read_only_in_the_portal(client, pending, manager_high):
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    client.force_login(manager_high)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "Record decision" not in page
    assert "Rules in force" in page
    assert ExceptionRequest.objects.get(pk=pending.pk).status == Status.APPROVED


def test_a_denial_without_alternative_keeps_the_justification(client, pending, manager_high):
    client.force_login(manager_high)
    response = client.post(
        reverse("requests:decide", args=[pending.pk]), {"decision": "deny", "note": "Too late"}, follow=True
    )
    assert "A denial needs the alternative offered to the customer." in response.text
    assert "Too late</textarea>" in response.text
    assert re.search(r'<input[^>]*value="deny"[^>]*\bchecked\b', response.text)
    assert not re.search(r'<input[^>]*value="approve"[^>]*\bchecked\b', response.text)
    # The summary's link goes to the refused field.
    assert 'href="#id_alternative"' in response.text
    assert "If you deny, this reason reaches the customer" in response.text
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


# --- the request page's forms come from their Form classes ---------------------------------------------------


def field_tag(page: str, name: str) -> str:
    found = re.search(rf'<(?:textarea|input)[^>]*\bname="{name}"[^>]*>', page)
    assert found, f"no field named {name}"
    return found.group(0)


def test_the_request_pages_forms_carry_the_limits_of_their_form_classes(client, pending, rep, manager_high):
    client.force_login(manager_high)
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    for form, name in ((DecisionForm, "note"), (DecisionForm, "alternative"), (AskForm, "question")):
        assert f'maxlength="{form.base_fields[name].max_length}"' in field_tag(page, name), name
    assert "Why you decide" not in page and DecisionForm.base_fields["note"].help_text in page
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Receipt?")
    client.force_login(rep)
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    for form, name in ((AnswerForm, "answer"), (WithdrawForm, "reason")):
        assert f'maxlength="{form.base_fields[name].max_length}"' in field_tag(page, name), name
        assert f'for="id_{name}"' in page and form.base_fields[name].label in page
    # The correction is offered from the request as filed.
    assert 'value="300.00"' in field_tag(page, "amount")
