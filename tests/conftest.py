"""The named users, the policy and the pending request every test shares.

rep (no tier-2 right), rep_with_right (tier-2 right on the policy), manager_low
and manager_high (level 1, authority 250 and 2,500), director (level 2), admin
(policy admin) and outsider (no role).
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from exceptions_portal import roles
from policies.models import ApproverLevel, Control, ExceptionTier, Policy, ProblemType, RepRight
from requests.models import ExceptionRequest
from requests.services import FilingFacts, exception_request_file
from tests.support import FILED

IN_CI = os.environ.get("CI", "").lower() == "true"
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


def pytest_collection_modifyitems(config, items):
    """A test marked engine_independent runs on the SQLite leg only: it must not touch the database."""
    wrong = [
        item.nodeid
        for item in items
        if item.get_closest_marker("engine_independent")
        and (item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
    ]
    if wrong:
        raise pytest.UsageError(f"marked engine_independent but using the database: {wrong[:5]}")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing costs ~0.3 s a user; the tests create a dozen users each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def attachment_storage(settings, tmp_path):
    """Attachments go to the test's own folder, never to VAR_DIR."""
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments")},
        },
    }
    return tmp_path / "attachments"


def make_user(username: str, group: str | None = None, **extra):
    user = get_user_model().objects.create_user(
        username=username, password="pw", email=f"{username}@example.com", first_name=username.title(), **extra
    )
    if group:
        # A transactional test flushes the tables, and with them the groups of the data migration.
        roles.ensure_groups(group_model=Group, permission_model=Permission)
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def rep(db):
    return make_user("rep", roles.REPS)


@pytest.fixture
def rep_with_right(db, policy):
    user = make_user("rightful", roles.REPS)
    RepRight.objects.create(policy=policy, user=user)
    return user


@pytest.fixture
def manager_low(db):
    return make_user("manager_low", roles.APPROVERS)


@pytest.fixture
def manager_high(db):
    return make_user("manager_high", roles.APPROVERS)


@pytest.fixture
def director(db):
    return make_user("director", roles.APPROVERS)


@pytest.fixture
def admin_user(db):
    return make_user("policyadmin", roles.POLICY_ADMINS, is_staff=True)


@pytest.fixture
def outsider(db):
    return make_user("outsider")


@pytest.fixture
def problem_type(db):
    return ProblemType.objects.create(name="Returns", slug="returns")


def make_policy(problem_type: ProblemType, name: str = "Return window", **overrides) -> Policy:
    """A policy with tiers 1, 2 (reward and save) and 3, one control."""
    fields = {
        "slug": name.lower().replace(" ", "-"),
        "statement": "Items can be returned within 30 days.",
        "rationale": "Returned items must be resold as new",
        "sla_minutes": 120,
    }
    fields.update(overrides)
    policy = Policy.objects.create(name=name, problem_type=problem_type, **fields)
    tiers = [
        (1, "", ["amazed", "happy", "neutral", "unhappy", "deeply_unhappy"], "50.00", 5, 0),
        (2, "reward", ["amazed", "happy"], "250.00", 15, 0),
        (2, "save", ["neutral", "unhappy"], "250.00", 15, 1),
        (3, "", ["unhappy", "deeply_unhappy"], "1500.00", 60, 1),
    ]
    for level, kind, sentiments, cap, days, supplier in tiers:
        ExceptionTier.objects.create(
            policy=policy,
            level=level,
            kind=kind,
            description=f"tier {level} {kind}",
            sentiments=sentiments,
            money_cap=Decimal(cap),
            max_business_days=days,
            supplier_exceptions_allowed=supplier,
        )
    Control.objects.create(policy=policy, name="Serial numbers", why="Every device is documented by serial number")
    return policy


@pytest.fixture
def policy(db, problem_type, manager_low, manager_high, director, admin_user):
    policy = make_policy(problem_type, owner=admin_user)
    ApproverLevel.objects.create(policy=policy, level=1, user=manager_low, money_authority=Decimal("250"))
    ApproverLevel.objects.create(policy=policy, level=1, user=manager_high, money_authority=Decimal("2500"))
    ApproverLevel.objects.create(policy=policy, level=2, user=director, money_authority=Decimal("50000"))
    return policy


def facts(policy: Policy, /, **overrides) -> FilingFacts:
    values = {
        "customer_ref": "C-1",
        "customer_name": "Maya Brooks",
        "policy_id": policy.pk,
        "sentiment": "unhappy",
        "cause": "our_mistake",
        "situation": "Returned 40 days after delivery.",
        "resolution_requested": "Full refund",
        "amount": Decimal("20.00"),
        "business_days": 0,
        "supplier_exception": False,
        "alternative_offered": "Store credit",
        "corrective_action": "Fix shipping emails",
    }
    values.update(overrides)
    return FilingFacts(**values)


@pytest.fixture
def pending(rep, policy) -> ExceptionRequest:
    """A tier-3 request of 300.00 filed at FILED, pending at level 1 (manager_low: 250, manager_high: 2,500)."""
    return exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=FILED)


def form_data(policy: Policy, /, **overrides) -> dict:
    """POST data for the filing form."""
    data = {
        "customer_ref": "C-1",
        "customer_name": "Maya Brooks",
        "policy": str(policy.pk),
        "sentiment": "unhappy",
        "cause": "our_mistake",
        "situation": "Returned 40 days after delivery.",
        "resolution_requested": "Full refund",
        "amount": "20.00",
        "business_days": "0",
        "alternative_offered": "Store credit",
        "corrective_action": "Fix shipping emails",
    }
    data.update(overrides)
    return data
