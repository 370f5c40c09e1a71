"""Notification emails: sent once, never lost when a worker dies mid-send."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from requests.models import Notification
from requests.notifications import notification_email_send, notification_emails_unsent
from requests.tasks import resend_unsent_emails, send_notification_email


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
