"""Demo data: realistic policies, their tiers and approvers, demo users and a few requests.

The data is in ``policies/management/demo_data.py``. Requests are filed, decided, escalated, asked about and
their customer messages sent through the same services the portal uses, so that the demo's history reads
like real use. Idempotent: it only creates what is missing, so a second run writes nothing (not even a
history row).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify

from policies.insights.review import review_sweep
from policies.management import demo_data
from policies.management.demo_data import DEMO_PASSWORD, USERS, DemoRequest
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
from requests.escalation import sla_sweep
from requests.models import DECIDED_STATUSES, Customer, ExceptionRequest, Notification, Status
from requests.services import (
    ExceptionRequestError,
    FilingFacts,
    customer_message_save,
    exception_request_ask,
    exception_request_decide,
    exception_request_file,
)

__all__ = ["DEMO_PASSWORD", "USERS", "Command"]

# The history rows of the demo's rulebook say who wrote it and why.
SEEDED = "Demo data (seed_demo)"


class Command(BaseCommand):
    help = "Create the demo users, policies, tiers, approvers and a few requests (only what is missing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--i-know-this-is-not-production",
            action="store_true",
            dest="not_production",
            help="Seed although DEBUG is off (a staging copy, a test database).",
        )

    def handle(self, *args, **options) -> None:
        # The demo logins, a staff "admin" among them, share one published password.
        if not settings.DEBUG and not options["not_production"]:
            raise CommandError(
                "seed_demo creates demo logins (a staff admin among them) with the published demo password, "
                "so it runs only with DEBUG=true. On a database that is not production, add "
                "--i-know-this-is-not-production."
            )
        with transaction.atomic():
            created = seed()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} records created)."))


def seed() -> int:
    """Create what is missing; the number of records created."""
    users, created = _seed_users()
    created += _seed_rulebook(users)
    return created + _seed_requests(users)


def _get_or_create(model: type[models.Model], *, author: AbstractBaseUser, defaults: dict | None = None, **lookup: Any):
    """``get_or_create`` whose creation history row names the policy admin and the reason."""
    found = model._default_manager.filter(**lookup).first()
    if found is not None:
        return found, False
    record = model(**lookup, **(defaults or {}))
    record._history_user = author
    record._change_reason = SEEDED
    record.save()
    return record, True


def _seed_users() -> tuple[dict[str, AbstractBaseUser], int]:
    User = get_user_model()
    users, created = {}, 0
    for demo in USERS:
        user, made = User.objects.get_or_create(
            username=demo.username,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "email": f"{demo.username}@example.com",
                "is_staff": demo.is_staff,
            },
        )
        if made:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=demo.group))
            created += 1
        users[demo.username] = user
    return users, created


def _seed_rulebook(users: dict[str, AbstractBaseUser]) -> int:
    admin = users[demo_data.POLICY_ADMIN]
    calendar, created = _get_or_create(
        BusinessCalendar, author=admin, name=demo_data.CALENDAR_NAME, defaults=demo_data.CALENDAR
    )
    for holiday in demo_data.HOLIDAYS:
        created += _get_or_create(
            Holiday, author=admin, calendar=calendar, date=holiday.date, defaults={"name": holiday.name}
        )[1]
    problem_types = {}
    for name in demo_data.PROBLEM_TYPES:
        problem_types[name], made = _get_or_create(
            ProblemType, author=admin, name=name, defaults={"slug": slugify(name)}
        )
        created += made

    for demo in demo_data.POLICIES:
        policy, made = _get_or_create(
            Policy,
            author=admin,
            name=demo.name,
            defaults={
                "slug": slugify(demo.name),
                "problem_type": problem_types[demo.problem_type],
                "statement": demo.statement,
                "rationale": demo.rationale,
                "owner": admin,
                "calendar": calendar if demo.name == demo_data.CALENDAR_POLICY else None,
            },
        )
        created += made
        for control in demo.controls:
            created += _get_or_create(
                Control, author=admin, policy=policy, name=control.name, defaults={"why": control.why}
            )[1]
        for tier in demo.tiers:
            created += _get_or_create(
                ExceptionTier,
                author=admin,
                policy=policy,
                level=tier.level,
                kind=tier.kind,
                defaults={
                    "description": tier.description,
                    "sentiments": tier.sentiments,
                    "money_cap": Decimal(tier.money_cap),
                    "max_business_days": tier.max_business_days,
                    "supplier_exceptions_allowed": tier.supplier_exceptions_allowed,
                },
            )[1]
        for approver in demo_data.APPROVERS:
            created += _get_or_create(
                ApproverLevel,
                author=admin,
                policy=policy,
                level=approver.level,
                user=users[approver.username],
                defaults={"money_authority": Decimal(approver.money_authority)},
            )[1]
        if demo.rep2_has_tier_2_right:
            created += _get_or_create(RepRight, author=admin, policy=policy, user=users["rep2"])[1]
    return created


def _seed_requests(users: dict[str, AbstractBaseUser]) -> int:
    """Past requests for the analysis, and something for every role to do on first login."""
    if Customer.objects.filter(external_ref__startswith="DEMO-").exists():
        return 0
    policies = {p.name: p.pk for p in Policy.objects.all()}
    count = _seed_history(users, policies)
    for demo in demo_data.TODAY:
        _file(demo, users, policies)
    return count + len(demo_data.TODAY) + _seed_live_work(users, policies)


def _file(
    demo: DemoRequest, users: dict[str, AbstractBaseUser], policies: dict[str, int], *, now: datetime | None = None
) -> ExceptionRequest:
    return exception_request_file(
        rep=users[demo.rep],
        facts=FilingFacts(
            customer_ref=demo.customer_ref,
            customer_name=demo.customer_name,
            policy_id=policies[demo.policy],
            sentiment=demo.sentiment,
            cause=demo.cause,
            situation=demo.situation,
            resolution_requested=demo.resolution_requested,
            amount=Decimal(demo.amount),
            business_days=demo.business_days,
            supplier_exception=False,
            alternative_offered=demo.alternative_offered,
            corrective_action=demo.corrective_action,
        ),
        now=now,
    )


def _seed_history(users: dict[str, AbstractBaseUser], policies: dict[str, int]) -> int:
    """Past requests filed, decided and sometimes escalated, and their customer messages sent."""
    now = timezone.now()
    filed = []
    for row in _history_rows(random.Random(demo_data.HISTORY_SEED), now):
        try:
            request = _file(row.request, users, policies, now=row.filed)
        except ExceptionRequestError:
            continue
        filed.append(request)
        if request.status != Status.PENDING:
            continue
        decided_at = row.filed + timedelta(minutes=row.decide_after)
        if row.breach:
            sla_sweep(now=row.filed + timedelta(minutes=125))
            decided_at += timedelta(minutes=125)
        request.refresh_from_db()
        approver = users["director"] if request.approval_level == 2 else users["manager2"]
        approve = row.approve and request.amount <= demo_data.HISTORY_APPROVE_UP_TO
        try:
            exception_request_decide(
                request_id=request.pk,
                approver=approver,
                approve=approve,
                note="Fits the situation" if approve else "Outside what we can do",
                alternative="" if approve else "Store credit for half the amount",
                now=decided_at,
            )
        except ExceptionRequestError:
            continue
    # The demo's past is already told: no pile of old notifications, no emails for them.
    Notification.objects.filter(request__in=filed).delete()
    for request in ExceptionRequest.objects.filter(pk__in=[r.pk for r in filed], status__in=DECIDED_STATUSES):
        customer_message_save(request_id=request.pk, rep=request.rep, text=request.customer_message, send=True)
    review_sweep(now=now)
    return len(filed)


def _seed_live_work(users: dict[str, AbstractBaseUser], policies: dict[str, int]) -> int:
    """An escalated request live in the director's queue (breached at level 1 an hour ago, due at level 2
    an hour from now), and a request an approver asked the rep about, waiting for rep1's answer."""
    now = timezone.now()
    _file(demo_data.ESCALATED, users, policies, now=now - timedelta(hours=demo_data.ESCALATED_HOURS_AGO))
    sla_sweep(now=now)
    asked = _file(demo_data.ASKED, users, policies, now=now - timedelta(minutes=demo_data.ASKED_MINUTES_AGO))
    if asked.is_open:
        exception_request_ask(request_id=asked.pk, approver=users[demo_data.ASKED_BY], question=demo_data.QUESTION)
    return 2


