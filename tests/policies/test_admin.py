"""Django admin for policy admins: who gets in, history on every save, tier limits, constant queries."""

from __future__ import annotations

import html
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.models import ExceptionTier, HistoricalExceptionTier, HistoricalPolicy, Policy
from tests.conftest import make_policy

ADMIN_PAGES = [
    "/admin/",
    "/admin/policies/policy/",
    "/admin/policies/policy/{pk}/change/",
    "/admin/policies/policy/{pk}/history/",
    "/admin/requests/exceptionrequest/",
]


class FormFields(HTMLParser):
    """What a browser would submit from one form: inputs, checked boxes, selected options, text areas."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.fields: dict[str, list[str]] = {}
        self.select: str | None = None
        self.select_first: str | None = None
        self.select_chosen = False
        self.textarea: str | None = None
        self.text = ""

    def add(self, name: str, value: str) -> None:
        if "__prefix__" not in name:  # the inline's empty template row, never submitted
            self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form" and attr.get("id") == self.form_id:
            self.in_form = True
        if not self.in_form or "name" not in attr:
            if tag == "option" and self.select is not None:
                self.handle_option(attr)
            return
        if tag == "input":
            kind = attr.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in attr:
                    self.add(attr["name"], attr.get("value") or "on")
                return
            self.add(attr["name"], attr.get("value", ""))
        elif tag == "select":
            self.select, self.select_first, self.select_chosen = attr["name"], None, False
        elif tag == "textarea":
            self.textarea, self.text = attr["name"], ""

    def handle_option(self, attr: dict[str, str]) -> None:
        if self.select_first is None:
            self.select_first = attr.get("value", "")
        if "selected" in attr:
            self.add(self.select, attr.get("value", ""))
            self.select_chosen = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "select" and self.select is not None:
            if not self.select_chosen and self.select_first is not None:
                self.add(self.select, self.select_first)
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # The HTML spec drops one newline right after <textarea>.
            self.add(self.textarea, self.text.removeprefix("\n"))
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data


def change_form_data(client, policy: Policy) -> dict[str, list[str]]:
    response = client.get(f"/admin/policies/policy/{policy.pk}/change/")
    assert response.status_code == 200
    parser = FormFields("policy_form")
    parser.feed(response.content.decode())
    return parser.fields


def tier_prefix(data: dict[str, list[str]], level: int) -> str:
    total = int(data["tiers-TOTAL_FORMS"][0])
    prefixes = [f"tiers-{i}" for i in range(total) if data[f"tiers-{i}-level"] == [str(level)]]
    assert len(prefixes) == 1
    return prefixes[0]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


# Who gets in


def test_policy_admin_is_staff_but_not_superuser(admin_user):
    assert (admin_user.is_staff, admin_user.is_superuser) == (True, False)


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_policy_admin_can_open_admin_pages(admin_client, policy, url):
    response = admin_client.get(url.format(pk=policy.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_rep_is_sent_to_the_admin_login(client, rep, policy, url):
    client.force_login(rep)
    page = url.format(pk=policy.pk)
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={page}"


def test_policy_changelist_lists_the_policy(admin_client, policy):
    response = admin_client.get("/admin/policies/policy/")
    assert list(response.context["cl"].result_list) == [policy]


def test_change_form_has_all_four_inlines(admin_client, policy):
    data = change_form_data(admin_client, policy)
    totals = {name: values for name, values in data.items() if name.endswith("-TOTAL_FORMS")}
    assert totals == {
        "tiers-TOTAL_FORMS": ["4"],
        "controls-TOTAL_FORMS": ["1"],
        "rep_rights-TOTAL_FORMS": ["0"],
        "approver_levels-TOTAL_FORMS": ["3"],
    }


# Saving through the admin keeps history


def test_policy_admin_edit_records_history_user(admin_client, admin_user, policy):
    data = change_form_data(admin_client, policy)
    data["sla_minutes"] = ["90"]
    before = HistoricalPolicy.objects.filter(id=policy.pk).count()

    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert response.status_code == 302
    assert response["Location"] == "/admin/policies/policy/"
    policy.refresh_from_db()
    assert policy.sla_minutes == 90
    assert HistoricalPolicy.objects.filter(id=policy.pk).count() == before + 1
    latest = HistoricalPolicy.objects.filter(id=policy.pk).latest("history_id")
    assert (latest.history_type, latest.sla_minutes, latest.history_user) == ("~", 90, admin_user)


def test_unchanged_inlines_write_no_tier_history(admin_client, policy):
    # make_policy's "tier 1 " has a trailing space the form strips, which would count as a change.
    for tier in policy.tiers.all():
        ExceptionTier.objects.filter(pk=tier.pk).update(description=tier.description.strip())
    data = change_form_data(admin_client, policy)
    data["sla_minutes"] = ["90"]
    before = HistoricalExceptionTier.objects.filter(policy_id=policy.pk).count()

    admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert HistoricalExceptionTier.objects.filter(policy_id=policy.pk).count() == before


def test_tier_edit_through_the_admin_records_history_user(admin_client, admin_user, policy):
    data = change_form_data(admin_client, policy)
    data[f"{tier_prefix(data, 3)}-money_cap"] = ["1750.00"]

    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert response.status_code == 302
    tier = policy.tiers.get(level=3)
    assert tier.money_cap == Decimal("1750.00")
    latest = tier.history.latest("history_id")
    assert (latest.history_type, latest.money_cap, latest.history_user) == ("~", Decimal("1750.00"), admin_user)


def test_history_page_shows_the_changed_field(admin_client, policy):
    data = change_form_data(admin_client, policy)
    data["sla_minutes"] = ["90"]
    admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    response = admin_client.get(f"/admin/policies/policy/{policy.pk}/history/")

    assert response.status_code == 200
    page = " ".join(html.unescape(response.content.decode()).split())
    assert "Policyadmin" in page  # the history user by full name, as in the portal (issue 16)
    assert "<strong>SLA (minutes):</strong> 120 → 90" in page


# Tier limits may not decrease from tier 1 to tier 3


def test_decreasing_tier_limits_rerender_the_form_and_change_nothing(admin_client, policy):
    data = change_form_data(admin_client, policy)
    data[f"{tier_prefix(data, 3)}-money_cap"] = ["10.00"]
    data["sla_minutes"] = ["90"]
    policy_history = HistoricalPolicy.objects.count()
    tier_history = HistoricalExceptionTier.objects.count()
    tiers_before = list(ExceptionTier.objects.values_list("level", "kind", "money_cap").order_by("pk"))

    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Please correct the errors below." in page
    assert (
        "Tier 3's money cap (10.00) is below Tier 1's (50.00): limits may not decrease from tier 1 to tier 3." in page
    )
    policy.refresh_from_db()
    assert policy.sla_minutes == 120
    assert list(ExceptionTier.objects.values_list("level", "kind", "money_cap").order_by("pk")) == tiers_before
    assert HistoricalPolicy.objects.count() == policy_history
    assert HistoricalExceptionTier.objects.count() == tier_history


def test_deleted_tier_is_left_out_of_the_limit_check(admin_client, policy):
    data = change_form_data(admin_client, policy)
    prefix = tier_prefix(data, 3)
    data[f"{prefix}-money_cap"] = ["10.00"]
    data[f"{prefix}-DELETE"] = ["on"]

    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert response.status_code == 302
    assert sorted(policy.tiers.values_list("level", flat=True)) == [1, 2, 2]


# The stand-alone tier admin


def tier_form_data(client, url: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    parser = FormFields("exceptiontier_form")
    parser.feed(response.content.decode())
    return parser.fields


def test_standalone_tier_admin_refuses_decreasing_limits(admin_client, policy):
    tier = policy.tiers.get(level=3)
    url = f"/admin/policies/exceptiontier/{tier.pk}/change/"
    data = tier_form_data(admin_client, url)
    data["money_cap"] = ["10.00"]

    response = admin_client.post(url, data)

    tier.refresh_from_db()
    assert (response.status_code, tier.money_cap) == (200, Decimal("1500.00"))


def test_standalone_tier_add_page_lets_the_admin_choose_the_policy(admin_client, policy):
    data = tier_form_data(admin_client, "/admin/policies/exceptiontier/add/")
    assert "policy" in data


# Constant queries


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/policies/policy/")
    assert response.status_code == 200
    return len(queries)


def test_policy_changelist_runs_constant_queries(admin_client, policy, problem_type, manager_low):
    one = changelist_queries(admin_client)
    for number in range(19):
        make_policy(problem_type, name=f"Policy {number:02d}", owner=manager_low)

    twenty = changelist_queries(admin_client)

    assert Policy.objects.count() == 20
    assert twenty == one


# Requests are read-only in the admin


def test_policy_admin_cannot_add_an_exception_request(admin_client):
    response = admin_client.get("/admin/requests/exceptionrequest/add/")
    assert response.status_code == 403


def test_policy_admin_cannot_post_a_new_exception_request(admin_client, policy):
    response = admin_client.post("/admin/requests/exceptionrequest/add/", {"policy": policy.pk})
    assert response.status_code == 403
