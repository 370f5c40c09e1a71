"""Regression tests for 500s found in the security review: each input now gets a clear message
and changes nothing. (The walk over every URL with hostile values is tests/portal/test_walk_urls.py.)"""

from __future__ import annotations

import html

import pytest
from django.db import connection
from django.urls import reverse

from policies.models import ApproverLevel, BusinessCalendar, RepRight
from requests.models import ExceptionRequest
from tests.conftest import form_data
from tests.policies.test_admin import change_form_data

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # past SQLite's and PostgreSQL's 64-bit integers


@pytest.mark.parametrize("method", ["get", "post"])
def test_preview_with_a_huge_control_id_says_it_is_not_a_choice(client, rep, policy, method):
    client.force_login(rep)
    data = form_data(policy, waived_controls=HUGE)
    response = getattr(client, method)(reverse("requests:preview"), data)
    assert response.status_code == 200
    assert "To check: the controls to waive must be picked from the policy&#x27;s list." in response.text


@pytest.mark.parametrize(
    ("field", "message"),
    [("waived_controls", f"“{HUGE}” is not a valid value."), ("policy", "Select a valid choice.")],
)
def test_filing_with_a_huge_id_shows_a_form_error_and_saves_nothing(client, rep, policy, field, message):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, **{field: HUGE}))
    assert response.status_code == 200
    assert message in html.unescape(response.text)
    assert ExceptionRequest.objects.count() == 0


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def add_inline_row(data: dict, prefix: str, **values: str) -> None:
    total = int(data[f"{prefix}-TOTAL_FORMS"][0])
    for name, value in values.items():
        data[f"{prefix}-{total}-{name}"] = [value]
    data[f"{prefix}-{total}-policy"] = data.get(f"{prefix}-0-policy", [""])
    data[f"{prefix}-TOTAL_FORMS"] = [str(total + 1)]


def test_a_duplicate_approver_row_in_the_admin_is_a_validation_error(admin_client, policy, manager_low):
    data = change_form_data(admin_client, policy)
    add_inline_row(data, "approver_levels", level="1", user=str(manager_low.pk), money_authority="10")
    rows = ApproverLevel.objects.count()

    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Please correct the error" in page
    assert "Manager_Low is listed twice at level 1" in page
    assert ApproverLevel.objects.count() == rows


def test_two_new_identical_rep_rights_in_the_admin_are_a_validation_error(admin_client, policy, rep):
    data = change_form_data(admin_client, policy)
    add_inline_row(data, "rep_rights", user=str(rep.pk))
    add_inline_row(data, "rep_rights", user=str(rep.pk))

    response = admin_client.post(f"/admin/policies/policy/{policy.pk}/change/", data)

    assert response.status_code == 200
    assert "Rep has this right twice" in html.unescape(response.content.decode())
    assert RepRight.objects.count() == 0


@pytest.mark.parametrize(
    ("opens_at", "closes_at", "message"),
    [("9am", "17:00", "Enter a valid time."), ("09:00", "", "This field is required.")],
)
def test_business_calendar_with_a_bad_time_is_a_form_error(admin_client, opens_at, closes_at, message):
    data = {
        "name": "Office",
        "time_zone": "Europe/London",
        "working_days": ["1", "2"],
        "opens_at": opens_at,
        "closes_at": closes_at,
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/policies/businesscalendar/add/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert BusinessCalendar.objects.count() == 0


def test_a_nul_character_in_a_query_is_a_clear_400(admin_client):
    response = admin_client.get("/admin/requests/exceptionrequest/?status=%00")
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    # On both engines; PostgreSQL refused the query itself (DataError) before.
    assert connection.vendor in ("sqlite", "postgresql")


def test_a_nul_character_in_a_form_field_is_a_clear_400(client, rep, policy):
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy, customer_name="A\x00B"))
    assert response.status_code == 400
    assert ExceptionRequest.objects.count() == 0


@pytest.mark.parametrize("page", ["change", "delete"])
def test_an_empty_to_field_in_admin_is_a_clear_400(admin_client, policy, page):
    # Django's admin took it for a field named "" (FieldDoesNotExist).
    response = admin_client.get(f"/admin/policies/problemtype/{policy.problem_type_id}/{page}/?_to_field=")
    assert response.status_code == 400
    assert "_to_field parameter is empty" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    ["/admin/policies/exceptiontier/?policy=" + HUGE, "/admin/requests/exceptionrequest/?filed_at__year=" + HUGE],
)
def test_an_unreadable_admin_list_filter_gets_the_admins_own_error_page(admin_client, policy, query):
    response = admin_client.get(query)
    if response.status_code == 200:
        # PostgreSQL compares the id as a number and finds nothing; SQLite cannot hold it.
        assert "policy=" in query and connection.vendor == "postgresql"
        assert "0 exception tiers" in response.content.decode()
    else:
        assert response.status_code == 302
        assert response["Location"].endswith("?e=1")


def test_the_safe_admin_lists_cover_third_party_admins_too():
    from django.contrib import admin
    from django.contrib.auth.models import Group

    from exceptions_portal.admin_safety import SafeChangeListMixin

    assert isinstance(admin.site._registry[Group], SafeChangeListMixin)
    assert all(isinstance(model_admin, SafeChangeListMixin) for model_admin in admin.site._registry.values())
