"""The audit trail is append-only from every interface, Django admin included (issue 11, defect 8).

django-simple-history's history form view saved any POST (upstream #1362). Every model admin with
history is an AppendOnlyHistoryAdmin: a version is shown read-only, a POST is refused and changes
nothing, for each model in HISTORY_MODELS below (a model registered with history and missing here
fails test_every_history_admin_is_append_only).
"""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from exceptions_portal import roles
from exceptions_portal.audit_admin import AppendOnlyHistoryAdmin
from policies.models import (
    ApproverLevel,
    BusinessCalendar,
    Control,
    ExceptionTier,
    Holiday,
    Policy,
    ProblemType,
    RepRight,
)
from requests.models import Customer, Delegation, ExceptionRequest, Status
from requests.services import exception_request_decide, exception_request_file
from tests.admin_forms import full_post
from tests.conftest import facts


def _decided_request(rep, policy, manager_high, **_):
    filed = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")))
    return exception_request_decide(
        request_id=filed.pk, approver=manager_high, approve=False, note="No", alternative="Credit"
    )


# model: (how to get an instance, the field a forger changes, its forged value)
HISTORY_MODELS = {
    Policy: (lambda policy, **_: policy, "name", "Renamed by history"),
    ProblemType: (lambda policy, **_: policy.problem_type, "name", "Forged"),
    ExceptionTier: (lambda policy, **_: policy.tiers.get(level=1), "description", "Forged"),
    Control: (lambda policy, **_: policy.controls.get(), "name", "Forged"),
    RepRight: (lambda policy, rep_with_right, **_: RepRight.objects.get(user=rep_with_right), "user", "outsider"),
    ApproverLevel: (
        lambda policy, manager_low, **_: ApproverLevel.objects.get(policy=policy, user=manager_low),
        "money_authority",
        "99999.00",
    ),
    BusinessCalendar: (lambda calendar, **_: calendar, "name", "Forged"),
    Holiday: (lambda calendar, **_: calendar.holidays.get(), "name", "Forged"),
    ExceptionRequest: (_decided_request, "status", Status.APPROVED),
    Customer: (lambda rep, policy, **kw: _decided_request(rep=rep, policy=policy, **kw).customer, "name", "Forged"),
    Delegation: (lambda delegation, **_: delegation, "ends_on", "9999-12-31"),
}


@pytest.fixture
def calendar(db):
    calendar = BusinessCalendar.objects.create(
        name="London", working_days=[1, 2, 3, 4, 5], opens_at=time(9), closes_at=time(17)
    )
    Holiday.objects.create(calendar=calendar, date=date(2026, 12, 25), name="Christmas")
    return calendar


@pytest.fixture
def delegation(manager_high, director):
    today = timezone.localdate()
    return Delegation.objects.create(
        approver=director, delegate=manager_high, starts_on=today, ends_on=today + timedelta(days=3)
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def history_url(instance, history_id) -> str:
    opts = instance._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[instance.pk, history_id])


@pytest.mark.parametrize("model", list(HISTORY_MODELS), ids=lambda m: m.__name__)
def test_posting_a_history_version_is_refused_and_changes_nothing(
    model, request, admin_client, admin_user, outsider, **_
):
    build, field, forged = HISTORY_MODELS[model]
    fixtures = {
        name: request.getfixturevalue(name)
        for name in ("rep", "rep_with_right", "policy", "manager_low", "manager_high", "calendar", "delegation")
    }
    instance = build(**fixtures)
    if field == "user":
        forged = str(outsider.pk)
    version = instance.history.order_by("-history_id").first()
    before = model_to_dict(model.objects.get(pk=instance.pk))
    rows_before = instance.history.count()

    response = admin_client.post(
        history_url(instance, version.history_id), full_post(instance, admin_user, field, forged)
    )

    assert response.status_code == 405
    assert "append-only" in response.content.decode()
    assert model_to_dict(model.objects.get(pk=instance.pk)) == before
    assert instance.history.count() == rows_before


@pytest.mark.parametrize("model", list(HISTORY_MODELS), ids=lambda m: m.__name__)
def test_a_history_version_is_shown_read_only(model, request, admin_client):
    build, field, _ = HISTORY_MODELS[model]
    fixtures = {
        name: request.getfixturevalue(name)
        for name in ("rep", "rep_with_right", "policy", "manager_low", "manager_high", "calendar", "delegation")
    }
    instance = build(**fixtures)
    version = instance.history.order_by("-history_id").first()
    response = admin_client.get(history_url(instance, version.history_id))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-audit="read-only"' in page
    assert f'name="{field}"' not in page and "_change_history" not in page


def test_every_history_admin_is_append_only():
    with_history = {
        model
        for model, model_admin in admin.site._registry.items()
        if getattr(model._meta, "simple_history_manager_attribute", None)
    }
    assert with_history == set(HISTORY_MODELS)
    for model in with_history:
        assert isinstance(admin.site._registry[model], AppendOnlyHistoryAdmin), model.__name__
    assert not any(model.__name__.startswith("Historical") for model in admin.site._registry)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/requests/exceptionrequest/abc/history/",
        "/admin/requests/exceptionrequest/abc/history/1/",
        "/admin/requests/exceptionrequest/{pk}/history/abc/",
        "/admin/requests/exceptionrequest/{pk}/history/999999/",
        "/admin/policies/policy/abc/history/",
        "/admin/policies/policy/{policy}/history/x1/",
    ],
)
def test_ids_that_are_not_numbers_are_not_found(admin_client, rep, policy, manager_high, path):
    decided = _decided_request(rep=rep, policy=policy, manager_high=manager_high)
    response = admin_client.get(path.format(pk=decided.pk, policy=policy.pk))
    assert response.status_code == 404


def test_no_role_may_change_or_delete_history_rows():
    for group, permissions in roles.GROUP_PERMISSIONS.items():
        for _app, codename in permissions:
            assert not codename.startswith(("add_historical", "change_historical", "delete_historical")), (
                group,
                codename,
            )


def test_a_decided_request_cannot_be_changed_in_admin(admin_client, rep, policy, manager_high):
    decided = _decided_request(rep=rep, policy=policy, manager_high=manager_high)
    opts = ExceptionRequest._meta
    change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[decided.pk])
    response = admin_client.post(change, {"status": "approved", "amount": "1"})
    assert response.status_code == 403
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert 'name="action"' not in changelist.content.decode()  # no bulk action
    model_admin = admin.site._registry[ExceptionRequest]
    assert not model_admin.list_editable and not model_admin.inlines
    decided.refresh_from_db()
    assert (decided.status, decided.amount) == (Status.DENIED, Decimal("300.00"))
