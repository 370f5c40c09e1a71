"""Notification emails: sent once, never lost when a worker dies mid-send."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from exceptions_portal import celery as portal_celery
from exceptions_portal.celery import task_named
from requests import notifications
from requests.models import Notification
from requests.notifications import notification_email_send, notification_emails_unsent
from requests.services import exception_request_file
from requests.tasks import resend_unsent_emails, send_new_emails, send_notification_email
from tests.conftest import facts


@pytest.fixture
def notification(rep):
    return Notification.objects.create(user=rep, kind=Notification.Kind.DECIDED, text="EX-1 was approved.")


def test_sent_once_even_when_the_task_runs_twice(notification, mailoutbox):
    assert send_notification_email.delay(notification.pk).get() is True
    assert send_notification_email.delay(notification.pk).get() is False
    assert len(mailoutbox) == 1
    assert mailoutbox[0].body.startswith("EX-1 was approved.")


def test_failed_send_releases_the_claim_for_the_retry(notification, mailoutbox):
    with (
        mock.patch("requests.notifications.EmailMultiAlternatives.send", side_effect=OSError("SMTP down")),
        pytest.raises(OSError),
    ):
        notification_email_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert (notification.email_claimed_at, notification.emailed_at) == (None, None)
    assert notification_email_send(notification_id=notification.pk) is True
    assert len(mailoutbox) == 1


def test_claim_left_by_a_killed_worker_is_taken_over_by_the_resend_job(notification, mailoutbox):
    # A worker claimed it and died before sending.
    long_ago = timezone.now() - timedelta(minutes=30)
    Notification.objects.filter(pk=notification.pk).update(email_claimed_at=long_ago, created_at=long_ago)
    assert notification_emails_unsent() == [notification.pk]
    assert resend_unsent_emails.delay().get() == 1
    assert len(mailoutbox) == 1
    assert notification_emails_unsent() == []


def test_fresh_claims_are_left_to_their_worker(notification, mailoutbox):
    recent = timezone.now() - timedelta(minutes=3)
    Notification.objects.filter(pk=notification.pk).update(email_claimed_at=timezone.now(), created_at=recent)
    assert notification_emails_unsent() == []
    assert notification_email_send(notification_id=notification.pk) is False
    assert mailoutbox == []


def test_user_without_email_is_marked_done_without_sending(rep, mailoutbox):
    rep.email = ""
    rep.save()
    notification = Notification.objects.create(user=rep, kind=Notification.Kind.DECIDED, text="x")
    assert notification_email_send(notification_id=notification.pk) is False
    notification.refresh_from_db()
    assert notification.emailed_at is not None
    assert mailoutbox == []


def test_a_burst_of_filings_queues_one_flush_that_emails_them_all_once(
    rep, policy, manager_low, manager_high, django_capture_on_commit_callbacks, monkeypatch, mailoutbox
):
    """With a real queue (not eager), filings committed while the flush this process queued is still to run
    join it; the flush sends every notification not sent yet, once."""
    task = task_named("requests.tasks.send_new_emails")
    monkeypatch.setitem(task.app.conf, "task_always_eager", False)
    monkeypatch.setattr(portal_celery, "_coalesced_runs_at", {})
    queued: list[tuple[tuple, float]] = []
    monkeypatch.setattr(task, "apply_async", lambda args, countdown: queued.append((args, countdown)))
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"F-{n}", amount=Decimal("300")))
    assert queued == [((), notifications.EMAIL_FLUSH_DELAY)]
    assert mailoutbox == []
    assert send_new_emails.run() == 6  # two approvers told of each of the three
    assert sorted(m.to[0] for m in mailoutbox) == [manager_high.email] * 3 + [manager_low.email] * 3
    assert send_new_emails.run() == 0
    assert len(mailoutbox) == 6


def test_a_flush_leaves_digests_and_emails_being_sent(rep, manager_low, mailoutbox):
    held = Notification.objects.create(user=rep, kind=Notification.Kind.DECIDED, text="held", in_digest=True)
    sending = Notification.objects.create(
        user=rep, kind=Notification.Kind.DECIDED, text="sending", email_claimed_at=timezone.now()
    )
    due = Notification.objects.create(user=manager_low, kind=Notification.Kind.DECIDED, text="due")
    assert notifications.notification_emails_flush() == (1, False)
    assert [m.to for m in mailoutbox] == [[manager_low.email]]
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 2
    assert {held.pk, sending.pk} == set(
        Notification.objects.filter(emailed_at__isnull=True).values_list("pk", flat=True)
    )
    del due


def test_a_flush_sends_a_chunk_and_flushes_again_when_more_wait(rep, monkeypatch, mailoutbox):
    monkeypatch.setattr(notifications, "EMAIL_CHUNK", 2)
    Notification.objects.bulk_create(
        Notification(user=rep, kind=Notification.Kind.DECIDED, text=f"EX-{n} was approved.") for n in range(5)
    )
    again = mock.Mock()
    monkeypatch.setattr(send_new_emails, "delay", again)
    assert send_new_emails.run() == 2
    assert again.call_count == 1
    assert send_new_emails.run() == 2
    assert send_new_emails.run() == 1
    assert again.call_count == 2  # the last found no more
    assert [m.body.split(" ")[0] for m in mailoutbox] == [f"EX-{n}" for n in range(5)]


def test_a_flush_sends_a_notification_dated_ahead_of_its_clock(rep, mailoutbox):
    """A web server's clock a little ahead of the worker's dates the row in the worker's future: due all the same."""
    ahead = Notification.objects.create(user=rep, kind=Notification.Kind.DECIDED, text="EX-9 was approved.")
    Notification.objects.filter(pk=ahead.pk).update(created_at=timezone.now() + timedelta(seconds=5))
    assert notifications.notification_emails_flush() == (1, False)
    assert [m.body.split(" ")[0] for m in mailoutbox] == ["EX-9"]
