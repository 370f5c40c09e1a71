"""Arrivals, their emails, digests and reading: requests/notifications.py."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from policies.models import ApproverLevel
from requests import notifications
from requests.models import Delegation, ExceptionRequest, Notification, NotificationPreference
from requests.services import (
    delegation_create,
    exception_request_answer,
    exception_request_ask,
    exception_request_file,
)
from requests.tasks import send_digests
from tests.conftest import facts, make_user
from tests.support import FILED


def file_pending(rep, policy, *, capture, now: datetime = FILED, **overrides) -> ExceptionRequest:
    values = {"amount": Decimal("300"), **overrides}
    with capture(execute=True):
        return exception_request_file(rep=rep, facts=facts(policy, **values), now=now)


def arrivals(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, kind="arrived"))


def test_filed_pending_tells_every_level_one_approver_once_with_the_facts(
    rep, policy, manager_low, manager_high, director, mailoutbox, django_capture_on_commit_callbacks
):
    request = file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    assert len(arrivals(manager_low)) == len(arrivals(manager_high)) == 1
    assert arrivals(director) == [] and arrivals(rep) == []
    (email,) = [m for m in mailoutbox if m.to == [manager_low.email]]
    assert email.subject == f"[Exceptions portal] {request.reference} waits for your decision: Return window, 300.00"
    for fact in (
        "Maya Brooks (C-1)",
        "Return window (Returns)",
        "Tier 3",
        "Amount: 300.00 · Business days: 0",
        "Sentiment: Unhappy · Cause: Our mistake",
        "Situation: Returned 40 days after delivery.",
        "Resolution asked for: Full refund",
        "Alternative offered: Store credit",
        "Earlier exceptions under this policy: none",
        "Deadline: Mon 23 Nov 2026, 12:00 (Europe/London)",
        "Your authority here: 250.00 (below the amount: you may deny or ask, not approve)",
        "Approve: http://127.0.0.1:8000/requests/email/",
        f"Open: http://127.0.0.1:8000/requests/{request.pk}/",
    ):
        assert fact in email.body, fact
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and 'class="button approve"' in html and "style=" not in html.split("</head>")[1]
    assert email.extra_headers["List-Unsubscribe"] == "<http://127.0.0.1:8000/requests/preferences/>"
    (high,) = [m for m in mailoutbox if m.to == [manager_high.email]]
    assert "Your authority here: 2,500.00\n" in high.body


def test_links_use_portal_base_url(rep, policy, manager_low, mailoutbox, settings, django_capture_on_commit_callbacks):
    settings.PORTAL_BASE_URL = "https://portal.example.com/"
    file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    email = next(m for m in mailoutbox if m.to == [manager_low.email])
    links = [
        line.split(": ", 1)[1] for line in email.body.splitlines() if line.startswith(("Approve:", "Deny:", "Open:"))
    ]
    assert len(links) == 3 and all(link.startswith("https://portal.example.com/requests/") for link in links)


def test_approver_by_group_directly_and_as_stand_in_is_told_once(
    rep, policy, manager_low, manager_high, outsider, django_capture_on_commit_callbacks
):
    group = Group.objects.create(name="Returns desk")
    manager_low.groups.add(group)
    ApproverLevel.objects.create(policy=policy, level=1, group=group, money_authority=Decimal("100"))
    today = datetime.now(UTC).date()
    Delegation.objects.create(approver=manager_high, delegate=manager_low, starts_on=today, ends_on=today)
    Delegation.objects.create(approver=manager_high, delegate=outsider, starts_on=today, ends_on=today)
    file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    assert len(arrivals(manager_low)) == 1
    assert len(arrivals(outsider)) == 1


def test_a_rep_who_is_also_an_approver_is_not_told_of_their_own_request(
    policy, manager_high, manager_low, django_capture_on_commit_callbacks
):
    file_pending(manager_low, policy, capture=django_capture_on_commit_callbacks)
    assert arrivals(manager_low) == []
    assert len(arrivals(manager_high)) == 1


def test_whoever_stands_in_for_the_rep_is_not_told_of_the_reps_request(
    policy, manager_high, manager_low, director, django_capture_on_commit_callbacks
):
    """Segregation of duties through delegation (authority.py): they may not decide it, so no arrival."""
    today = datetime.now(UTC).date()
    Delegation.objects.create(approver=manager_low, delegate=director, starts_on=today, ends_on=today)
    file_pending(manager_low, policy, capture=django_capture_on_commit_callbacks)
    assert arrivals(director) == [] and arrivals(manager_low) == []
    assert len(arrivals(manager_high)) == 1


def test_deadline_in_the_recipients_time_zone(rep, policy, manager_low, mailoutbox, django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=manager_low, time_zone="America/New_York")
    file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    email = next(m for m in mailoutbox if m.to == [manager_low.email])
    assert "Deadline: Mon 23 Nov 2026, 07:00 (America/New_York)" in email.body


def test_back_from_the_reps_answer_is_an_arrival_with_the_thread(
    rep, policy, manager_low, manager_high, mailoutbox, django_capture_on_commit_callbacks
):
    request = file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_ask(request_id=request.pk, approver=manager_high, question="Photo?", now=FILED)
        exception_request_answer(request_id=request.pk, rep=rep, answer="Attached.", now=FILED + timedelta(minutes=5))
    assert [n.kind for n in Notification.objects.filter(user=manager_high).order_by("pk")] == [
        "arrived",
        "info_answered",
    ]
    assert len(arrivals(manager_low)) == 2  # filed, and back in the queue
    email = next(m for m in mailoutbox if m.to == [manager_high.email])
    assert "- Question from Manager_High" in email.body and ": Photo?" in email.body
    assert "- Answer from Rep" in email.body and ": Attached." in email.body
    assert "Approve: " in email.body


def test_a_digest_holds_arrivals_and_sends_one_email(
    rep, policy, manager_low, mailoutbox, django_capture_on_commit_callbacks
):
    NotificationPreference.objects.create(user=manager_low, digest_minutes=15)
    now = timezone.now()
    first = file_pending(rep, policy, capture=django_capture_on_commit_callbacks, now=now)
    second = file_pending(rep, policy, capture=django_capture_on_commit_callbacks, customer_ref="C-2", now=now)
    assert [m for m in mailoutbox if m.to == [manager_low.email]] == []
    held = Notification.objects.filter(user=manager_low)
    created = held.first().created_at
    assert manager_low.pk not in notifications.digests_due(now=created + timedelta(minutes=14))
    assert manager_low.pk in notifications.digests_due(now=created + timedelta(minutes=15))
    assert notifications.digest_send(user_id=manager_low.pk) == 2
    assert notifications.digest_send(user_id=manager_low.pk) == 0  # run twice: sent once
    (digest,) = [m for m in mailoutbox if m.to == [manager_low.email]]
    assert first.reference in digest.body and second.reference in digest.body
    assert digest.body.count("Approve: http://127.0.0.1:8000/requests/email/") == 2
    assert notifications.notification_emails_unsent(now=created + timedelta(hours=1)) == []


def test_a_digest_never_holds_an_item_past_its_reminder(rep, policy, manager_low, django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=manager_low, digest_minutes=60)
    request = file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    # Filed "now" with the SLA clock of FILED: its reminder point (90 min after FILED) has long passed.
    assert request.remind_at < datetime.now(UTC)
    assert notifications.digests_due() == [manager_low.pk]


def test_the_digest_task_sends_what_is_due(rep, policy, manager_low, mailoutbox, django_capture_on_commit_callbacks):
    NotificationPreference.objects.create(user=manager_low, digest_minutes=15)
    file_pending(rep, policy, capture=django_capture_on_commit_callbacks, now=timezone.now())
    assert send_digests.delay().get() == 0  # not due: 15 minutes have not passed, no reminder reached
    Notification.objects.filter(user=manager_low).update(created_at=timezone.now() - timedelta(minutes=16))
    assert send_digests.delay().get() == 1
    assert send_digests.delay().get() == 0
    assert len([m for m in mailoutbox if m.to == [manager_low.email]]) == 1


def test_opening_a_request_reads_its_notifications(
    client, rep, policy, manager_low, django_capture_on_commit_callbacks
):
    request = file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    other = file_pending(rep, policy, capture=django_capture_on_commit_callbacks, customer_ref="C-2")
    client.force_login(manager_low)
    assert client.get(reverse("requests:detail", args=[request.pk])).status_code == 200
    unread = Notification.objects.filter(user=manager_low, read_at__isnull=True)
    assert list(unread.values_list("request_id", flat=True)) == [other.pk]


@pytest.mark.parametrize("user_fixture", ["rep", "manager_low"])
def test_preferences_page_saves_the_choice(client, request, user_fixture):
    user = request.getfixturevalue(user_fixture)
    client.force_login(user)
    assert client.get(reverse("requests:preferences")).status_code == 200
    response = client.post(reverse("requests:preferences"), {"digest_minutes": "30", "time_zone": "Europe/Paris"})
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=user)
    assert (preference.digest_minutes, preference.time_zone) == (30, "Europe/Paris")


def test_preferences_page_refuses_a_bad_choice_and_changes_nothing(client, rep):
    client.force_login(rep)
    response = client.post(reverse("requests:preferences"), {"digest_minutes": "7", "time_zone": "Mars/Base"})
    assert response.status_code == 200
    assert not NotificationPreference.objects.filter(user=rep).exists()


def test_review_flag_goes_through_the_notifications_module(admin_user, policy):
    notifications.policy_flagged(policy, reason="twice")
    (flag,) = Notification.objects.filter(user=admin_user)
    assert flag.kind == "review_flag" and flag.text == "“Return window” was flagged for review: twice"


def test_a_user_without_email_gets_the_in_app_row_only(rep, policy, mailoutbox, django_capture_on_commit_callbacks):
    quiet = make_user("quiet", "Approvers")  # an approver (routing and notices count approvers only)
    quiet.email = ""
    quiet.save()
    ApproverLevel.objects.create(policy=policy, level=1, user=quiet, money_authority=Decimal("10"))
    file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    assert len(arrivals(quiet)) == 1
    assert all(m.to != [""] for m in mailoutbox)


def test_a_stand_ins_period_starting_is_an_arrival_once(
    rep, policy, manager_high, director, mailoutbox, django_capture_on_commit_callbacks
):
    waiting = file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    mailoutbox.clear()
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        delegation_create(approver=manager_high, delegate=director, starts_on=today, ends_on=today)
    (arrival,) = arrivals(director)
    assert (arrival.request_id, arrival.level) == (waiting.pk, 1)
    assert arrival.text == f"{waiting.reference} waits for your decision: you stand in for Manager_High from today."
    (email,) = [m for m in mailoutbox if m.to == [director.email]]
    assert "Approve: http://127.0.0.1:8000/requests/email/" in email.body
    assert "Your authority here: 2,500.00" in email.body
    assert notifications.stand_ins_started() == 0  # the hourly job: already told
    assert len(arrivals(director)) == 1


def test_a_future_stand_in_is_told_when_the_period_starts(rep, policy, manager_high, director):
    file_pending(rep, policy, capture=lambda execute: nullcontext())
    tomorrow = timezone.localdate() + timedelta(days=1)
    delegation_create(approver=manager_high, delegate=director, starts_on=tomorrow, ends_on=tomorrow)
    assert arrivals(director) == []
    assert notifications.stand_ins_started(today=tomorrow) == 1
    assert notifications.stand_ins_started(today=tomorrow) == 0
    assert len(arrivals(director)) == 1


def test_the_reminder_email_carries_the_decision_links(
    rep, policy, manager_high, mailoutbox, django_capture_on_commit_callbacks
):
    from requests.escalation import sla_sweep

    request = file_pending(rep, policy, capture=django_capture_on_commit_callbacks)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=FILED + timedelta(minutes=90))
    (email,) = [m for m in mailoutbox if m.to == [manager_high.email]]
    assert email.subject.startswith(f"[Exceptions portal] Reminder: {request.reference} is due soon")
    assert "Approve: http://127.0.0.1:8000/requests/email/" in email.body
