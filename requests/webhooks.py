"""Signed webhooks: what happened to requests and policies, pushed to helpdesks and chat channels.

- ``emit`` / ``emit_many`` are the only touch points: the services call them inside the transaction of the
  change, so that a delivery row exists exactly when the change committed, and its sending is enqueued
  with ``transaction.on_commit``.
- ``webhook_delivery_send`` sends one delivery, signed with Standard Webhooks (``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature``). It claims the row with a conditional update (a redelivered
  task sends nothing more), keeps the order of events per request and endpoint (a later event waits for
  the earlier one to be delivered or given up), retries with exponential backoff under the same
  ``webhook-id`` (receivers deduplicate on it), and disables an endpoint that keeps failing, telling its owner.
- HTTP goes through urllib with no redirects, and refuses non-http(s) URLs and private, loopback or
  link-local addresses unless ``WEBHOOK_ALLOW_PRIVATE_URLS`` is on (SSRF: the portal must not be a way
  to reach the internal network).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from exceptions_portal import roles
from exceptions_portal.celery import enqueue_on_commit as celery_enqueue_on_commit
from exceptions_portal.celery import task_named
from policies.models import Policy
from policies.selectors import kept_per_rules_version
from requests import notifications
from requests.api_models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookFormat
from requests.models import ExceptionRequest, Status, tier_label

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: the retry sweep takes it over.
CLAIM_TIMEOUT = timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 6 * 3600
# Deliveries per task: at WEBHOOK_TIMEOUT_SECONDS (10 s) each, a chunk stays inside the task's time limit.
ENQUEUE_CHUNK = 20
USER_AGENT = "exceptions-portal-webhooks/1"

EVENT_TYPES = {
    WebhookEvent.FILED: "request.filed",
    WebhookEvent.GRANTED: "request.granted",
    WebhookEvent.PENDING: "request.pending",
    WebhookEvent.DECIDED: "request.decided",
    WebhookEvent.ESCALATED: "request.escalated",
    WebhookEvent.ALERTED: "request.alerted",
    WebhookEvent.WITHDRAWN: "request.withdrawn",
    WebhookEvent.REVIEW_FLAGGED: "policy.review_flagged",
}


class WebhookUrlRefused(Exception):
    """The URL may not be called (scheme, or an address inside the network)."""


def backoff_seconds(attempts: int) -> int:
    """10 s, 20 s, 40 s, … after the 1st, 2nd, 3rd failed attempt, at most six hours."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


# Emitting


def _portal_url(request_id: int) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("requests:detail", args=[request_id])


REQUEST_FIELDS = (
    "pk",
    "reference",
    "status",
    "policy_id",
    "policy__name",
    "policy__problem_type_id",
    "policy__problem_type__name",
    "customer__external_ref",
    "tier_level",
    "tier_kind",
    "beyond_all_tiers",
    "amount",
    "approval_level",
    "due_at",
    "filed_at",
    "decided_at",
    "rep__username",
    "decided_by__username",
)


def _request_data(row: dict) -> dict:
    """The event's ``data``: the request as it stands in the transaction that emitted the event."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": row["pk"],
        "reference": row["reference"],
        "status": row["status"],
        "status_label": str(Status(row["status"]).label),
        "policy": {"id": row["policy_id"], "name": row["policy__name"]},
        "problem_type": row["policy__problem_type__name"],
        "customer_ref": row["customer__external_ref"],
        "tier": tier_label(row["tier_level"], row["tier_kind"], row["beyond_all_tiers"]),
        "amount": f"{row['amount']:.2f}",
        "approval_level": row["approval_level"],
        "due_at": when(row["due_at"]),
        "filed_at": when(row["filed_at"]),
        "filed_by": row["rep__username"],
        "decided_at": when(row["decided_at"]),
        "decided_by": row["decided_by__username"],
        "url": _portal_url(row["pk"]),
    }


def _policy_data(policy: Policy) -> dict:
    return {
        "id": policy.pk,
        "name": policy.name,
        "problem_type": policy.problem_type.name,
        "review_reason": policy.review_reason,
        "url": settings.PORTAL_BASE_URL.rstrip("/") + reverse("policies:analysis"),
    }


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CHAT_VERBS = {
    WebhookEvent.FILED: "was filed",
    WebhookEvent.GRANTED: "was granted",
    WebhookEvent.PENDING: "is pending approval",
    WebhookEvent.DECIDED: "was decided",
    WebhookEvent.ESCALATED: "was escalated after an SLA breach",
    WebhookEvent.ALERTED: "breached its SLA at the top level",
    WebhookEvent.WITHDRAWN: "was withdrawn",
    WebhookEvent.REVIEW_FLAGGED: "was flagged for review",
}


def chat_message(event: str, data: dict) -> dict:
    """A Slack-compatible incoming-webhook message: a plain ``text`` fallback and ``blocks`` with a link."""
    verb = CHAT_VERBS[WebhookEvent(event)]
    if event == WebhookEvent.REVIEW_FLAGGED:
        title = f"Policy “{data['name']}” {verb}"
        details = data["review_reason"] or data["problem_type"]
    else:
        title = f"{data['reference']} {verb}"
        details = f"{data['policy']['name']} · {data['tier']} · {data['amount']} · {data['status_label']}"
        if data["approval_level"] and data["status"] in ("pending", "escalated"):
            details += f" · level {data['approval_level']}"
    link = data["url"]
    return {
        "text": f"{title}: {details} {link}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{link}|{_mrkdwn(title)}>*"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(details)}]},
        ],
    }


def _payload(endpoint: WebhookEndpoint, event: str, data: dict, at: datetime) -> dict:
    if endpoint.format == WebhookFormat.CHAT:
        return chat_message(event, data)
    return {"type": EVENT_TYPES[WebhookEvent(event)], "timestamp": at.isoformat(), "data": data}


def _subscribed(event: str, *, policy_id: int | None, problem_type_id: int | None) -> list[WebhookEndpoint]:
    # Few endpoints: filtered here, which works alike on SQLite and PostgreSQL (JSON "contains" does not).
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(active=True).filter(
            Q(policy__isnull=True) | Q(policy_id=policy_id),
            Q(problem_type__isnull=True) | Q(problem_type_id=problem_type_id),
        )
        if event in endpoint.events
    ]


def _new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def endpoints_active() -> bool:
    """Whether any endpoint is active: kept per process under the rules version, which any endpoint saved or
    deleted renews (requests.apps). Disabling one after failures does not (an UPDATE): until the next renewal
    this says True and ``_subscribed`` finds nobody, which records nothing all the same."""
    return kept_per_rules_version(
        "webhook-endpoints-active", lambda: WebhookEndpoint.objects.filter(active=True).exists()
    )


def emit(events: str | Iterable[str], request: ExceptionRequest | None = None, *, policy: Policy | None = None) -> int:
    """Record the deliveries of ``events`` about one request (or one policy) and send them after commit.

    Call inside the transaction of the change. Returns how many deliveries were recorded.
    """
    events = (events,) if isinstance(events, str) else tuple(events)
    if request is not None:
        if not endpoints_active():  # one look for all the events
            return 0
        return sum(emit_many(event, [request.pk]) for event in events)
    assert policy is not None, "an event is about a request or a policy"
    now = timezone.now()
    deliveries = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            webhook_id=_new_webhook_id(),
            payload=_payload(endpoint, event, _policy_data(policy), now),
        )
        for event in events
        for endpoint in _subscribed(event, policy_id=policy.pk, problem_type_id=policy.problem_type_id)
    ]
    return _record(deliveries)


def emit_many(event: str, request_ids: list[int]) -> int:
    """The deliveries of one event about many requests (the SLA sweep's escalated or alerted rows)."""
    if not request_ids or not endpoints_active():
        return 0
    now = timezone.now()
    deliveries = []
    for chunk_start in range(0, len(request_ids), 1000):
        rows = ExceptionRequest.objects.filter(pk__in=request_ids[chunk_start : chunk_start + 1000]).values(
            *REQUEST_FIELDS
        )
        endpoints: dict[tuple[int, int], list[WebhookEndpoint]] = {}
        for row in rows.order_by("pk"):
            key = (row["policy_id"], row["policy__problem_type_id"])
            if key not in endpoints:
                endpoints[key] = _subscribed(event, policy_id=key[0], problem_type_id=key[1])
            data = _request_data(row) if endpoints[key] else None
            deliveries += [
                WebhookDelivery(
                    endpoint=endpoint,
                    event=event,
                    webhook_id=_new_webhook_id(),
                    request_id=row["pk"],
                    payload=_payload(endpoint, event, data, now),
                )
                for endpoint in endpoints[key]
            ]
    return _record(deliveries)


def _record(deliveries: list[WebhookDelivery]) -> int:
    if not deliveries:
        return 0
    created = WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
    ids = [d.pk for d in created if d.pk is not None] or list(
        WebhookDelivery.objects.filter(webhook_id__in=[d.webhook_id for d in deliveries])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    enqueue_on_commit(ids)
    return len(deliveries)


def enqueue_on_commit(delivery_ids: list[int]) -> None:
    for start in range(0, len(delivery_ids), ENQUEUE_CHUNK):
        celery_enqueue_on_commit("requests.tasks.deliver_webhooks", delivery_ids[start : start + ENQUEUE_CHUNK])


# The longest countdown given to the broker; below CELERY_VISIBILITY_TIMEOUT (settings, 720 s by default).
RETRY_COUNTDOWN_MAX = 300

# Sending


def check_url(url: str) -> None:
    """Refuse what a webhook may not call: other schemes, and addresses inside the network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("A webhook URL must be http:// or https:// with a host name.")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError) as error:
        raise WebhookUrlRefused(f"The host {parts.hostname} does not resolve: {error}.") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (mapped or ip).is_global:
            raise WebhookUrlRefused(
                f"{parts.hostname} resolves to {address}, an address inside the network: webhooks only call "
                "public addresses (set WEBHOOK_ALLOW_PRIVATE_URLS to allow it)."
            )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could point inside the network after the address check: it counts as a failure."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def signed_headers(*, secret: str, webhook_id: str, at: datetime, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST and return (status code, error); a 2xx has an empty error."""
    check_url(url)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))[:500]


