"""Deciding from an email: the signed link, the confirm page (GET changes nothing), the POST that decides
through every rule of the portal, and each way a link goes wrong."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from requests.authority import portal_today
from requests.decision_links import decision_token
from requests.escalation import sla_sweep
from requests.models import Delegation, ExceptionRequest, Notification, Status
from requests.services import exception_request_decide, exception_request_file, exception_request_withdraw
from tests.conftest import facts


@pytest.fixture
def pending(rep, policy):
    return exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))


def link(approver, request, action: str = "approve") -> str:
    return (
        reverse("requests:email_decide", args=[decision_token(approver=approver, request=request)])
        + f"?action={action}"
    )


def snapshot(request: ExceptionRequest) -> tuple:
    request.refresh_from_db()
    return (request.status, request.decided_by_id, request.history.count(), request.claimed_by_id)


def approve(client: Client, url: str, **extra):
    return client.post(url, {"decision": "approve", "note": "Shipping was our fault", **extra})


def test_get_shows_the_facts_routing_and_authority_and_changes_nothing(client, pending, manager_high):
    before = snapshot(pending)
    page = client.get(link(manager_high, pending))
    assert page.status_code == 200
    text = page.content.decode()
    for fact in (pending.reference, "Maya Brooks", "Returned 40 days after delivery.", "Store credit", "Full refund"):
        assert fact in text
    assert "Why it was routed this way" in text and pending.routing_reasons[0] in text
    assert "Your money authority here: <strong>2,500.00</strong>" in text
    assert re.search(r'<input[^>]*name="decision" value="approve"[^>]* checked>', text)
    assert "Approved from email" not in text and 'id="id_password"' not in text
    assert snapshot(pending) == before


def test_post_from_the_token_alone_decides_and_a_second_click_reads_already(client, pending, manager_high):
    url = link(manager_high, pending)
    response = approve(client, url)
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.approver_authority) == (
        Status.APPROVED,
        manager_high,
        Decimal("2500.00"),
    )
    when = f"{timezone.localtime(pending.decided_at):%d %b %Y at %H:%M}"
    again = client.get(url).content.decode()
    assert f"{pending.reference} was already approved by you at {when}." in again
    assert 'name="note"' not in again
    before = snapshot(pending)
    assert "already" in approve(client, url).content.decode()  # a second POST: single use
    assert snapshot(pending) == before


def test_justification_is_required_and_typed_text_is_kept(client, pending, manager_high):
    before = snapshot(pending)
    response = client.post(link(manager_high, pending, "deny"), {"decision": "deny", "note": "Too late"})
    text = response.content.decode()
    assert response.status_code == 200 and "A denial needs the alternative" in text
    assert "Too late</textarea>" in text
    assert snapshot(pending) == before


def test_deny_with_the_alternative(client, pending, manager_low):
    response = client.post(
        link(manager_low, pending, "deny"), {"decision": "deny", "note": "Out of window", "alternative": "Credit"}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.decision_alternative) == (Status.DENIED, "Credit")


def test_approving_above_authority_is_refused_as_in_the_portal(client, rep, policy, manager_low):
    pending = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    before = snapshot(pending)
    text = approve(client, link(manager_low, pending)).content.decode()
    assert "above your money authority of 250.00" in text
    assert "Shipping was our fault</textarea>" in text
    assert snapshot(pending) == before


def test_a_link_used_by_another_logged_in_approver_is_refused(client, pending, manager_high, manager_low):
    client.force_login(manager_low)
    before = snapshot(pending)
    text = approve(client, link(manager_high, pending)).content.decode()
    assert "This link was sent to Manager_High, and you are logged in as Manager_Low" in text
    assert snapshot(pending) == before


def test_a_token_for_an_approver_not_at_that_level_decides_nothing(client, pending, director):
    before = snapshot(pending)
    text = approve(client, link(director, pending)).content.decode()
    assert "not assigned to you" in text
    assert snapshot(pending) == before


def test_the_filing_rep_cannot_decide_through_a_link(client, policy, manager_low, manager_high):
    own = exception_request_file(rep=manager_low, facts=facts(policy, amount=Decimal("200")))
    assert own.status == Status.PENDING
    text = approve(client, link(manager_low, own)).content.decode()
    assert f"You filed {own.reference}, so another approver must decide it." in text


def test_forged_and_cut_tokens_give_a_clear_page(client, pending, manager_high):
    token = decision_token(approver=manager_high, request=pending)
    for bad in (token[:-3] + "abc", token.split(":")[0], "nonsense"):
        response = client.get(reverse("requests:email_decide", args=[bad]))
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    before = snapshot(pending)
    assert client.post(reverse("requests:email_decide", args=["nonsense"]), {"decision": "approve"}).status_code == 400
    assert snapshot(pending) == before


def test_a_token_expires_after_the_sla_and_a_day(client, pending, manager_high):
    url = link(manager_high, pending)
    before = snapshot(pending)
    with time_machine.travel(timezone.now() + timedelta(minutes=120, days=1, seconds=5)):
        text = approve(client, url).content.decode()
    assert "This link expired" in text
    assert snapshot(pending) == before


def test_a_token_after_escalation_is_closed(client, pending, manager_high, director):
    url = link(manager_high, pending)
    sla_sweep(now=pending.due_at + timedelta(seconds=1))
    before = snapshot(pending)
    text = approve(client, url).content.decode()
    assert f"{pending.reference} is no longer waiting at approval level 1" in text
    assert snapshot(pending) == before
    # The director's own arrival link works at level 2.
    assert approve(client, link(director, pending)).status_code == 302


def test_a_token_after_another_approvers_decision_says_who(client, pending, manager_high, manager_low):
    url = link(manager_low, pending, "deny")
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="fine")
    text = client.get(url).content.decode()
    assert "was already approved by Manager_High at" in text


def test_a_token_while_waiting_for_the_rep_decides_nothing(client, pending, manager_high):
    from requests.services import exception_request_ask

    url = link(manager_high, pending)
    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Photo?")
    before = snapshot(pending)
    assert "waits for the rep&#x27;s answer" in approve(client, url).content.decode()
    assert snapshot(pending) == before


def test_high_amounts_ask_for_the_password(client, rep, policy, manager_high, settings):
    settings.EMAIL_DECISION_STEP_UP_AMOUNT = Decimal("100")
    request = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    url = link(manager_high, request)
    assert 'id="id_password"' in client.get(url).content.decode()
    before = snapshot(request)
    text = approve(client, url, password="wrong").content.decode()
    assert "That is not your password. Nothing was decided." in text
    assert snapshot(request) == before
    assert approve(client, url, password="pw").status_code == 302
    request.refresh_from_db()
    assert request.status == Status.APPROVED


def test_a_scanner_following_every_link_in_the_email_changes_nothing(
    client, rep, policy, manager_low, manager_high, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    before = snapshot(request)
    notes = Notification.objects.count()
    followed = 0
    for email in mailoutbox:
        bodies = [email.body] + [html for html, _ in email.alternatives]
        for url in {u for body in bodies for u in re.findall(r"https?://[^\s\"<>]+", body)}:
            parts = urlsplit(url.replace("&amp;", "&"))
            response = Client().get(parts.path, dict(p.split("=", 1) for p in parts.query.split("&") if p))
            assert response.status_code in (200, 302)
            followed += 1
    assert followed >= 6
    assert snapshot(request) == before
    assert Notification.objects.count() == notes


@pytest.mark.django_db(transaction=True)
def test_two_approvers_clicking_at_once_store_one_decision(rep, policy, manager_low, manager_high):
    request = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("100")))
    urls = {manager_low: link(manager_low, request), manager_high: link(manager_high, request, "deny")}
    barrier = threading.Barrier(2)
    pages: dict[str, tuple[int, str]] = {}

    def click(approver) -> None:
        data = {"decision": "approve", "note": "n"}
        if approver == manager_high:
            data = {"decision": "deny", "note": "n", "alternative": "a"}
        barrier.wait()
        try:
            response = Client().post(urls[approver], data)
            pages[approver.username] = (response.status_code, response.content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(user,)) for user in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(code for code, _ in pages.values())
    assert codes == [200, 302]
    loser = next(text for code, text in pages.values() if code == 200)
    assert "already" in loser
    request.refresh_from_db()
    decisions = [h for h in request.history.all() if (h.history_change_reason or "").startswith(("Approved", "Denied"))]
    assert len(decisions) == 1


def test_wrong_passwords_are_limited(client, rep, policy, manager_high, settings):
    from django.core.cache import cache

    cache.clear()
    settings.EMAIL_DECISION_STEP_UP_AMOUNT = Decimal("100")
    request = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("200")))
    url = link(manager_high, request)
    for _ in range(5):
        assert "That is not your password." in approve(client, url, password="guess").content.decode()
    text = approve(client, url, password="pw").content.decode()
    assert "Too many wrong passwords" in text
    request.refresh_from_db()
    assert request.status == Status.PENDING
    cache.clear()


def test_a_withdrawn_request_closes_its_links(client, pending, rep, manager_high):
    url = link(manager_high, pending)
    exception_request_withdraw(request_id=pending.pk, rep=rep, reason="The customer kept the item.")
    before = snapshot(pending)
    page = client.get(url)
    assert page.status_code == 200
    assert f"{pending.reference} was withdrawn by" in page.content.decode()
    assert "this link is closed" in page.content.decode()
    text = approve(client, url).content.decode()
    assert "was withdrawn by" in text
    assert snapshot(pending) == before and pending.status == Status.WITHDRAWN


def test_the_email_path_applies_the_stand_in_rules_of_the_portal(client, policy, rep, manager_low, manager_high):
    """Authority on behalf and segregation of duties through delegation hold on the confirm page too."""
    today = portal_today()
    Delegation.objects.create(approver=manager_high, delegate=manager_low, starts_on=today, ends_on=today)
    above_own = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("1000")))
    page = client.get(link(manager_low, above_own)).content.decode()
    assert "Your money authority here: <strong>2,500.00 on behalf of" in page
    approve(client, link(manager_low, above_own))
    above_own.refresh_from_db()
    assert (above_own.status, above_own.decided_on_behalf_of) == (Status.APPROVED, manager_high)
    # Filed by the approver they stand in for: not theirs to decide, from an email either.
    theirs = exception_request_file(rep=manager_high, facts=facts(policy, customer_ref="C-9", amount=Decimal("200")))
    text = approve(client, link(manager_low, theirs)).content.decode()
    assert "for whom you are standing in" in text
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING
