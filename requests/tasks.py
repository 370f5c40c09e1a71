"""Celery tasks: take ids, fetch, call a service. Each is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from requests.models import Notification

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def enforce_sla() -> str:
    """The periodic SLA sweep (beat, every SLA_SWEEP_SECONDS). Safe to run twice or at once on two workers."""
    from requests.escalation import sla_sweep

    return str(sla_sweep())


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email a batch of notifications (the sweep's); each is claimed, so a rerun sends nothing twice."""
    return sum(bool(send_notification_email(notification_id)) for notification_id in notification_ids)


@shared_task(
    acks_late=True, soft_time_limit=30, time_limit=45, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_notification_email(notification_id: int) -> bool:
    """Email a notification once. The conditional update claims it, so a redelivered
    message or a second worker sends nothing more."""
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(emailed_at=timezone.now())
    if not claimed:
        return False
    notification = Notification.objects.select_related("user", "request").get(pk=notification_id)
    if not notification.user.email:
        return False
    link = ""
    if notification.request_id:
        link = settings.PORTAL_BASE_URL.rstrip("/") + reverse("requests:detail", args=[notification.request_id])
    try:
        send_mail(
            subject=f"[Exceptions portal] {notification.get_kind_display()}",
            message=f"{notification.text}\n\n{link}".strip(),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.user.email],
        )
    except OSError:
        # Release the claim so that the retry can send it.
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        raise
    return True
