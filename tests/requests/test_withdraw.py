"""A rep withdraws their own open or waiting request (issue 11, defect 7): it leaves every queue, the SLA
stops, it is no earlier exception, the approvers are told; a concurrent decision and a withdrawal: one wins."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from policies.insights.figures import overview
from policies.insights.periods import Period
from requests.escalation import sla_sweep
from requests.models import ExceptionRequest, Notification, Status
from requests.selectors import queue_for
from requests.services import (
    AlreadyDecided,
    ExceptionRequestError,
    InvalidInput,
    NotWithdrawable,
    NotYours,
    exception_request_ask,
    exception_request_decide,
    exception_request_file,
    exception_request_withdraw,
)
from tests.conftest import facts
from tests.support import FILED


def test_withdrawn_request_leaves_the_queue_and_keeps_its_reason_in_history(pending, rep, manager_high):
    assert list(queue_for(user=manager_high)) == [pending]
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="Customer found the receipt", now=FILED)
    pending.refresh_from_db()
    assert pending.status == Status.WITHDRAWN
    assert pending.open_due_at is None
    assert pending.withdrawal_reason == "Customer found the receipt"
    assert list(queue_for(user=manager_high)) == []
    latest = pending.history.order_by("-history_id").first()
    assert (latest.history_user, latest.status) == (rep, Status.WITHDRAWN)
    assert latest.history_change_reason == "Withdrawn by Rep: Customer found the receipt"


def test_the_assigned_approvers_are_told_in_app(pending, rep, manager_low, manager_high, director):
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="Filed twice", now=FILED)
    told = set(Notification.objects.filter(kind=Notification.Kind.WITHDRAWN).values_list("user__username", flat=True))
    assert told == {"manager_low", "manager_high"}  # level 1; the director at level 2 never had it
    assert "Rep withdrew " + pending.reference + ": Filed twice" in Notification.objects.first().text


def test_a_waiting_request_may_be_withdrawn_and_the_approver_who_asked_is_told(pending, rep, manager_high):
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Receipt?", now=FILED)
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="No receipt", now=FILED)
    pending.refresh_from_db()
    assert (pending.status, pending.paused_at) == (Status.WITHDRAWN, None)
    assert Notification.objects.filter(user=manager_high, kind=Notification.Kind.WITHDRAWN).exists()


def test_the_sweep_neither_reminds_nor_escalates_a_withdrawn_request(pending, rep, manager_low):
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="Not needed", now=FILED)
    report = sla_sweep(now=FILED + timedelta(hours=10))
    assert (report.reminded, report.escalated) == ([], [])
    pending.refresh_from_db()
    assert (pending.status, pending.approval_level, pending.breached_level) == (Status.WITHDRAWN, 1, None)


def test_a_withdrawn_request_is_no_earlier_exception(pending, rep, rep_with_right, policy):
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="Wrong customer", now=FILED)
    again = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("20")), now=FILED)
    assert (again.status, again.is_repeat) == (Status.GRANTED, False)


def test_the_analysis_does_not_count_a_withdrawn_request(pending, rep):
    period = Period(start=FILED.date() - timedelta(days=1), end=FILED.date() + timedelta(days=1))
    assert overview(period)["totals"]["filed"] == 1
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="Wrong customer", now=FILED)
    assert overview(period)["totals"]["filed"] == 0


@pytest.mark.parametrize("who", ["rep_with_right", "manager_high"])
def test_only_the_filing_rep_withdraws(pending, who, request):
    with pytest.raises(NotYours):
        exception_request_withdraw(request_id=pending.pk, rep=request.getfixturevalue(who), reason="x")
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_a_decided_request_cannot_be_withdrawn(pending, rep, manager_high):
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    with pytest.raises(NotWithdrawable, match="already approved by Manager_High"):
        exception_request_withdraw(request_id=pending.pk, rep=rep, reason="x")
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED


def test_a_withdrawn_request_cannot_be_decided(pending, rep, manager_high):
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="Not needed")
    with pytest.raises(AlreadyDecided):
        exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")


def test_an_empty_reason_is_refused(pending, rep):
    with pytest.raises(InvalidInput):
        exception_request_withdraw(request_id=pending.pk, rep=rep, reason="  ")
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


# --- the request page -----------------------------------------------------------------


def test_the_rep_withdraws_from_the_request_page(client, pending, rep):
    client.force_login(rep)
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    assert f'action="{reverse("requests:withdraw", args=[pending.pk])}"' in page
    response = client.post(reverse("requests:withdraw", args=[pending.pk]), {"reason": "Customer cancelled"})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == Status.WITHDRAWN
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    assert "Customer cancelled" in page and "Withdraw request" not in page


def test_withdraw_refuses_get_outsiders_and_an_empty_reason(client, pending, rep, outsider):
    url = reverse("requests:withdraw", args=[pending.pk])
    client.force_login(rep)
    assert client.get(url).status_code == 405
    response = client.post(url, {"reason": ""}, follow=True)
    assert "Give the reason for withdrawing" in response.content.decode()
    client.force_login(outsider)
    assert client.post(url, {"reason": "x"}).status_code == 404
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_the_approver_sees_no_withdraw_button(client, pending, manager_high):
    client.force_login(manager_high)
    assert "Withdraw request" not in client.get(reverse("requests:detail", args=[pending.pk])).content.decode()


@pytest.mark.django_db(transaction=True)
def test_withdrawal_and_decision_at_once_one_wins(rep, policy, manager_high):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    barrier = threading.Barrier(2)
    outcomes: dict[str, str | ExceptionRequestError] = {}

    def act(name: str, action) -> None:
        barrier.wait()
        try:
            action()
            outcomes[name] = "done"
        except ExceptionRequestError as error:
            outcomes[name] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=act,
            args=(
                "decide",
                lambda: exception_request_decide(request_id=filed.pk, approver=manager_high, approve=True, note="ok"),
            ),
        ),
        threading.Thread(
            target=act,
            args=("withdraw", lambda: exception_request_withdraw(request_id=filed.pk, rep=rep, reason="Not needed")),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["decide", "withdraw"]
    assert list(outcomes.values()).count("done") == 1
    filed.refresh_from_db()
    winner = next(name for name, outcome in outcomes.items() if outcome == "done")
    assert filed.status == (Status.APPROVED if winner == "decide" else Status.WITHDRAWN)
    loser = outcomes["withdraw" if winner == "decide" else "decide"]
    assert isinstance(loser, NotWithdrawable if winner == "decide" else AlreadyDecided)
    assert ExceptionRequest.objects.count() == 1


def test_a_refused_withdrawal_keeps_what_was_typed_and_says_why(client, pending, rep):
    client.force_login(rep)
    response = client.post(reverse("requests:withdraw", args=[pending.pk]), {"reason": "y" * 2001})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was withdrawn: 1 thing to fix" in page and 'href="#id_reason"' in page
    assert "y" * 2001 + "</textarea>" in page
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
