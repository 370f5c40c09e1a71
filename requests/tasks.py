"""Celery tasks: take ids, fetch, call a service. Each is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from requests import notifications

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def enforce_sla() -> str:
    """The periodic SLA sweep (beat, every SLA_SWEEP_SECONDS). Safe to run twice or at once on two workers."""
    from requests.escalation import sla_sweep

    return str(sla_sweep())


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email a small batch of notifications (the sweep enqueues chunks of EMAIL_CHUNK)."""
    return sum(notifications.notification_email_send(notification_id=pk) for pk in notification_ids)


@shared_task(
    acks_late=True, soft_time_limit=30, time_limit=45, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_notification_email(notification_id: int) -> bool:
    return notifications.notification_email_send(notification_id=notification_id)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def resend_unsent_emails() -> int:
    """Beat, every few minutes: email what a crashed worker or a lost message left unsent."""
    ids = notifications.notification_emails_unsent()
    for chunk in notifications.chunked(ids):
        send_notification_emails.delay(chunk)
    return len(ids)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def send_digests() -> int:
    """Beat, every minute: the digests that are due (an interval passed, or an item reached its reminder)."""
    return sum(notifications.digest_send(user_id=user_id) for user_id in notifications.digests_due())


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def stand_ins_started() -> int:
    """Beat, hourly: stand-ins whose period started are told what already waits for them (once a period)."""
    return notifications.stand_ins_started()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def deliver_webhook(delivery_id: int) -> str:
    """Send one webhook delivery; its retries are scheduled by the service with exponential backoff."""
    from requests.webhooks import webhook_delivery_send

    return webhook_delivery_send(delivery_id=delivery_id)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Send a chunk of deliveries recorded together (enqueued after the commit that emitted them)."""
    from requests.webhooks import webhook_delivery_send

    return sum(webhook_delivery_send(delivery_id=pk) == "delivered" for pk in delivery_ids)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def retry_webhook_deliveries() -> int:
    """Beat, every minute: deliveries whose retry is due, or whose task a lost message or a crash dropped."""
    from requests.webhooks import ENQUEUE_CHUNK, webhook_deliveries_due

    ids = webhook_deliveries_due()
    for chunk in notifications.chunked(ids, ENQUEUE_CHUNK):
        deliver_webhooks.delay(chunk)
    return len(ids)
