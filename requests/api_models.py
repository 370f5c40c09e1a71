"""What the REST API and the webhooks keep: API tokens, idempotency keys, webhook endpoints and deliveries.

Imported at the end of ``requests.models`` so that Django finds them in the ``requests`` app.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

TOKEN_PREFIX = "ept_"


def token_hash(raw: str) -> str:
    """Tokens are stored as their SHA-256: a database leak gives no usable token."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token: acts with its user's roles, shown once at creation, stored hashed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. “Zendesk app”.")
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise the token.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @staticmethod
    def new_raw() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` the API saw on a filing: the same key from the same user returns the first result."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    request = models.ForeignKey("requests.ExceptionRequest", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]

    def __str__(self) -> str:
        return self.key


class WebhookEvent(models.TextChoices):
    FILED = "filed", "Filed"
    GRANTED = "granted", "Granted (by the rep at filing, or approved)"
    PENDING = "pending", "Pending approval"
    DECIDED = "decided", "Decided by an approver"
    ESCALATED = "escalated", "Escalated after an SLA breach"
    ALERTED = "alerted", "SLA breached at the top level"
    WITHDRAWN = "withdrawn", "Withdrawn by the rep"
    REVIEW_FLAGGED = "review-flagged", "Policy flagged for review"


class WebhookFormat(models.TextChoices):
    STANDARD = "standard", "Standard Webhooks (JSON)"
    CHAT = "chat", "Chat (Slack-compatible text and blocks)"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500, help_text="Where events are POSTed (http or https).")
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signs every delivery (Standard Webhooks, “whsec_…”). Give it to the receiver.",
    )
    events = models.JSONField(default=list, help_text="The events sent to this endpoint.")
    policy = models.ForeignKey(
        "policies.Policy",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only this policy's events. Empty: every policy.",
    )
    problem_type = models.ForeignKey(
        "policies.ProblemType",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only this problem type's events. Empty: every problem type.",
    )
    format = models.CharField(max_length=10, choices=WebhookFormat.choices, default=WebhookFormat.STANDARD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
        help_text="Told when the endpoint is disabled after repeated failures.",
    )
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=WebhookEvent.choices)
    webhook_id = models.CharField(max_length=40, unique=True)
    request = models.ForeignKey(
        "requests.ExceptionRequest", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "request", "status"], name="webhook_delivery_order"),
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} ({self.webhook_id})"