class _HistoryRow(NamedTuple):
    """One past request: what was filed when, how long the approver took, and what they decided."""

    filed: datetime
    request: DemoRequest
    decide_after: int
    breach: bool
    approve: bool


def _history_rows(rng: random.Random, today: datetime) -> list[_HistoryRow]:
    """Four months of past requests, so that the analysis has something to show on first login."""
    customers = demo_data.HISTORY_CUSTOMERS
    rows = []
    for _ in range(demo_data.HISTORY_SIZE):
        filed = today - timedelta(days=rng.randint(1, 120), hours=rng.randint(0, 8), minutes=rng.randint(0, 59))
        rep = rng.choice(["rep1", "rep1", "rep2"])
        customer = rng.choice(customers)
        policy = rng.choice([p.name for p in demo_data.POLICIES])
        sentiment = rng.choice(["amazed", "happy", "neutral", "unhappy", "unhappy", "deeply_unhappy"])
        cause = rng.choice(["our_mistake", "our_mistake", "beyond_control", "loyalty", "extra_value"])
        amount = rng.choice([0, 15, 25, 40, 60, 90, 150, 220, 400, 900, 1800])
        days = rng.choice([0, 0, 1, 2, 3, 5, 8])
        request = DemoRequest(
            rep=rep,
            customer_ref=f"DEMO-H{customers.index(customer) + 1:03d}",
            customer_name=customer,
            policy=policy,
            sentiment=sentiment,
            cause=cause,
            amount=str(amount),
            business_days=days,
            situation="Customer asked for an exception (demo history).",
            resolution_requested="An exception to the policy",
            alternative_offered="Store credit",
            corrective_action="Review the process that caused it",
        )
        rows.append(
            _HistoryRow(
                filed=filed,
                request=request,
                decide_after=rng.randint(8, 115),
                breach=rng.random() < 0.15,
                approve=rng.random() < 0.8,
            )
        )
    return sorted(rows, key=lambda row: row.filed)
