"""The demo portal's data, as named tuples: who works there, the policies they work under, and the
requests that give every role something to see on first login. ``seed_demo`` turns them into rows."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from exceptions_portal import roles

DEMO_PASSWORD = "exceptions-demo"


class DemoUser(NamedTuple):
    username: str
    first_name: str
    last_name: str
    group: str
    is_staff: bool


class Tier(NamedTuple):
    level: int
    kind: str
    description: str
    sentiments: list[str]
    money_cap: str
    max_business_days: int
    supplier_exceptions_allowed: int


class DemoControl(NamedTuple):
    name: str
    why: str


class DemoPolicy(NamedTuple):
    name: str
    problem_type: str
    statement: str
    rationale: str
    controls: list[DemoControl]
    tiers: list[Tier]
    rep2_has_tier_2_right: bool


class DemoApprover(NamedTuple):
    level: int
    username: str
    money_authority: str


class DemoHoliday(NamedTuple):
    date: str
    name: str


class DemoRequest(NamedTuple):
    """A request on the queue today, filed through the real service."""

    rep: str
    customer_ref: str
    customer_name: str
    policy: str
    sentiment: str
    cause: str
    amount: str
    business_days: int
    situation: str
    resolution_requested: str
    alternative_offered: str
    corrective_action: str


USERS = [
    DemoUser("rep1", "Riley", "Reed", roles.REPS, False),
    DemoUser("rep2", "Sam", "Patel", roles.REPS, False),
    DemoUser("manager1", "Morgan", "Lee", roles.APPROVERS, False),
    DemoUser("manager2", "Alex", "Kim", roles.APPROVERS, False),
    DemoUser("director", "Dana", "Okafor", roles.APPROVERS, False),
    DemoUser("admin", "Jordan", "Admin", roles.POLICY_ADMINS, True),
]

# Who writes the demo's policies, tiers and approvers, and in whose name the demo message is sent.
POLICY_ADMIN = "admin"

CALENDAR_NAME = "UK office hours"
CALENDAR = {"time_zone": "Europe/London", "working_days": [1, 2, 3, 4, 5], "opens_at": "09:00", "closes_at": "17:00"}
HOLIDAYS = [
    DemoHoliday("2026-12-25", "Christmas Day"),
    DemoHoliday("2026-12-28", "Boxing Day (substitute)"),
    DemoHoliday("2027-01-01", "New Year's Day"),
]
# The one policy whose SLA runs on office hours.
CALENDAR_POLICY = "Contract scope"

PROBLEM_TYPES = ["Returns", "Billing", "Access", "Custom work", "Account security", "Contracts", "Delivery"]

ALL = ["amazed", "happy", "neutral", "unhappy", "deeply_unhappy"]
PROMOTERS = ["amazed", "happy"]
DETRACTORS = ["neutral", "unhappy"]
UNHAPPY = ["unhappy", "deeply_unhappy"]

# Every policy has the same approvers: two managers with different authority at level 1, the director above.
APPROVERS = [
    DemoApprover(1, "manager1", "250"),
    DemoApprover(1, "manager2", "2500"),
    DemoApprover(2, "director", "50000"),
]

POLICIES = [
    DemoPolicy(
        "Return window",
        "Returns",
        "Items can be returned for a full refund within 30 days of delivery, unused and in their original packaging.",
        "Returned items must be resold as new; after 30 days, seasonal stock loses its value and we cannot restock it",
        [],
        [
            Tier(1, "", "Exchange or store credit up to a week past the window", ALL, "60.00", 5, 0),
            Tier(2, "reward", "Full refund past the window for a loyal promoter", PROMOTERS, "250.00", 15, 0),
            Tier(2, "save", "Full refund past the window to keep an unhappy customer", DETRACTORS, "250.00", 15, 0),
            Tier(3, "", "Full refund and free return shipping, any age", UNHAPPY, "1500.00", 60, 1),
        ],
        True,
    ),
    DemoPolicy(
        "Late fee",
        "Billing",
        "Invoices paid after the due date carry a late fee of 5% of the invoice amount.",
        "The fee covers the cost of chasing late payments and keeps prices fair for customers who pay on time",
        [],
        [
            Tier(1, "", "Reduce the fee or extend the due date by a few days", ALL, "25.00", 7, 0),
            Tier(2, "reward", "Waive the fee for a long-standing promoter", PROMOTERS, "150.00", 30, 0),
            Tier(2, "save", "Waive the fee to turn an unhappy customer around", DETRACTORS, "150.00", 30, 0),
            Tier(3, "", "Waive all fees and interest on the account", UNHAPPY, "1000.00", 90, 0),
        ],
        True,
    ),
    DemoPolicy(
        "Storage access hours",
        "Access",
        "Storage units can be accessed daily from 7:00 to 21:00.",
        "Staff are on site during opening hours to keep every customer's unit safe and the site secure",
        [
            DemoControl(
                "Identity check at the gate",
                "Every visitor is identified on site, or another customer's unit is at risk.",
            )
        ],
        [
            Tier(1, "", "Early or late access within an hour of opening times", ALL, "0.00", 1, 0),
            Tier(2, "reward", "Escorted out-of-hours access for a promoter", PROMOTERS, "50.00", 2, 0),
            Tier(2, "save", "Escorted out-of-hours access to fix a problem", DETRACTORS, "50.00", 2, 0),
            Tier(3, "", "Out-of-hours access with paid staff call-out", UNHAPPY, "400.00", 5, 1),
        ],
        False,
    ),
    DemoPolicy(
        "Custom-work refund",
        "Custom work",
        "Custom and made-to-order work is not refundable once production has started.",
        "Custom work is made for one customer and cannot be resold; materials are bought for the order",
        [
            DemoControl(
                "Material specification",
                "We never substitute cheaper materials: the product's durability depends on them.",
            )
        ],
        [
            Tier(1, "", "Free adjustment or re-finish of the delivered piece", ALL, "100.00", 10, 0),
            Tier(2, "reward", "Partial refund for a promoter's unusual case", PROMOTERS, "500.00", 20, 1),
            Tier(2, "save", "Partial refund or rushed remake to keep the customer", DETRACTORS, "500.00", 20, 1),
            Tier(3, "", "Full refund or complete remake", UNHAPPY, "5000.00", 45, 2),
        ],
        False,
    ),
    DemoPolicy(
        "Certified data destruction",
        "Account security",
        "Every storage device we collect is destroyed with a certificate listing its serial number.",
        "Deleted or reformatted drives can still be recovered; certified destruction protects the customer from a data breach",
        [
            DemoControl(
                "Certificate of destruction",
                "Skipping the certificate leaves the customer without proof of destruction.",
            ),
            DemoControl("Chain of custody", "Every device is documented by serial number from pickup to destruction."),
        ],
        [
            Tier(1, "", "Tighter pickup window or itemised reporting format", ALL, "0.00", 3, 0),
            Tier(2, "reward", "Free pickup of non-sensitive peripherals", PROMOTERS, "200.00", 5, 0),
            Tier(2, "save", "Discounted pickup or separate low-touch recycling stream", DETRACTORS, "200.00", 5, 0),
            Tier(3, "", "On-site destruction at no extra charge", UNHAPPY, "2000.00", 10, 1),
        ],
        False,
    ),
    DemoPolicy(
        "Contract scope",
        "Contracts",
        "Work outside the agreed statement of work is quoted and billed as a change request.",
        "A clear scope protects delivery dates and quality for every client; unplanned work puts other commitments at risk",
        [],
        [
            Tier(1, "", "Small clarification or tweak within the agreed effort", ALL, "200.00", 2, 0),
            Tier(2, "reward", "Extra deliverable at no charge for a promoter", PROMOTERS, "2000.00", 10, 1),
            Tier(2, "save", "Extra work at no charge to rescue the relationship", DETRACTORS, "2000.00", 10, 1),
            Tier(3, "", "Re-scope the contract in the client's favour", UNHAPPY, "20000.00", 40, 3),
        ],
        False,
    ),
    DemoPolicy(
        "Rush delivery",
        "Delivery",
        "Orders ship within 3 business days by standard delivery; faster delivery is charged.",
        "Standard shipping keeps prices low and lets the warehouse plan its work fairly for every order",
        [],
        [
            Tier(1, "", "Move the order to the front of the packing line", ALL, "0.00", 0, 0),
            Tier(2, "reward", "Free express upgrade for a promoter", PROMOTERS, "40.00", 0, 1),
            Tier(2, "save", "Free express upgrade after a delay", DETRACTORS, "40.00", 0, 1),
            Tier(3, "", "Courier delivery at our cost", UNHAPPY, "300.00", 0, 2),
        ],
        True,
    ),
]

# Four months of past requests (filed, decided, some escalated) are drawn from these, with this seed.
HISTORY_SEED = 20261123
HISTORY_SIZE = 32
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
# Above this, the demo's approvers deny rather than approve (the director's authority is never tested there).
HISTORY_APPROVE_UP_TO = Decimal("2500")

# The queue and "my requests" on first login, filed now.
TODAY = [
    DemoRequest(
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
        "Store credit for the full amount.",
        "Set up a payment reminder two days before the due date.",
    ),
    DemoRequest(
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
        "Store credit for the full amount.",
        "Check the shipping-notice emails are sent for every carrier.",
    ),
    DemoRequest(
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
        "Store credit for the full amount.",
        "Add a finish check with photos before custom pieces ship.",
    ),
    DemoRequest(
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
        "Store credit for the full amount.",
        "Offer a small-changes allowance in the next contract.",
    ),
]

# Filed three hours ago: breached at level 1 an hour ago, live in the director's queue.
ESCALATED = DemoRequest(
    "rep1",
    "DEMO-1005",
    "Kestrel Outdoor",
    "Return window",
    "deeply_unhappy",
    "our_mistake",
    "320.00",
    0,
    "Tent returned 50 days after delivery: the poles snapped on its first trip.",
    "Full refund of the tent.",
    "A replacement tent with reinforced poles.",
    "Ask the supplier for the pole batch's test results.",
)
ESCALATED_HOURS_AGO = 3

# Filed twenty minutes ago; manager2 asked rep1 a question, waiting for rep1's answer.
ASKED = DemoRequest(
    "rep1",
    "DEMO-1006",
    "Ravi Menon",
    "Storage access hours",
    "unhappy",
    "beyond_control",
    "40.00",
    2,
    "Needs his storage unit at 22:00 to collect medical equipment after a late flight.",
    "Access outside opening hours tonight.",
    "Access at 07:00 tomorrow, an hour before opening.",
    "Publish the out-of-hours access policy on the booking page.",
)
ASKED_MINUTES_AGO = 20
ASKED_BY = "manager2"
QUESTION = "Can the customer show the flight booking? Out-of-hours access needs a reason on file."
