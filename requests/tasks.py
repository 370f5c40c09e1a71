"""Celery tasks: take ids, fetch, call a service. Each is safe to run twice.

Names are pinned (``name=``): beat's schedule, queued messages and the services' ``enqueue_on_commit`` call
tasks by these names, so moving a task must keep its name. Tasks import services; services never import tasks.
"""

from __future__ import annotations

from celery import shared_task

from requests import notifications
from requests.escalation import sla_sweep, sla_sweep_and_look_ahead
from requests.services import requests_roll_up
from requests.webhooks import ENQUEUE_CHUNK, webhook_deliveries_due, webhook_delivery_send


@shared_task(name="requests.tasks.enforce_sla", acks_late=True, soft_time_limit=240, time_limit=300)
def enforce_sla() -> str:
    """The periodic SLA sweep (beat, every SLA_SWEEP_SECONDS). Safe to run twice or at once on two workers."""
    return str(sla_sweep_and_look_ahead())


# The name is pinned: messages already waiting in a broker name the task, so a refactor must not orphan them.
@shared_task(name="requests.tasks.sla_check", acks_late=True, soft_time_limit=240, time_limit=300)
def sla_check() -> str:
    """A precise timer at a deadline or reminder (services.sla_checks_schedule). It runs the sweep's own
    locked code, so an early, late or duplicated timer changes nothing, and a lost one is the next sweep's."""
    return str(sla_sweep())


# Sending tasks stop at notifications.EMAIL_SEND_TIME_LIMIT, which the claim timeout is derived from;
# an SMTP call is bounded by EMAIL_TIMEOUT (settings) well inside it.
@shared_task(
    name="requests.tasks.send_notification_emails",
    acks_late=True,
    soft_time_limit=notifications.EMAIL_SEND_TIME_LIMIT - 10,
    time_limit=notifications.EMAIL_SEND_TIME_LIMIT,
)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email a small batch of notifications (the sweep enqueues chunks of EMAIL_CHUNK)."""
    return notifications.notification_emails_send(notification_ids)


@shared_task(
    name="requests.tasks.send_new_emails",
    acks_late=True,
    soft_time_limit=notifications.EMAIL_SEND_TIME_LIMIT - 10,
    time_limit=notifications.EMAIL_SEND_TIME_LIMIT,
)
def send_new_emails() -> int:
    """The email flush, a moment after notifications commit (notifications.emails_on_commit): a chunk of the
    notifications not sent yet, then another flush when more wait. Two at once split the work (each email is
    claimed); the resend job is the backstop of a lost one."""
    sent, more = notifications.notification_emails_flush()
    if more:
        send_new_emails.delay()
    return sent


@shared_task(
    name="requests.tasks.send_notification_email",
    acks_late=True,
    soft_time_limit=30,
    time_limit=45,
    autoretry_for=(OSError,),
    retry_backoff=True,
    # No retry countdown may outlast the broker's visibility timeout (settings).
    retry_backoff_max=60,
    max_retries=5,
)
def send_notification_email(notification_id: int) -> bool:
    return notifications.notification_email_send(notification_id=notification_id)


@shared_task(name="requests.tasks.resend_unsent_emails", acks_late=True, soft_time_limit=120, time_limit=150)
def resend_unsent_emails() -> int:
    """Beat, every minute: email what a crashed worker or a lost message left unsent."""
    ids = notifications.notification_emails_unsent()
    for chunk in notifications.chunked(ids):
        send_notification_emails.delay(chunk)
    return len(ids)


@shared_task(name="requests.tasks.send_digests", acks_late=True, soft_time_limit=120, time_limit=150)
def send_digests() -> int:
    """Beat, every minute: the digests that are due (an interval passed, or an item reached its reminder)."""
    return sum(notifications.digest_send(user_id=user_id) for user_id in notifications.digests_due())


@shared_task(name="requests.tasks.stand_ins_started", acks_late=True, soft_time_limit=120, time_limit=150)
def stand_ins_started() -> int:
    """Beat, hourly: stand-ins whose period started are told what already waits for them (once a period)."""
    return notifications.stand_ins_started()


@shared_task(name="requests.tasks.deliver_webhook", acks_late=True, soft_time_limit=60, time_limit=90)
def deliver_webhook(delivery_id: int) -> str:
    """Send one webhook delivery; its retries are scheduled by the service with exponential backoff."""
    return webhook_delivery_send(delivery_id=delivery_id)


@shared_task(name="requests.tasks.deliver_webhooks", acks_late=True, soft_time_limit=240, time_limit=300)
def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Send a chunk of deliveries recorded together (enqueued after the commit that emitted them)."""
    return sum(webhook_delivery_send(delivery_id=pk) == "delivered" for pk in delivery_ids)


@shared_task(name="requests.tasks.retry_webhook_deliveries", acks_late=True, soft_time_limit=120, time_limit=150)
def retry_webhook_deliveries() -> int:
    """Beat, every minute: deliveries whose retry is due, or whose task a lost message or a crash dropped."""
    ids = webhook_deliveries_due()
    for chunk in notifications.chunked(ids, ENQUEUE_CHUNK):
        deliver_webhooks.delay(chunk)
    return len(ids)


@shared_task(name="requests.tasks.roll_up_requests", acks_late=True, soft_time_limit=120, time_limit=150)
def roll_up_requests() -> int:
    """Beat, every minute: add the requests decided since the last run to the analysis' daily rollups.
    Idempotent (a request is marked in the transaction that counts it) and safe on several workers at
    once; a long backlog (a first run over years of requests) goes on at the next run."""
    return requests_roll_up(seconds=60)
