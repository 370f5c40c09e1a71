"""Question and answer as a thread: every question and answer kept in order; a corrected amount or number
of days routes the request again, with the change in its history."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from policies.models import Policy
from requests.models import Notification, QuestionAnswer, Status
from requests.services import (
    FilingRefused,
    exception_request_answer,
    exception_request_ask,
)
from tests.support import at


def test_two_rounds_keep_every_question_and_answer_in_order(client, pending, rep, manager_high, manager_low):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Photo?", now=at(plus=5))
    exception_request_answer(request_id=pending.pk, rep=rep, answer="Attached.", now=at(plus=10))
    exception_request_ask(request_id=pending.pk, approver=manager_low, question="Which order?", now=at(plus=15))
    exception_request_answer(request_id=pending.pk, rep=rep, answer="Order 42.", now=at(plus=20))
    thread = list(pending.thread.values_list("kind", "author__username", "text", "created_at"))
    assert thread == [
        ("question", "manager_high", "Photo?", at(plus=5)),
        ("answer", "rep", "Attached.", at(plus=10)),
        ("question", "manager_low", "Which order?", at(plus=15)),
        ("answer", "rep", "Order 42.", at(plus=20)),
    ]
    client.force_login(manager_high)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    positions = [page.index(text) for text in ("Photo?", "Attached.", "Which order?", "Order 42.")]
    assert positions == sorted(positions)


def test_a_corrected_amount_routes_the_request_again_with_the_change_in_history(pending, rep, manager_high, director):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Really 300?", now=at(plus=5))
    answered = exception_request_answer(
        request_id=pending.pk, rep=rep, answer="No: 2,000 with shipping.", amount=Decimal("2000"), now=at(plus=30)
    )
    assert (answered.status, answered.amount, answered.beyond_all_tiers, answered.approval_level) == (
        Status.PENDING,
        Decimal("2000"),
        True,
        2,
    )
    assert answered.level_started_at == at(plus=30) and answered.due_at == at(plus=150)
    assert answered.routing_reasons[0].startswith("Routed again on")
    record = answered.history.latest()
    assert record.history_change_reason.startswith(
        "Rep answered and corrected amount 300.00 → 2,000.00: routed again to level 2"
    )
    assert record.amount == Decimal("2000")
    answer = pending.thread.get(kind="answer")
    assert answer.corrections == "amount 300.00 → 2,000.00"
    # Level 2 now: the director is told; the asker hears the answer without decision links.
    assert Notification.objects.filter(user=director, kind="arrived").count() == 1
    told = Notification.objects.get(user=manager_high, kind="info_answered")
    assert told.level is None and "now waits at level 2" in told.text


def test_a_correction_within_the_same_level_keeps_the_paused_clock(pending, rep, manager_high):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Days?", now=at(plus=60))
    answered = exception_request_answer(
        request_id=pending.pk, rep=rep, answer="Three days.", business_days=3, now=at(plus=90)
    )
    assert (answered.approval_level, answered.business_days, answered.due_at) == (1, 3, at(plus=150))


def test_a_correction_routing_refuses_changes_nothing(pending, rep, manager_high, policy):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Amount?", now=at(plus=5))
    Policy.objects.filter(pk=policy.pk).update(active=False)
    before = pending.history.count()
    with pytest.raises(FilingRefused, match="The correction cannot be accepted"):
        exception_request_answer(request_id=pending.pk, rep=rep, answer="200", amount=Decimal("200"), now=at(plus=10))
    pending.refresh_from_db()
    assert (pending.status, pending.amount, pending.history.count()) == (Status.WAITING_FOR_REP, Decimal("300"), before)
    assert not QuestionAnswer.objects.filter(kind="answer").exists()


def test_the_rep_corrects_from_the_request_page(client, pending, rep, manager_high):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Amount?", now=at(plus=5))
    client.force_login(rep)
    page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert 'name="amount"' in page and "Correct the amount or the business days" in page
    client.post(reverse("requests:answer", args=[pending.pk]), {"answer": "200 in fact", "amount": "200.00"})
    pending.refresh_from_db()
    assert (pending.status, pending.amount) == (Status.PENDING, Decimal("200"))
    bad = client.post(reverse("requests:answer", args=[pending.pk]), {"answer": "x", "amount": "-5"})
    assert bad.status_code == 400
    assert "Nothing was sent: 1 thing to fix" in bad.text and "greater than or equal to 0" in bad.text
