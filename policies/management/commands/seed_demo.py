"""Demo data: realistic policies, their tiers and approvers, demo users and a few requests.

Idempotent: it only creates what is missing, so a second run writes nothing
(not even a history row).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from exceptions_portal import roles
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

DEMO_PASSWORD = "exceptions-demo"

USERS = [
    # username, first, last, group, staff
    ("rep1", "Riley", "Reed", roles.REPS, False),
    ("rep2", "Sam", "Patel", roles.REPS, False),
    ("manager1", "Morgan", "Lee", roles.APPROVERS, False),
    ("manager2", "Alex", "Kim", roles.APPROVERS, False),
    ("director", "Dana", "Okafor", roles.APPROVERS, False),
    ("admin", "Jordan", "Admin", roles.POLICY_ADMINS, True),
]

PROBLEM_TYPES = ["Returns", "Billing", "Access", "Custom work", "Account security", "Contracts", "Delivery"]

ALL = ["amazed", "happy", "neutral", "unhappy", "deeply_unhappy"]
PROMOTERS = ["amazed", "happy"]
DETRACTORS = ["neutral", "unhappy"]

# name, problem type, statement, rationale, controls, tiers, rep2 has tier-2 right
POLICIES = [
    (
        "Return window",
        "Returns",
        "Items can be returned for a full refund within 30 days of delivery, unused and in their original packaging.",
        "Returned items must be resold as new; after 30 days, seasonal stock loses its value and we cannot restock it",
        [],
        [
            (1, "", "Exchange or store credit up to a week past the window", ALL, "60.00", 5, 0),
            (2, "reward", "Full refund past the window for a loyal promoter", PROMOTERS, "250.00", 15, 0),
            (2, "save", "Full refund past the window to keep an unhappy customer", DETRACTORS, "250.00", 15, 0),
            (3, "", "Full refund and free return shipping, any age", ["unhappy", "deeply_unhappy"], "1500.00", 60, 1),
        ],
        True,
    ),
    (
        "Late fee",
        "Billing",
        "Invoices paid after the due date carry a late fee of 5% of the invoice amount.",
        "The fee covers the cost of chasing late payments and keeps prices fair for customers who pay on time",
        [],
        [
            (1, "", "Reduce the fee or extend the due date by a few days", ALL, "25.00", 7, 0),
            (2, "reward", "Waive the fee for a long-standing promoter", PROMOTERS, "150.00", 30, 0),
            (2, "save", "Waive the fee to turn an unhappy customer around", DETRACTORS, "150.00", 30, 0),
            (3, "", "Waive all fees and interest on the account", ["unhappy", "deeply_unhappy"], "1000.00", 90, 0),
        ],
        True,
    ),
    (
        "Storage access hours",
        "Access",
        "Storage units can be accessed daily from 7:00 to 21:00.",
        "Staff are on site during opening hours to keep every customer's unit safe and the site secure",
        [("Identity check at the gate", "Every visitor is identified on site, or another customer's unit is at risk.")],
        [
            (1, "", "Early or late access within an hour of opening times", ALL, "0.00", 1, 0),
            (2, "reward", "Escorted out-of-hours access for a promoter", PROMOTERS, "50.00", 2, 0),
            (2, "save", "Escorted out-of-hours access to fix a problem", DETRACTORS, "50.00", 2, 0),
            (3, "", "Out-of-hours access with paid staff call-out", ["unhappy", "deeply_unhappy"], "400.00", 5, 1),
        ],
        False,
    ),
    (
        "Custom-work refund",
        "Custom work",
        "Custom and made-to-order work is not refundable once production has started.",
        "Custom work is made for one customer and cannot be resold; materials are bought for the order",
        [
            (
                "Material specification",
                "We never substitute cheaper materials: the product's durability depends on them.",
            )
        ],
        [
            (1, "", "Free adjustment or re-finish of the delivered piece", ALL, "100.00", 10, 0),
            (2, "reward", "Partial refund for a promoter's unusual case", PROMOTERS, "500.00", 20, 1),
            (2, "save", "Partial refund or rushed remake to keep the customer", DETRACTORS, "500.00", 20, 1),
            (3, "", "Full refund or complete remake", ["unhappy", "deeply_unhappy"], "5000.00", 45, 2),
        ],
        False,
    ),
    (
        "Certified data destruction",
        "Account security",
        "Every storage device we collect is destroyed with a certificate listing its serial number.",
        "Deleted or reformatted drives can still be recovered; certified destruction protects the customer from a data breach",
        [
            (
                "Certificate of destruction",
                "Skipping the certificate leaves the customer without proof of destruction.",
            ),
            ("Chain of custody", "Every device is documented by serial number from pickup to destruction."),
        ],
        [
            (1, "", "Tighter pickup window or itemised reporting format", ALL, "0.00", 3, 0),
            (2, "reward", "Free pickup of non-sensitive peripherals", PROMOTERS, "200.00", 5, 0),
            (2, "save", "Discounted pickup or separate low-touch recycling stream", DETRACTORS, "200.00", 5, 0),
            (3, "", "On-site destruction at no extra charge", ["unhappy", "deeply_unhappy"], "2000.00", 10, 1),
        ],
        False,
    ),
    (
        "Contract scope",
        "Contracts",
        "Work outside the agreed statement of work is quoted and billed as a change request.",
        "A clear scope protects delivery dates and quality for every client; unplanned work puts other commitments at risk",
        [],
        [
            (1, "", "Small clarification or tweak within the agreed effort", ALL, "200.00", 2, 0),
            (2, "reward", "Extra deliverable at no charge for a promoter", PROMOTERS, "2000.00", 10, 1),
            (2, "save", "Extra work at no charge to rescue the relationship", DETRACTORS, "2000.00", 10, 1),
            (3, "", "Re-scope the contract in the client's favour", ["unhappy", "deeply_unhappy"], "20000.00", 40, 3),
        ],
        False,
    ),
    (
        "Rush delivery",
        "Delivery",
        "Orders ship within 3 business days by standard delivery; faster delivery is charged.",
        "Standard shipping keeps prices low and lets the warehouse plan its work fairly for every order",
        [],
        [
            (1, "", "Move the order to the front of the packing line", ALL, "0.00", 0, 0),
            (2, "reward", "Free express upgrade for a promoter", PROMOTERS, "40.00", 0, 1),
            (2, "save", "Free express upgrade after a delay", DETRACTORS, "40.00", 0, 1),
            (3, "", "Courier delivery at our cost", ["unhappy", "deeply_unhappy"], "300.00", 0, 2),
        ],
        True,
    ),
]


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
            created = self.seed()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} records created)."))

    def seed(self) -> int:
        created = 0
        User = get_user_model()
        users = {}
        for username, first, last, group_name, staff in USERS:
            user, made = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                    "is_staff": staff,
                },
            )
            if made:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get(name=group_name))
                created += 1
            users[username] = user

        calendar, made = BusinessCalendar.objects.get_or_create(
            name="UK office hours",
            defaults={
                "time_zone": "Europe/London",
                "working_days": [1, 2, 3, 4, 5],
                "opens_at": "09:00",
                "closes_at": "17:00",
            },
        )
        created += made
        for day, name in [
            ("2026-12-25", "Christmas Day"),
            ("2026-12-28", "Boxing Day (substitute)"),
            ("2027-01-01", "New Year's Day"),
        ]:
            created += Holiday.objects.get_or_create(calendar=calendar, date=day, defaults={"name": name})[1]

        problem_types = {}
        for name in PROBLEM_TYPES:
            problem_types[name], made = ProblemType.objects.get_or_create(name=name, defaults={"slug": _slug(name)})
            created += made

        for name, problem, statement, rationale, controls, tiers, rep2_right in POLICIES:
            policy, made = Policy.objects.get_or_create(
                name=name,
                defaults={
                    "slug": _slug(name),
                    "problem_type": problem_types[problem],
                    "statement": statement,
                    "rationale": rationale,
                    "owner": users["admin"],
                    "calendar": calendar if name == "Contract scope" else None,
                },
            )
            created += made
            for control_name, why in controls:
                created += Control.objects.get_or_create(policy=policy, name=control_name, defaults={"why": why})[1]
            for level, kind, description, sentiments, cap, days, supplier in tiers:
                created += ExceptionTier.objects.get_or_create(
                    policy=policy,
                    level=level,
                    kind=kind,
                    defaults={
                        "description": description,
                        "sentiments": sentiments,
                        "money_cap": Decimal(cap),
                        "max_business_days": days,
                        "supplier_exceptions_allowed": supplier,
                    },
                )[1]
            for level, username, authority in [
                (1, "manager1", "250"),
                (1, "manager2", "2500"),
                (2, "director", "50000"),
            ]:
                created += ApproverLevel.objects.get_or_create(
                    policy=policy, level=level, user=users[username], defaults={"money_authority": Decimal(authority)}
                )[1]
            if rep2_right:
                created += RepRight.objects.get_or_create(policy=policy, user=users["rep2"])[1]
        created += self.seed_requests(users)
        return created

    def seed_history(self, users: dict, policies: dict[str, int]) -> int:
        """Past requests filed, decided and sometimes escalated through the real services."""
        from policies.insights.review import review_sweep
        from requests.escalation import sla_sweep
        from requests.models import ExceptionRequest, Notification, Status
        from requests.services import (
            ExceptionRequestError,
            FilingFacts,
            exception_request_decide,
            exception_request_file,
        )

        rng = random.Random(20261123)
        now = timezone.now()
        filed_ids = []
        for row in _seed_history_rows(rng, now):
            try:
                request = exception_request_file(
                    rep=users[row["rep"]],
                    facts=FilingFacts(
                        customer_ref=f"DEMO-H{HISTORY_CUSTOMERS.index(row['customer']) + 1:03d}",
                        customer_name=row["customer"],
                        policy_id=policies[row["policy"]],
                        sentiment=row["sentiment"],
                        cause=row["cause"],
                        situation="Customer asked for an exception (demo history).",
                        resolution_requested="An exception to the policy",
                        amount=row["amount"],
                        business_days=row["days"],
                        supplier_exception=False,
                        alternative_offered="Store credit",
                        corrective_action="Review the process that caused it",
                    ),
                    now=row["filed"],
                )
            except ExceptionRequestError:
                continue
            filed_ids.append(request.pk)
            if request.status != Status.PENDING:
                continue
            decided_at = row["filed"] + timedelta(minutes=row["decide_after"])
            if row["breach"]:
                sla_sweep(now=row["filed"] + timedelta(minutes=125))
                decided_at = row["filed"] + timedelta(minutes=125 + row["decide_after"])
            request.refresh_from_db()
            approver = users["director"] if request.approval_level == 2 else users["manager2"]
            approve = row["approve"] and request.amount <= Decimal("2500")
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
        Notification.objects.filter(request_id__in=filed_ids).delete()
        ExceptionRequest.objects.filter(
            pk__in=filed_ids, message_sent_at__isnull=True, status__in=[Status.GRANTED, Status.APPROVED, Status.DENIED]
        ).update(message_sent_at=now)
        review_sweep(now=now)
        return len(filed_ids)

    def seed_requests(self, users: dict) -> int:
        """A few requests so that the queue and "my requests" are not empty on first login."""
        from requests.models import Customer
        from requests.services import FilingFacts, exception_request_file

        if Customer.objects.filter(external_ref__startswith="DEMO-").exists():
            return 0
        policies = {p.name: p.pk for p in Policy.objects.all()}
        demo = [
            (
                "rep1",
                "DEMO-1001",
                "Harper Logistics",
                "Late fee",
                "neutral",
                "beyond_control",
                "12.50",
                3,
                "Invoice paid four days late because the bank transfer failed on their side.",
                "Reduce the late fee by half.",
                "Set up a payment reminder two days before the due date.",
            ),
            (
                "rep1",
                "DEMO-1002",
                "Maya Brooks",
                "Return window",
                "unhappy",
                "our_mistake",
                "180.00",
                10,
                "Jacket returned 40 days after delivery; our tracking email never arrived, so she did not know it shipped.",
                "Full refund of the jacket.",
                "Check the shipping-notice emails are sent for every carrier.",
            ),
            (
                "rep2",
                "DEMO-1003",
                "Northwind Clinic",
                "Custom-work refund",
                "deeply_unhappy",
                "our_mistake",
                "1200.00",
                15,
                "The custom reception desk arrived with the wrong finish and a cracked panel.",
                "Full remake of the desk.",
                "Add a finish check with photos before custom pieces ship.",
            ),
            (
                "rep2",
                "DEMO-1004",
                "Oak & Ivy Studio",
                "Contract scope",
                "happy",
                "loyalty",
                "900.00",
                4,
                "Long-time client asks for an extra landing page outside the statement of work.",
                "Build the extra landing page at no charge.",
                "Offer a small-changes allowance in the next contract.",
            ),
        ]
        count = self.seed_history(users, policies)
        for username, ref, customer, policy, sentiment, cause, amount, days, situation, resolution, corrective in demo:
            exception_request_file(
                rep=users[username],
                facts=FilingFacts(
                    customer_ref=ref,
                    customer_name=customer,
                    policy_id=policies[policy],
                    sentiment=sentiment,
                    cause=cause,
                    situation=situation,
                    resolution_requested=resolution,
                    amount=Decimal(amount),
                    business_days=days,
                    supplier_exception=False,
                    alternative_offered="Store credit for the full amount.",
                    corrective_action=corrective,
                ),
            )
            count += 1
        return count + self.seed_live_work(users, policies)

    def seed_live_work(self, users: dict, policies: dict[str, int]) -> int:
        """Something for every role to do on first login: an escalated request live in the director's queue
        (filed three hours ago, breached at level 1 an hour ago, due at level 2 an hour from now), and a
        request an approver asked the rep about, waiting for rep1's answer."""
        from requests.escalation import sla_sweep
        from requests.services import FilingFacts, exception_request_ask, exception_request_file

        now = timezone.now()
        exception_request_file(
            rep=users["rep1"],
            facts=FilingFacts(
                customer_ref="DEMO-1005",
                customer_name="Kestrel Outdoor",
                policy_id=policies["Return window"],
                sentiment="deeply_unhappy",
                cause="our_mistake",
                situation="Tent returned 50 days after delivery: the poles snapped on its first trip.",
                resolution_requested="Full refund of the tent.",
                amount=Decimal("320.00"),
                business_days=0,
                supplier_exception=False,
                alternative_offered="A replacement tent with reinforced poles.",
                corrective_action="Ask the supplier for the pole batch's test results.",
            ),
            now=now - timedelta(hours=3),
        )
        sla_sweep(now=now)
        asked = exception_request_file(
            rep=users["rep1"],
            facts=FilingFacts(
                customer_ref="DEMO-1006",
                customer_name="Ravi Menon",
                policy_id=policies["Storage access hours"],
                sentiment="unhappy",
                cause="beyond_control",
                situation="Needs his storage unit at 22:00 to collect medical equipment after a late flight.",
                resolution_requested="Access outside opening hours tonight.",
                amount=Decimal("40.00"),
                business_days=2,
                supplier_exception=False,
                alternative_offered="Access at 07:00 tomorrow, an hour before opening.",
                corrective_action="Publish the out-of-hours access policy on the booking page.",
            ),
            now=now - timedelta(minutes=20),
        )
        if asked.is_open:
            exception_request_ask(
                request_id=asked.pk,
                approver=users["manager2"],
                question="Can the customer show the flight booking? Out-of-hours access needs a reason on file.",
            )
        return 2


