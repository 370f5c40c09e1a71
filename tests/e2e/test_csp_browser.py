"""The Content-Security-Policy holds in a real browser: every page each role sees (the htmx
routing preview, the analysis charts, the admin with its inlines and widgets) works with no CSP
violation, and the live preview sends only the routing fields, by POST, never in the URL.

Violations are caught twice: the browser's ``securitypolicyviolation`` event (an init script
records it before any page script runs) and the console's "Refused to ..." errors;
JavaScript errors and 5xx responses fail the test too (``People.errors``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from policies.management.commands.seed_demo import DEMO_PASSWORD
from policies.models import BusinessCalendar, Policy
from requests.forms import PreviewForm
from requests.models import ExceptionRequest, Status
from tests.e2e.test_e2e import (  # noqa: F401  (chromium_browser and portal are fixtures)
    People,
    check_page,
    chromium_browser,
    fill_request,
    portal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${where}`);
});
"""


class WatchedPeople(People):
    """People whose every page records CSP violations, from the event and from the console.
    (Other console errors are not CSP's: htmx logs the previews it aborts, as hx-sync asks.)"""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.console: list[str] = []
        self.pages: list[Page] = []

    def new_page(self, *, time_zone: str = "Europe/London") -> Page:
        page = super().new_page(time_zone=time_zone)
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.on(
            "console",
            lambda message: (
                self.console.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text or "Refused to" in message.text
                else None
            ),
        )
        self.pages.append(page)
        return page

    def login(self, username: str, *, time_zone: str = "Europe/London") -> Page:
        page = self.new_page(time_zone=time_zone)
        page.goto("/login/")
        visit_checks(self, page)
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        return page


@pytest.fixture
def watched(chromium_browser, live_server):  # noqa: F811
    crowd = WatchedPeople(chromium_browser, live_server.url)
    try:
        yield crowd
    finally:
        crowd.close()


VISITED: list[str] = []


def visit_checks(people: WatchedPeople, page: Page) -> None:
    page.wait_for_load_state("load")
    violations = page.evaluate("window.__cspViolations || []")
    assert not violations, f"{page.url}: CSP violations {violations}"
    VISITED.append(urlsplit(page.url).path)


def visit(people: WatchedPeople, page: Page, path: str, *, admin: bool = False) -> None:
    response = page.goto(path)
    assert response is not None and response.status < 400, f"{path}: {response and response.status}"
    header = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in header and "frame-ancestors 'none'" in header, f"{path}: {header!r}"
    visit_checks(people, page)
    # Then the accessibility checks: axe-core is injected by the test, with styles of its own that the
    # portal's CSP refuses as it should; what it provokes is not the portal's, so it is forgotten.
    console_before = len(people.console)
    check_page(page, admin=admin)
    page.evaluate("window.__cspViolations = []")
    del people.console[console_before:]


def test_every_page_works_under_the_csp_with_no_violation(portal, watched):  # noqa: F811
    people = watched
    User = get_user_model()
    User.objects.create_superuser("root", "root@example.com", DEMO_PASSWORD)
    late_fee = portal["Late fee"]

    # Anonymous: both login pages.
    anonymous = people.new_page()
    visit(people, anonymous, "/login/")
    visit(people, anonymous, "/admin/login/", admin=True)

    # A rep: the form with its live preview (htmx), filing, their requests, a request, notifications.
    rep1 = people.login("rep1")
    preview_requests = []
    rep1.on("request", lambda req: preview_requests.append(req) if "/requests/new/preview/" in req.url else None)
    visit(people, rep1, "/requests/new/")
    fill_request(
        rep1,
        customer_ref="CSP-1",
        customer_name="Secret Customer Name",
        policy=late_fee,
        sentiment="neutral",
        cause="beyond_control",
        amount="10",
        situation="A very private situation text",
        resolution="Waive the fee please",
    )
    expect(rep1.locator("#routing-preview [data-outcome]")).to_have_attribute("data-outcome", "granted")
    visit_checks(people, rep1)
    assert preview_requests, "the preview never asked the server"
    for request in preview_requests:
        assert request.method == "POST", request.url
        assert urlsplit(request.url).query == "", f"the preview URL carries data: {request.url}"
        sent = parse_qs(request.post_data or "")
        assert set(sent) <= set(PreviewForm.ROUTING_FIELDS), f"the preview sent {sorted(sent)}"
        body = request.post_data or ""
        for secret in ("private situation", "Secret Customer", "Waive the fee", "csrfmiddlewaretoken"):
            assert secret.replace(" ", "+") not in body and secret not in body, body
    rep1.get_by_role("button", name="File request").click()
    rep1.wait_for_url(re.compile(r"/requests/\d+/$"))
    visit_checks(people, rep1)
    for path in ("/requests/mine/", "/requests/notifications/"):
        visit(people, rep1, path)

    # An approver: the queue, a pending request with its decision form, out of office, the analysis charts.
    manager = people.login("manager1")
    visit(people, manager, "/requests/queue/")
    first_in_queue = manager.locator("main table a[href^='/requests/']").first
    first_in_queue.click()
    manager.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(manager.locator("input[name=decision]").first).to_be_visible()
    visit_checks(people, manager)
    visit(people, manager, "/requests/queue/?overdue=on")
    visit(people, manager, "/requests/out-of-office/")
    visit(people, manager, "/policies/analysis/")
    assert manager.locator("figure.chart svg").count() >= 2
    for path in ("/requests/notifications/",):
        visit(people, manager, path)
    assert ExceptionRequest.objects.filter(status=Status.PENDING).exists()

    # The policy admin in Django admin: lists, a policy with its inlines, history, a calendar form.
    admin = people.login("admin")
    calendar = BusinessCalendar.objects.first()
    admin_paths = [
        "/admin/",
        "/admin/policies/policy/",
        f"/admin/policies/policy/{late_fee.pk}/change/",
        f"/admin/policies/policy/{late_fee.pk}/history/",
        "/admin/policies/policy/add/",
        "/admin/requests/exceptionrequest/",
        f"/admin/requests/exceptionrequest/?status={Status.PENDING}",
        "/admin/policies/businesscalendar/add/",
    ]
    if calendar is not None:
        admin_paths.append(f"/admin/policies/businesscalendar/{calendar.pk}/change/")
    for path in admin_paths:
        visit(people, admin, path, admin=True)
    # The inline "Add another" button (admin JavaScript) still works.
    admin.goto(f"/admin/policies/policy/{late_fee.pk}/change/")
    admin.locator(".add-row a").first.click()
    visit_checks(people, admin)
    visit(people, admin, "/policies/analysis/")

    # A superuser: user admin (its password widgets) and the login lockouts.
    root = people.login("root")
    for path in ("/admin/auth/user/add/", "/admin/axes/accessattempt/", "/admin/auth/group/"):
        visit(people, root, path, admin=True)

    assert not people.console, "\n".join(people.console)
    assert not people.errors, people.errors
    assert Policy.objects.exists()