def webhook_delivery_send(*, delivery_id: int, now: datetime | None = None) -> str:
    """Send one pending delivery; returns what happened ("delivered", "retry", "failed", "waiting", …).

    Safe to run twice or at once on two workers: the conditional update claims the row, so only one sends.
    """
    now = now or timezone.now()
    claimable = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    if not WebhookDelivery.objects.filter(claimable, pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
        claimed_at=now
    ):
        return "not pending"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    release = WebhookDelivery.objects.filter(pk=delivery_id)
    if not endpoint.active:
        release.update(claimed_at=None)
        return "endpoint disabled"
    if delivery.request_id is not None and _earlier_pending(delivery).exists():
        # Events about a request arrive in order: this one goes when the earlier one is done (see _next_in_line).
        release.update(claimed_at=None)
        return "waiting"

    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signed_headers(secret=endpoint.secret, webhook_id=delivery.webhook_id, at=timezone.now(), body=body)
    started = time.monotonic()
    try:
        code, error = _post(endpoint.url, body, headers)
    except WebhookUrlRefused as refused:
        code, error = None, str(refused)
    latency_ms = int((time.monotonic() - started) * 1000)
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "response_code": code, "latency_ms": latency_ms, "last_error": error[:500]}

    if code is not None and 200 <= code < 300:
        release.update(**fields, status=WebhookDelivery.Status.DELIVERED, delivered_at=timezone.now(), claimed_at=None)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        _next_in_line(delivery)
        return "delivered"

    logger.warning("Webhook %s to %s failed (attempt %s): %s", delivery.webhook_id, endpoint.url, attempts, error)
    _count_failure(endpoint)
    if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        release.update(**fields, status=WebhookDelivery.Status.FAILED, next_attempt_at=None, claimed_at=None)
        _next_in_line(delivery)
        return "failed"
    wait = backoff_seconds(attempts)
    release.update(**fields, next_attempt_at=now + timedelta(seconds=wait), claimed_at=None)
    # No countdown may outlast the broker's visibility timeout (Redis would deliver it again): a later
    # retry is left to the beat job, which sends every delivery whose next_attempt_at has come.
    if wait <= RETRY_COUNTDOWN_MAX:
        task_named("requests.tasks.deliver_webhook").apply_async((delivery_id,), countdown=wait)
    return "retry"


def _earlier_pending(delivery: WebhookDelivery):
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        request_id=delivery.request_id,
        status=WebhookDelivery.Status.PENDING,
        pk__lt=delivery.pk,
    )


def _next_in_line(delivery: WebhookDelivery) -> None:
    """The next event about the same request for the same endpoint, which waited for this one."""
    if delivery.request_id is None:
        return
    following = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            request_id=delivery.request_id,
            status=WebhookDelivery.Status.PENDING,
            pk__gt=delivery.pk,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        task_named("requests.tasks.deliver_webhook").delay(following)


def _count_failure(endpoint: WebhookEndpoint) -> None:
    """One more failure in a row; at the limit the endpoint is disabled (once) and its owner told."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    reason = f"Disabled after {limit} failed deliveries in a row."
    disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True, consecutive_failures__gte=limit).update(
        active=False, disabled_reason=reason
    )
    if disabled:
        webhook_endpoint_disabled_notify(endpoint_id=endpoint.pk)


def webhook_endpoint_disabled_notify(*, endpoint_id: int) -> None:
    endpoint = WebhookEndpoint.objects.select_related("owner").get(pk=endpoint_id)
    owners = [endpoint.owner] if endpoint.owner_id and endpoint.owner.is_active else []
    if not owners:
        owners = list(get_user_model().objects.filter(is_active=True, groups__name=roles.POLICY_ADMINS).distinct())
    with transaction.atomic():
        notifications.webhook_disabled(endpoint, owners=owners)


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = 5000) -> list[int]:
    """Pending deliveries whose retry is due, or whose task was lost (beat, every minute)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, endpoint__active=True)
        .filter(
            Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - timedelta(minutes=2))
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_delivery_replay(*, delivery_ids: list[int]) -> int:
    """Send deliveries again with their own ``webhook-id`` (receivers that saw it ignore it)."""
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(pk__in=delivery_ids)
            .exclude(status=WebhookDelivery.Status.PENDING, claimed_at__isnull=False)
            .values_list("pk", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=None, claimed_at=None, delivered_at=None
        )
        enqueue_on_commit(sorted(ids))
    return len(ids)