HISTORY_CUSTOMERS = [
    "Harbour Dental",
    "Lena Fischer",
    "Quayside Books",
    "Tomás Ortega",
    "Brightwater Gym",
    "Priya Nair",
    "Old Mill Bakery",
    "Jonas Berg",
    "Kestrel Architects",
    "Amara Okoye",
    "Fenwick & Daughters",
    "Chen Wei",
]


def _seed_history_rows(rng: random.Random, today: datetime) -> list[dict]:
    """Four months of past requests, so that the analysis has something to show on first login."""
    rows = []
    for n in range(32):
        filed = today - timedelta(days=rng.randint(1, 120), hours=rng.randint(0, 8), minutes=rng.randint(0, 59))
        rows.append(
            {
                "filed": filed,
                "rep": rng.choice(["rep1", "rep1", "rep2"]),
                "customer": rng.choice(HISTORY_CUSTOMERS),
                "policy": rng.choice([p[0] for p in POLICIES]),
                "sentiment": rng.choice(["amazed", "happy", "neutral", "unhappy", "unhappy", "deeply_unhappy"]),
                "cause": rng.choice(["our_mistake", "our_mistake", "beyond_control", "loyalty", "extra_value"]),
                "amount": Decimal(rng.choice([0, 15, 25, 40, 60, 90, 150, 220, 400, 900, 1800])),
                "days": rng.choice([0, 0, 1, 2, 3, 5, 8]),
                "decide_after": rng.randint(8, 115),
                "breach": rng.random() < 0.15,
                "approve": rng.random() < 0.8,
                "n": n,
            }
        )
    return sorted(rows, key=lambda r: r["filed"])


def _slug(name: str) -> str:
    from django.utils.text import slugify

    return slugify(name)
