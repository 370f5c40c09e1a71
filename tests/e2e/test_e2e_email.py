"""Deciding from an email on a phone, end to end: headless Chromium against the live server.

rep1 files a request → manager2's arrival email is in the outbox (tasks run eagerly here) → its
Approve link opens on a phone-sized screen without a session → manager2 approves with a
justification → a second click on the same link reads "already approved by you at …" → rep1 sees the
notification. Screenshots go to ``tmp_path``, or to ``docs/screenshots/`` with ``SCREENSHOTS=1``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from exceptions_portal.celery import app as celery_app
from requests.models import ExceptionRequest, Status
from tests.e2e.test_e2e import (  # noqa: F401 (fixtures)
    UI_TIMEOUT_MS,
    check_page,
    chromium_browser,
    file_request,
    fill_request,
    open_new_request_form,
    people,
    portal,
    screenshot,
    submit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_an_approver_decides_from_the_email_on_a_phone(portal, people, screenshot, mailoutbox):  # noqa: F811
    # The arrival email is sent by the task run eagerly in this process (no worker here); a browser test
    # before this one once left Celery enqueueing to the broker instead.
    assert celery_app.conf.task_always_eager
    rep1 = people.login("rep1")
    open_new_request_form(rep1)
    fill_request(
        rep1,
        customer_ref="E2E-MAIL-1",
        customer_name="Harbour Physio",
        policy=portal["Custom-work refund"],
        sentiment="deeply_unhappy",
        cause="our_mistake",
        amount="900",
        days=5,
        situation="The made-to-measure treatment couch arrived in the wrong width.",
        resolution="Full refund of the couch.",
    )
    pk = file_request(rep1)
    request = ExceptionRequest.objects.get(pk=pk)
    assert (request.status, request.approval_level) == (Status.PENDING, 1)

    # The arrival email: one to each level-1 approver, with the facts and the links.
    manager2 = get_user_model().objects.get(username="manager2")
    (email,) = [m for m in mailoutbox if m.to == [manager2.email] and request.reference in m.subject]
    assert "Harbour Physio (E2E-MAIL-1)" in email.body
    assert "Your authority here: 2,500.00" in email.body
    approve_url = re.search(r"^Approve: (\S+)$", email.body, re.M).group(1)
    html = email.alternatives[0][0]

    phone = people.browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="en-GB"
    )
    people.contexts.append(phone)
    phone.set_default_timeout(UI_TIMEOUT_MS)
    mail = phone.new_page()
    mail.set_content(html)
    screenshot(mail, "17-approver-email.png")

    # The link, on a phone with no session: the confirm page changes nothing until the POST.
    page = phone.new_page()
    parts = urlsplit(approve_url)
    link = people.url(f"{parts.path}?{parts.query}")
    page.goto(link)
    check_page(page)
    expect(page.locator("h1")).to_contain_text(f"{request.reference}: 900.00")
    expect(page.locator("main")).to_contain_text("Your money authority here: 2,500.00")
    expect(page.locator("main")).to_contain_text("Why it was routed this way")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll on a phone"
    expect(page.locator("input[name=decision][value=approve]")).to_be_checked()
    screenshot(page, "18-email-confirm-phone.png")
    request.refresh_from_db()
    assert request.status == Status.PENDING

    page.fill("#id_note", "Our production error; the clinic keeps its trust in us.")
    submit(page, page.get_by_role("button", name="Record decision"))
    expect(page.locator("main .alert-success").first).to_contain_text(f"{request.reference} approved")
    expect(page.locator("[data-link-state=decided-by-you]")).to_contain_text(
        f"{request.reference} was already approved by you at"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "19-email-decided-phone.png")
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (Status.APPROVED, manager2)

    # A second click on the same link.
    again = phone.new_page()
    again.goto(link)
    check_page(again)
    expect(again.locator("main")).to_contain_text(f"{request.reference} was already approved by you at")
    expect(again.get_by_role("button", name="Record decision")).to_have_count(0)

    # The rep's notification.
    rep1.goto("/requests/notifications/")
    check_page(rep1)
    expect(rep1.locator(".list-group-item", has_text=f"{request.reference} was approved by Alex Kim")).to_have_count(1)
    assert people.errors == []
