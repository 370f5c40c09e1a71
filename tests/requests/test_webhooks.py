"""Signed webhooks, against a real HTTP receiver on 127.0.0.1 that checks every signature.

The receiver keeps its effects per ``webhook-id`` (as a receiver should), fails on purpose when told to,
and records the order in which events about each request arrive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from standardwebhooks import Webhook

from policies.insights import review as policy_review
from requests import services, webhooks
from requests.api_models import WebhookDelivery, WebhookEndpoint
from requests.escalation import sla_sweep
from requests.models import Notification
from tests.conftest import facts

ALL_EVENTS = ["filed", "granted", "pending", "decided", "escalated", "alerted", "withdrawn", "review-flagged"]


def signature_is_valid(secret: str, headers, body: bytes) -> bool:
    """The receiver's check by hand, as in the README (Standard Webhooks, HMAC-SHA256)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, sig.split(",", 1)[1]) for sig in headers["webhook-signature"].split())


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.statuses: list[int] = []  # answered in turn; 200 once empty
        self.attempts: list[tuple[str, dict]] = []  # (webhook-id, payload) of every POST, in arrival order
        self.effects: dict[str, dict] = {}  # applied once per webhook-id
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver.lock:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                    except Exception:
                        receiver.bad_signatures += 1
                        self.send_response(400)
                        self.end_headers()
                        return
                    assert signature_is_valid(receiver.secret, headers, body)
                    payload = json.loads(body)
                    receiver.attempts.append((headers["webhook-id"], payload))
                    # The effect is applied even when the answer is an error: the retry must not apply it again.
                    receiver.effects.setdefault(headers["webhook-id"], payload)
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://10.0.0.1/internal")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def types_for(self, request_id: int) -> list[str]:
        """The event types that took effect for one request, in the order they first arrived."""
        return [p["type"] for _, p in self.effects.items() if p.get("data", {}).get("id") == request_id]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver is on 127.0.0.1
    server = Receiver(secret="")
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def endpoint(receiver, admin_user):
    endpoint = WebhookEndpoint.objects.create(name="Helpdesk", url=receiver.url, events=ALL_EVENTS, owner=admin_user)
    receiver.secret = endpoint.secret
    return endpoint


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def test_filing_and_deciding_send_signed_events_in_order(rep, manager_high, policy, endpoint, receiver, run_on_commit):
    pending = run_on_commit(
        lambda: services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("120")))
    )
    run_on_commit(
        lambda: services.exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok")
    )
    assert receiver.bad_signatures == 0
    assert receiver.types_for(pending.pk) == [
        "request.filed",
        "request.pending",
        "request.decided",
        "request.granted",
    ]
    decided = receiver.attempts[-1][1]["data"]
    assert decided["status"] == "approved" and decided["reference"] == pending.reference
    assert decided["url"].endswith(f"/requests/{pending.pk}/")
    delivered = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert {(d.status, d.response_code, d.attempts) for d in delivered} == {("delivered", 200, 1)}
    assert all(d.latency_ms is not None for d in delivered)


def test_failed_deliveries_are_retried_under_the_same_id_and_take_effect_once(
    rep, policy, endpoint, receiver, run_on_commit
):
    receiver.statuses = [500, 503]
    granted = run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy)))
    filed_ids = [wid for wid, p in receiver.attempts if p["type"] == "request.filed"]
    assert len(filed_ids) == 3 and len(set(filed_ids)) == 1  # two failures, then delivered, one webhook-id
    assert receiver.types_for(granted.pk) == ["request.filed", "request.granted"]
    filed = WebhookDelivery.objects.get(event="filed")
    assert (filed.status, filed.attempts, filed.response_code) == ("delivered", 3, 200)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_a_later_event_waits_for_the_earlier_one_to_be_delivered(rep, policy, endpoint, receiver, run_on_commit):
    receiver.statuses = [500]
    scheduled: list[int] = []
    with mock.patch("requests.tasks.deliver_webhook.apply_async", lambda args, countdown: scheduled.append(args[0])):
        granted = run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy)))
    filed, later = WebhookDelivery.objects.filter(request=granted).order_by("pk")
    assert (filed.event, later.event) == ("filed", "granted")
    assert scheduled == [filed.pk]  # the retry, with backoff
    filed.refresh_from_db()
    assert filed.next_attempt_at is not None and filed.status == "pending"
    later.refresh_from_db()
    assert later.status == "pending" and later.attempts == 0  # not sent ahead of "filed"

    run_on_commit(lambda: webhooks.webhook_delivery_send(delivery_id=filed.pk))
    assert [p["type"] for _, p in receiver.attempts] == ["request.filed", "request.filed", "request.granted"]
    assert receiver.types_for(granted.pk) == ["request.filed", "request.granted"]


def test_sending_twice_sends_once_and_replay_keeps_the_webhook_id(rep, policy, endpoint, receiver, run_on_commit):
    run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy)))
    delivery = WebhookDelivery.objects.get(event="filed")
    assert webhooks.webhook_delivery_send(delivery_id=delivery.pk) == "not pending"
    assert len(receiver.attempts) == 2

    run_on_commit(lambda: webhooks.webhook_delivery_replay(delivery_ids=[delivery.pk]))
    assert len(receiver.attempts) == 3
    assert receiver.attempts[-1][0] == delivery.webhook_id
    assert len(receiver.effects) == 2  # the replay had no second effect


def test_an_endpoint_that_keeps_failing_is_disabled_and_its_owner_told(
    rep, policy, endpoint, receiver, admin_user, settings, run_on_commit
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    receiver.statuses = [500] * 10
    run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy)))
    endpoint.refresh_from_db()
    assert endpoint.active is False and "3 failed deliveries" in endpoint.disabled_reason
    assert len(receiver.attempts) == 3  # nothing more is sent to a disabled endpoint
    statuses = dict(WebhookDelivery.objects.values_list("event", "status"))
    assert statuses == {"filed": "failed", "granted": "pending"}
    notice = Notification.objects.get(user=admin_user, kind=Notification.Kind.WEBHOOK_DISABLED)
    assert "Helpdesk" in notice.text
    assert webhooks.webhook_deliveries_due() == []  # the retry sweep leaves a disabled endpoint alone


def test_chat_format_posts_text_and_blocks_with_a_link(rep, policy, endpoint, receiver, run_on_commit):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(format="chat", events=["pending"])
    pending = run_on_commit(
        lambda: services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("120")))
    )
    [(_, message)] = receiver.attempts
    assert message["text"].startswith(f"{pending.reference} is pending approval")
    assert message["blocks"][0]["type"] == "section"
    assert f"/requests/{pending.pk}/|{pending.reference}" in message["blocks"][0]["text"]["text"]


def test_policy_and_event_filters(rep, policy, problem_type, endpoint, receiver, run_on_commit):
    from tests.conftest import make_policy

    other = make_policy(problem_type, name="Late fees")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(policy=other, events=["filed"])
    run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy)))
    assert WebhookDelivery.objects.count() == 0
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(policy=policy)
    run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2")))
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["filed"]


def test_the_sla_sweep_emits_escalated_for_the_rows_it_moved(rep, policy, endpoint, receiver, run_on_commit):
    pending = run_on_commit(
        lambda: services.exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("120")))
    )
    run_on_commit(lambda: sla_sweep(now=pending.due_at + timedelta(minutes=1)))
    assert receiver.types_for(pending.pk) == ["request.filed", "request.pending", "request.escalated"]
    escalated = receiver.attempts[-1][1]["data"]
    assert escalated["approval_level"] == 2 and escalated["status"] == "escalated"


def test_review_flag_is_emitted_for_the_policy(rep, policy, endpoint, receiver, run_on_commit):
    for n in range(2):
        run_on_commit(lambda n=n: services.exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"C-{n}")))
    assert policy_review.policy_review_check(policy_id=policy.pk).flag is not None
    flagged = [p for _, p in receiver.attempts if p["type"] == "policy.review_flagged"]
    assert len(flagged) == 1 and flagged[0]["data"]["id"] == policy.pk


# The SSRF guard


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/",
    ],
)
def test_urls_inside_the_network_or_not_http_are_refused(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(webhooks.WebhookUrlRefused):
        webhooks.check_url(url)


def test_a_redirect_is_not_followed(rep, policy, endpoint, receiver, settings, run_on_commit):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.statuses = [302]
    run_on_commit(lambda: services.exception_request_file(rep=rep, facts=facts(policy)))
    filed = WebhookDelivery.objects.get(event="filed")
    assert (filed.status, filed.response_code) == ("failed", 302)


def test_backoff_doubles_and_is_capped():
    assert [webhooks.backoff_seconds(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert webhooks.backoff_seconds(30) == webhooks.BACKOFF_MAX_SECONDS


def test_the_retry_sweep_picks_up_due_and_lost_deliveries_only(endpoint, rep, policy):
    from django.utils import timezone

    now = timezone.now()
    base = {"endpoint": endpoint, "event": "filed", "payload": {}}
    due = WebhookDelivery.objects.create(webhook_id="msg_due", next_attempt_at=now - timedelta(seconds=1), **base)
    later = WebhookDelivery.objects.create(webhook_id="msg_later", next_attempt_at=now + timedelta(minutes=5), **base)
    in_flight = WebhookDelivery.objects.create(
        webhook_id="msg_in_flight", next_attempt_at=now - timedelta(seconds=1), claimed_at=now, **base
    )
    lost = WebhookDelivery.objects.create(webhook_id="msg_lost", **base)
    WebhookDelivery.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=3))
    done = WebhookDelivery.objects.create(webhook_id="msg_done", status="delivered", **base)
    assert webhooks.webhook_deliveries_due(now=now) == [due.pk, lost.pk]
    assert {later.pk, in_flight.pk, done.pk}.isdisjoint(webhooks.webhook_deliveries_due(now=now))


def test_policy_admins_register_endpoints_in_admin_and_private_urls_are_refused(client, admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    client.force_login(admin_user)
    assert client.get("/admin/requests/webhookendpoint/add/").status_code == 200
    response = client.post(
        "/admin/requests/webhookendpoint/add/",
        {
            "name": "Intranet",
            "url": "http://10.0.0.5/hook",
            "format": "standard",
            "events": ["filed"],
            "active": "on",
            "secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0",
        },
    )
    assert response.status_code == 200
    assert "an address inside the network" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    assert client.get("/admin/requests/webhookdelivery/").status_code == 200
