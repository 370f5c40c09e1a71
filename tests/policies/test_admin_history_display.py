"""Admin history reads like the portal's request history (issue 16).

django-simple-history's own list showed an empty user field as "Deleted user (pk=None)", a
choice as its code, a time as ``str(datetime)`` (UTC, microseconds) and the history user by
username or "None". Every history admin now shows values through the portal's
``history_value`` / ``history_user_name`` (exceptions_portal.history).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from requests.models import ExceptionRequest
from requests.services import exception_request_decide, exception_request_file
from tests.conftest import facts
from tests.portal.test_audit_trail import HISTORY_MODELS, calendar, delegation  # noqa: F401  (fixtures)

PORTAL_TIME = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}$")
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{6}")
ZONE = "America/New_York"  # far from UTC all year, so a time left in UTC shows


class _Table(HTMLParser):
    """The rows of one table (by id) as lists of whitespace-normalised cell texts."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    parser = _Table(table_id)
    parser.feed(html)
    return [row for row in parser.rows if row]


def history_rows(client, instance) -> list[dict[str, str]]:
    opts = instance._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[instance.pk]))
    assert response.status_code == 200
    header, *rows = table(response.content.decode(), "change-history")
    return [dict(zip(header, row, strict=True)) for row in rows]


def version_page(client, instance, history_id) -> str:
    opts = instance._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[instance.pk, history_id])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(params=["policy_admin", "superuser"])
def viewer(request, client, admin_user, django_user_model):
    if request.param == "superuser":
        user = django_user_model.objects.create_superuser("root", "root@example.com", "pw", first_name="Root")
    else:
        user = admin_user
    client.force_login(user)
    return client


@pytest.fixture
def decided(rep, policy, manager_high, settings):
    settings.TIME_ZONE = ZONE
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    exception_request_decide(request_id=filed.pk, approver=manager_high, approve=False, note="No", alternative="Credit")
    # A change made outside any signed-in request (a shell, a data fix): the history has no user.
    decided = ExceptionRequest.objects.get(pk=filed.pk)
    decided.decided_at = datetime(2026, 7, 1, 14, 5, 6, 123456, tzinfo=ZoneInfo("UTC"))
    decided.save()
    return decided


def test_request_history_list_shows_names_labels_and_portal_times(viewer, decided):
    newest, decision, filing = history_rows(viewer, decided)

    changes = decision["Changes"]
    assert "Deleted user" not in changes and "pk=None" not in changes
    assert "Decided by: — → Manager_High" in changes
    assert "Status: Pending approval → Denied" in changes
    assert decision["Changed by"] == "Manager_High"
    assert filing["Changed by"] == "Rep"

    # The row with no history user: neither "None" nor "Deleted user"; the time in TIME_ZONE, no microseconds.
    assert newest["Changed by"] == "—"
    assert "Decided at:" in newest["Changes"]
    assert "→ 01 Jul 2026, 10:05" in newest["Changes"]  # 14:05 UTC is 10:05 in New York (EDT)
    for row in (newest, decision, filing):
        assert PORTAL_TIME.match(row["Date/time"]), row["Date/time"]
        assert not MICROSECONDS.search(row["Changes"]), row["Changes"]
        assert "+00:00" not in row["Changes"]
    recorded = decided.history.order_by("-history_id").first().history_date
    assert newest["Date/time"] == f"{timezone.localtime(recorded, ZoneInfo(ZONE)):%-d %b %Y, %H:%M}"


def test_request_version_page_shows_names_labels_and_portal_times(viewer, decided):
    newest, decision = decided.history.order_by("-history_id")[:2]

    rows = dict(table(version_page(viewer, decided, decision.history_id), "audit-version"))
    assert rows["Status"] == "Denied"
    assert rows["Decided by"] == "Manager_High"
    assert rows["Filed by"] == "Rep"
    assert rows["Claimed by"] == "—"

    page = version_page(viewer, decided, newest.history_id)
    rows = dict(table(page, "audit-version"))
    assert rows["Decided at"] == "01 Jul 2026, 10:05"
    assert "Deleted user" not in page and "pk=None" not in page
    # The routing explanation is stored facts (JSON, its deadline an ISO string), outside this issue.
    explanation = str(ExceptionRequest._meta.get_field("routing_reasons").verbose_name).capitalize()
    for label, value in rows.items():
        assert label == explanation or not MICROSECONDS.search(value), (label, value)


@pytest.mark.parametrize("model", list(HISTORY_MODELS), ids=lambda m: m.__name__)
def test_every_history_list_shows_portal_times_and_names(model, request, viewer):
    build, *_ = HISTORY_MODELS[model]
    fixtures = {
        name: request.getfixturevalue(name)
        for name in ("rep", "rep_with_right", "policy", "manager_low", "manager_high", "calendar", "delegation")
    }
    instance = build(**fixtures)
    records = list(instance.history.select_related("history_user"))
    names = {record.history_user.get_full_name() for record in records if record.history_user} | {"—"}

    rows = history_rows(viewer, instance)

    assert len(rows) == len(records)
    for row in rows:
        assert PORTAL_TIME.match(row["Date/time"]), row["Date/time"]
        assert row["Changed by"] in names, row["Changed by"]
        assert "Deleted " not in row["Changes"] and not MICROSECONDS.search(row["Changes"])
