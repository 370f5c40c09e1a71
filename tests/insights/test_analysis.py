"""Learning from exceptions: every figure of the analysis, the page, and its CSV exports.

The data set is filed and decided through the real services at fixed times in
November 2026 (Europe/London is on GMT then, so local time is UTC). Every
expected figure below is counted by hand from the table in ``dataset``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exceptions_portal.formatting import format_duration
from policies.insights import charts, exports, figures, percentiles
from policies.insights.exports import csv_chunks
from policies.insights.periods import Period, requests_in
from policies.models import ApproverLevel, Policy, ProblemType
from requests.escalation import sla_sweep
from requests.models import Customer, ExceptionRequest, Status
from requests.selectors import is_frequent_asker
from requests.services import exception_request_decide, exception_request_file
from tests.conftest import facts, make_policy
from tests.support import at

PERIOD = Period(date(2026, 11, 2), date(2026, 11, 15))  # Monday 2 to Sunday 15 November
ANALYSIS_URL = "policies:analysis"
CUSTOM = {"period": "custom", "start": "2026-11-02", "end": "2026-11-15"}


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


@dataclass
class DataSet:
    returns: ProblemType
    delivery: ProblemType
    return_window: Policy
    late_delivery: Policy
    requests: dict[str, ExceptionRequest]


@pytest.fixture
def late_delivery(problem_type, manager_high, director, admin_user) -> Policy:
    delivery = ProblemType.objects.create(name="Delivery", slug="delivery")
    late = make_policy(delivery, name="Late delivery", owner=admin_user)
    ApproverLevel.objects.create(policy=late, level=1, user=manager_high, money_authority=Decimal("2500"))
    ApproverLevel.objects.create(policy=late, level=2, user=director, money_authority=Decimal("50000"))
    return late


@pytest.fixture
def dataset(rep, rep_with_right, manager_low, manager_high, director, policy, late_delivery) -> DataSet:
    """Eleven requests in the period, one the day before and one the day after.

    name  filed        policy         customer   who       tier        cause           amount  outcome
    R0    Sun 1 23:59  Return window  C-11       rep       1           our mistake         20  granted (before period)
    R1    Mon 2 09:00  Return window  C-1 Maya   rep       1           our mistake         20  granted by rep
    R2    Tue 3 10:00  Return window  C-2 Ola    rep       2 save      beyond control     100  approved, manager_low +10 min
    R3    Wed 4 10:00  Return window  C-3        rep       2 reward    loyalty            200  denied, manager_high +20 min
    R4    Thu 5 10:00  Return window  C-4        rep       3           our mistake        300  approved, manager_high +30 min
    R5    Mon 9 10:00  Return window  C-5        rep       beyond      our mistake       2000  approved, director +40 min (level 2)
    R6    Tue 10 10:00 Return window  C-1 Maya   rep       1 (repeat)  our mistake         20  breached level 1 at +120,
                                                                                                denied, director +150 min
    R7    Wed 11 10:00 Return window  C-6        rep       2 save      extra value        100  still pending
    R8    Thu 12 11:00 Return window  C-10       rightful  2 reward    loyalty            150  granted by rep (tier-2 right)
    L1    Thu 12 09:00 Late delivery  C-2 Ola    rightful  1           extra value         30  granted by rep
    L2    Fri 13 09:00 Late delivery  C-7        rep       3           beyond control     500  approved, manager_high +60 min
    L3    Sun 15 23:30 Late delivery  C-8        rightful  1           our mistake         10  granted by rep (last day)
    L4    Mon 16 00:00 Late delivery  C-12       rightful  1           our mistake         10  granted (after period)
    """
    returns = policy.problem_type
    late = late_delivery
    made: dict[str, ExceptionRequest] = {}

    def file(name: str, who, on: Policy, when: datetime, **overrides) -> ExceptionRequest:
        made[name] = exception_request_file(rep=who, facts=facts(on, **overrides), now=when)
        return made[name]

    def decide(name: str, approver, approve: bool, after: int) -> None:
        request = made[name]
        exception_request_decide(
            request_id=request.pk,
            approver=approver,
            approve=approve,
            note="Checked the order history",
            alternative="" if approve else "Store credit",
            now=request.filed_at + minutes(after),
        )

    file("R0", rep, policy, at(1, 23, 59), customer_ref="C-11", customer_name="Before Start")
    file("R1", rep, policy, at(2, 9))
    file(
        "R2",
        rep,
        policy,
        at(3, 10),
        customer_ref="C-2",
        customer_name="Ola Nowak",
        cause="beyond_control",
        amount=Decimal("100"),
    )
    decide("R2", manager_low, True, 10)
    file(
        "R3",
        rep,
        policy,
        at(4, 10),
        customer_ref="C-3",
        customer_name="Ravi Patel",
        sentiment="happy",
        cause="loyalty",
        amount=Decimal("200"),
    )
    decide("R3", manager_high, False, 20)
    file("R4", rep, policy, at(5, 10), customer_ref="C-4", customer_name="Dana Kim", amount=Decimal("300"))
    decide("R4", manager_high, True, 30)
    file("R5", rep, policy, at(9, 10), customer_ref="C-5", customer_name="Eli Moss", amount=Decimal("2000"))
    decide("R5", director, True, 40)
    file("R6", rep, policy, at(10, 10))  # Maya again under the same policy: a repeat, so it waits at level 1
    assert sla_sweep(now=at(10, 12)).escalated == [made["R6"].reference]
    decide("R6", director, False, 150)
    file(
        "R7",
        rep,
        policy,
        at(11, 10),
        customer_ref="C-6",
        customer_name="Fay Lund",
        sentiment="neutral",
        cause="extra_value",
        amount=Decimal("100"),
    )
    file(
        "L1",
        rep_with_right,
        late,
        at(12, 9),
        customer_ref="C-2",
        customer_name="Ola Nowak",
        sentiment="amazed",
        cause="extra_value",
        amount=Decimal("30"),
    )
    file(
        "R8",
        rep_with_right,
        policy,
        at(12, 11),
        customer_ref="C-10",
        customer_name="Gus Hale",
        sentiment="happy",
        cause="loyalty",
        amount=Decimal("150"),
    )
    file(
        "L2",
        rep,
        late,
        at(13, 9),
        customer_ref="C-7",
        customer_name="Hana Ito",
        sentiment="deeply_unhappy",
        cause="beyond_control",
        amount=Decimal("500"),
    )
    decide("L2", manager_high, True, 60)
    file("L3", rep_with_right, late, at(15, 23, 30), customer_ref="C-8", customer_name="Ivo Bell", amount=Decimal("10"))
    file("L4", rep_with_right, late, at(16, 0), customer_ref="C-12", customer_name="After End", amount=Decimal("10"))
    for request in made.values():
        request.refresh_from_db()
    return DataSet(returns, late.problem_type, policy, late, made)


def test_the_data_set_is_routed_as_the_table_says(dataset):
    got = {
        name: (r.status, r.tier_level, r.tier_kind, r.beyond_all_tiers, r.approval_level, r.breached_level)
        for name, r in dataset.requests.items()
    }
    assert got == {
        "R0": (Status.GRANTED, 1, "", False, None, None),
        "R1": (Status.GRANTED, 1, "", False, None, None),
        "R2": (Status.APPROVED, 2, "save", False, 1, None),
        "R3": (Status.DENIED, 2, "reward", False, 1, None),
        "R4": (Status.APPROVED, 3, "", False, 1, None),
        "R5": (Status.APPROVED, None, "", True, 2, None),
        "R6": (Status.DENIED, 1, "", False, 2, 1),
        "R7": (Status.PENDING, 2, "save", False, 1, None),
        "R8": (Status.GRANTED, 2, "reward", False, None, None),
        "L1": (Status.GRANTED, 1, "", False, None, None),
        "L2": (Status.APPROVED, 3, "", False, 1, None),
        "L3": (Status.GRANTED, 1, "", False, None, None),
        "L4": (Status.GRANTED, 1, "", False, None, None),
    }


# The figures of the whole period -----------------------------------------------------------------


def test_totals(dataset):
    totals = figures.overview(PERIOD)["totals"]
    assert totals == {
        "key": None,
        "name": "",
        "filed": 11,
        "granted_by_rep": 4,  # R1, R8, L1, L3
        "approved": 4,  # R2, R4, R5, L2
        "denied": 2,  # R3, R6
        "pending": 1,  # R7
        "money_granted": Decimal("3110.00"),  # 20 + 150 + 30 + 10 + 100 + 300 + 2000 + 500
        "went_to_approver": 7,  # R2..R7, L2
        "sla_kept": 6,  # all but R6
        "sla_kept_pct": 85.7,
        "tier1": 4,  # R1, R6, L1, L3
        "tier2_reward": 2,  # R3, R8
        "tier2_save": 2,  # R2, R7
        "tier3": 2,  # R4, L2
        "beyond": 1,  # R5
        "cause_our_mistake": 5,  # R1, R4, R5, R6, L3
        "cause_beyond_control": 2,  # R2, L2
        "cause_loyalty": 2,  # R3, R8
        "cause_extra_value": 2,  # R7, L1
        # Decisions by approvers after 10, 20, 30, 40, 60, 150 minutes: rank ceil(3) and ceil(5.4).
        "median": minutes(30),
        "p90": minutes(150),
        "breaches": {1: 1},
    }


def test_summary_per_problem_type(dataset):
    rows = figures.summary(PERIOD, by="problem_type")
    assert rows == [
        {
            "key": dataset.returns.pk,
            "name": "Returns",
            "filed": 8,
            "granted_by_rep": 2,
            "approved": 3,
            "denied": 2,
            "pending": 1,
            "money_granted": Decimal("2570.00"),
            "went_to_approver": 6,
            "sla_kept": 5,
            "sla_kept_pct": 83.3,
            "tier1": 2,
            "tier2_reward": 2,
            "tier2_save": 2,
            "tier3": 1,
            "beyond": 1,
            "cause_our_mistake": 4,
            "cause_beyond_control": 1,
            "cause_loyalty": 2,
            "cause_extra_value": 1,
            "median": minutes(30),  # 10, 20, 30, 40, 150
            "p90": minutes(150),
            "breaches": {1: 1},
        },
        {
            "key": dataset.delivery.pk,
            "name": "Delivery",
            "filed": 3,
            "granted_by_rep": 2,
            "approved": 1,
            "denied": 0,
            "pending": 0,
            "money_granted": Decimal("540.00"),
            "went_to_approver": 1,
            "sla_kept": 1,
            "sla_kept_pct": 100.0,
            "tier1": 2,
            "tier2_reward": 0,
            "tier2_save": 0,
            "tier3": 1,
            "beyond": 0,
            "cause_our_mistake": 1,
            "cause_beyond_control": 1,
            "cause_loyalty": 0,
            "cause_extra_value": 1,
            "median": minutes(60),
            "p90": minutes(60),
            "breaches": {},
        },
    ]


def test_summary_per_policy_has_the_same_figures_keyed_by_policy(dataset):
    rows = figures.summary(PERIOD, by="policy")
    by_problem_type = figures.summary(PERIOD, by="problem_type")
    assert [(r["key"], r["name"]) for r in rows] == [
        (dataset.return_window.pk, "Return window"),
        (dataset.late_delivery.pk, "Late delivery"),
    ]
    # One policy per problem type here, so only the key and the name differ.
    strip = lambda row: {k: v for k, v in row.items() if k not in ("key", "name")}  # noqa: E731
    assert [strip(r) for r in rows] == [strip(r) for r in by_problem_type]
    assert rows[0]["filed"] == 8


def test_weekly_trend(dataset):
    weeks, trend = figures.weekly_trend(PERIOD)
    assert weeks == [date(2026, 11, 2), date(2026, 11, 9)]
    assert trend == [
        {"name": "Delivery", "counts": [0, 3]},  # L1, L2 and L3 (Sunday 23:30) in the week of the 9th
        {"name": "Returns", "counts": [4, 4]},  # R1-R4, then R5-R8
    ]


def test_weekly_trend_starts_on_the_monday_of_the_first_day(dataset):
    weeks, trend = figures.weekly_trend(Period(date(2026, 11, 4), date(2026, 11, 17)))
    assert weeks == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
    assert trend == [
        {"name": "Delivery", "counts": [0, 3, 1]},  # L4 on Monday 16th
        {"name": "Returns", "counts": [2, 4, 0]},  # R3, R4 from Wednesday 4th
    ]


def _without_ids(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "customer_id"} for row in rows]


def test_frequent_customers_are_those_who_asked_at_least_twice(dataset):
    rows = figures.frequent_customers(PERIOD)
    assert [row["customer_id"] for row in rows] == [Customer.objects.get(external_ref=ref).pk for ref in ("C-1", "C-2")]
    assert all(is_frequent_asker(row["filed"]) for row in rows)
    assert _without_ids(rows) == [
        {"customer__external_ref": "C-1", "customer__name": "Maya Brooks", "filed": 2, "granted": 1, "policies": 1},
        {"customer__external_ref": "C-2", "customer__name": "Ola Nowak", "filed": 2, "granted": 2, "policies": 2},
    ]


def test_frequent_customers_count_the_policies_of_the_period_only(dataset, rep, late_delivery):
    # Maya asks under a second policy the day after the period: not one of her policies in it.
    exception_request_file(rep=rep, facts=facts(late_delivery), now=at(16, 9))
    assert _without_ids(figures.frequent_customers(PERIOD, limit=1)) == [
        {"customer__external_ref": "C-1", "customer__name": "Maya Brooks", "filed": 2, "granted": 1, "policies": 1},
    ]
    assert figures.frequent_customers(Period(PERIOD.start, date(2026, 11, 16)))[0]["policies"] == 2


def test_reps_granting_counts_only_grants_at_once(dataset):
    assert figures.reps_granting(PERIOD) == [
        {"rep__username": "rightful", "name": "Rightful", "granted": 3, "money": Decimal("190.00")},
        {"rep__username": "rep", "name": "Rep", "granted": 1, "money": Decimal("20.00")},
    ]


def test_approver_decision_times(dataset, manager_low, manager_high, director):
    assert figures.approver_decision_times(PERIOD) == [
        {
            "decided_by": manager_high.pk,
            "decided_by__username": "manager_high",
            "name": "Manager_High",
            "decided": 3,
            "approved": 2,
            "denied": 1,
            "on_time": 3,
            "median": minutes(30),  # 20, 30, 60
            "p90": minutes(60),
        },
        {
            "decided_by": director.pk,
            "decided_by__username": "director",
            "name": "Director",
            "decided": 2,
            "approved": 1,
            "denied": 1,
            "on_time": 1,  # R6 breached at level 1
            "median": minutes(40),  # 40, 150
            "p90": minutes(150),
        },
        {
            "decided_by": manager_low.pk,
            "decided_by__username": "manager_low",
            "name": "Manager_Low",
            "decided": 1,
            "approved": 1,
            "denied": 0,
            "on_time": 1,
            "median": minutes(10),
            "p90": minutes(10),
        },
    ]


def test_people_separate_a_grant_at_once_from_a_decision_by_the_same_user(dataset, manager_high):
    # An approver who files a tier-1 request grants it at once: a rep's grant, not a decision.
    granted = exception_request_file(
        rep=manager_high, facts=facts(dataset.return_window, customer_ref="C-9"), now=at(14, 9)
    )
    assert (granted.status, granted.decided_by) == (Status.GRANTED, manager_high)
    reps, approvers = figures.people(PERIOD, reps_limit=2)
    assert reps == [
        {"rep__username": "rightful", "name": "Rightful", "granted": 3, "money": Decimal("190.00")},
        {"rep__username": "manager_high", "name": "Manager_High", "granted": 1, "money": Decimal("20.00")},
    ]
    assert [(a["decided_by__username"], a["decided"], a["median"]) for a in approvers] == [
        ("manager_high", 3, minutes(30)),
        ("director", 2, minutes(40)),
        ("manager_low", 1, minutes(10)),
    ]


def test_top_policies(dataset):
    assert figures.overview(PERIOD)["top_policies"] == [
        {"policy__name": "Return window", "n": 8},
        {"policy__name": "Late delivery", "n": 3},
    ]


def test_median_and_p90_by_nearest_rank(rep, manager_high, policy):
    start = at(16, 9)
    for n, after in enumerate([40, 10, 30, 20]):  # filed out of order on purpose
        request = exception_request_file(
            rep=rep, facts=facts(policy, customer_ref=f"P-{n}", amount=Decimal("300")), now=start + timedelta(hours=n)
        )
        exception_request_decide(
            request_id=request.pk, approver=manager_high, approve=True, note="ok", now=request.filed_at + minutes(after)
        )
    totals = figures.overview(Period(date(2026, 11, 16), date(2026, 11, 16)))["totals"]
    assert (totals["median"], totals["p90"]) == (minutes(20), minutes(40))
    assert format_duration(totals["median"]) == "20 min"


def test_percentiles_of_every_grouping_come_from_one_query(dataset, manager_low, manager_high, director):
    rows = requests_in(PERIOD)
    with CaptureQueriesContext(connection) as queries:
        times = percentiles.decision_time_percentiles(rows, ["policy", "policy__problem_type", "decided_by", None])
    assert len(queries) == 1
    assert times == {
        "policy": {
            dataset.return_window.pk: {"median": minutes(30), "p90": minutes(150)},  # 10, 20, 30, 40, 150
            dataset.late_delivery.pk: {"median": minutes(60), "p90": minutes(60)},
        },
        "policy__problem_type": {
            dataset.returns.pk: {"median": minutes(30), "p90": minutes(150)},
            dataset.delivery.pk: {"median": minutes(60), "p90": minutes(60)},
        },
        "decided_by": {
            manager_low.pk: {"median": minutes(10), "p90": minutes(10)},
            manager_high.pk: {"median": minutes(30), "p90": minutes(60)},  # 20, 30, 60
            director.pk: {"median": minutes(40), "p90": minutes(150)},  # 40, 150
        },
        None: {None: {"median": minutes(30), "p90": minutes(150)}},
    }


def test_the_page_tables_share_one_pass_for_their_percentiles(dataset):
    with CaptureQueriesContext(connection) as alone:
        overview, (reps, approvers) = figures.overview(PERIOD), figures.people(PERIOD)
    times = percentiles.decision_times(PERIOD)
    with CaptureQueriesContext(connection) as shared:
        assert figures.overview(PERIOD, times=times) == overview
        assert figures.people(PERIOD, times=times) == (reps, approvers)
    assert len(shared) == len(alone) - 2
    assert approvers[0]["median"] == times["decided_by"][approvers[0]["decided_by"]]["median"]


def test_percentiles_without_a_decision_are_left_out(dataset):
    thursday = requests_in(Period(date(2026, 11, 12), date(2026, 11, 12)))  # granted at once only
    assert percentiles.decision_time_percentiles(thursday, ["policy", None]) == {"policy": {}, None: {}}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (timedelta(seconds=59), "0 min"),
        (minutes(45), "45 min"),
        (minutes(60), "1 h 00 min"),
        (minutes(125), "2 h 05 min"),
        (timedelta(days=3, hours=4, minutes=59), "3 d 4 h"),
    ],
)
def test_format_duration(value, text):
    assert format_duration(value) == text


# Empty periods, filters and boundaries -----------------------------------------------------------


def test_an_empty_period_has_zeros_and_no_rates(dataset):
    empty = Period(date(2026, 1, 5), date(2026, 1, 11))
    totals = figures.overview(empty)["totals"]
    assert {k: v for k, v in totals.items() if k.startswith(("cause_", "tier"))} == {
        "cause_our_mistake": 0,
        "cause_beyond_control": 0,
        "cause_loyalty": 0,
        "cause_extra_value": 0,
        "tier1": 0,
        "tier2_reward": 0,
        "tier2_save": 0,
        "tier3": 0,
    }
    assert (totals["filed"], totals["granted_by_rep"], totals["approved"], totals["denied"], totals["pending"]) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert (totals["beyond"], totals["went_to_approver"], totals["sla_kept"]) == (0, 0, 0)
    assert totals["money_granted"] == Decimal("0")
    assert totals["sla_kept_pct"] is None
    assert "median" not in totals
    assert "p90" not in totals
    assert totals["breaches"] == {}
    assert figures.summary(empty, by="problem_type") == []
    assert figures.summary(empty, by="policy") == []
    assert figures.weekly_trend(empty) == ([date(2026, 1, 5)], [])
    assert figures.frequent_customers(empty) == []
    assert figures.reps_granting(empty) == []
    assert figures.approver_decision_times(empty) == []
    assert figures.overview(empty)["top_policies"] == []
    assert list(exports.request_values(empty)) == []


def test_no_request_sent_to_an_approver_means_no_sla_rate(dataset):
    thursday = Period(date(2026, 11, 12), date(2026, 11, 12))  # L1 and R8, both granted at once
    totals = figures.overview(thursday)["totals"]
    assert (totals["filed"], totals["granted_by_rep"], totals["went_to_approver"]) == (2, 2, 0)
    assert totals["money_granted"] == Decimal("180.00")
    assert totals["sla_kept_pct"] is None
    assert "median" not in totals
    assert [(r["name"], r["sla_kept_pct"]) for r in figures.summary(thursday, by="policy")] == [
        ("Late delivery", None),
        ("Return window", None),
    ]


def test_problem_type_filter(dataset):
    delivery_only = Period(PERIOD.start, PERIOD.end, problem_type_id=dataset.delivery.pk)
    totals = figures.overview(delivery_only)["totals"]
    assert (totals["filed"], totals["granted_by_rep"], totals["approved"], totals["denied"], totals["pending"]) == (
        3,
        2,
        1,
        0,
        0,
    )
    assert totals["money_granted"] == Decimal("540.00")
    assert (totals["median"], totals["p90"], totals["sla_kept_pct"], totals["breaches"]) == (
        minutes(60),
        minutes(60),
        100.0,
        {},
    )
    assert [r["name"] for r in figures.summary(delivery_only, by="policy")] == ["Late delivery"]
    assert figures.weekly_trend(delivery_only)[1] == [{"name": "Delivery", "counts": [0, 3]}]
    assert figures.frequent_customers(delivery_only) == []  # Ola asked once per problem type
    assert [r["rep__username"] for r in figures.reps_granting(delivery_only)] == ["rightful"]
    assert [(r["name"], r["decided"]) for r in figures.approver_decision_times(delivery_only)] == [("Manager_High", 1)]
    assert figures.overview(delivery_only)["top_policies"] == [{"policy__name": "Late delivery", "n": 3}]
    assert [row[0] for row in exports.request_values(delivery_only)] == [  # reference is the first column
        dataset.requests[name].reference for name in ("L1", "L2", "L3")
    ]


def test_period_boundaries(dataset):
    refs = {name: r.reference for name, r in dataset.requests.items()}
    in_period = [row[0] for row in exports.request_values(PERIOD)]
    assert refs["L3"] in in_period  # Sunday 15th at 23:30, the last day
    assert refs["L4"] not in in_period  # Monday 16th at midnight, the day after
    assert refs["R1"] in in_period  # Monday 2nd at 09:00, the first day
    assert refs["R0"] not in in_period  # Sunday 1st at 23:59, the day before
    one_more_day = Period(PERIOD.start, date(2026, 11, 16))
    assert figures.overview(one_more_day)["totals"]["filed"] == 12
    assert figures.overview(Period(date(2026, 11, 1), PERIOD.end))["totals"]["filed"] == 12
    assert figures.overview(Period(date(2026, 11, 16), date(2026, 11, 16)))["totals"]["filed"] == 1


def test_days_and_weeks_are_local_days_in_summer_time(rep, policy):
    # Europe/London is UTC+1 in June: a local day starts at 23:00 UTC the evening before.
    filed = {
        "Monday 00:30": datetime(2026, 5, 31, 23, 30, tzinfo=UTC),
        "Sunday 23:30": datetime(2026, 6, 7, 22, 30, tzinfo=UTC),
        "next Monday 00:30": datetime(2026, 6, 7, 23, 30, tzinfo=UTC),
    }
    refs = {
        label: exception_request_file(rep=rep, facts=facts(policy, customer_ref=label), now=when).reference
        for label, when in filed.items()
    }
    week = Period(date(2026, 6, 1), date(2026, 6, 7))
    assert [row[0] for row in exports.request_values(week)] == [refs["Monday 00:30"], refs["Sunday 23:30"]]
    assert figures.weekly_trend(week) == ([date(2026, 6, 1)], [{"name": "Returns", "counts": [2]}])
    assert figures.weekly_trend(Period(date(2026, 6, 1), date(2026, 6, 8)))[1] == [
        {"name": "Returns", "counts": [2, 1]}
    ]


def test_weeks_of_a_five_year_period(rep, policy):
    # 261 weeks: each filing lands in its local week, on both sides of the clock changes.
    filed = [
        datetime(2024, 1, 1, 0, 0, tzinfo=UTC),  # Monday of the first week, first instant
        datetime(2025, 3, 30, 22, 59, tzinfo=UTC),  # Sunday 23:59 BST, the day summer time starts
        datetime(2025, 3, 30, 23, 0, tzinfo=UTC),  # Monday 00:00 BST
        datetime(2026, 10, 25, 23, 59, tzinfo=UTC),  # Sunday 23:59 GMT, the day summer time ends
        datetime(2026, 10, 26, 0, 0, tzinfo=UTC),  # Monday 00:00 GMT
        datetime(2028, 12, 31, 23, 59, tzinfo=UTC),  # Sunday, the last day
    ]
    for n, when in enumerate(filed):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"W-{n}"), now=when)
    weeks, trend = figures.weekly_trend(Period(date(2024, 1, 1), date(2028, 12, 31)))
    assert (len(weeks), weeks[0], weeks[-1]) == (261, date(2024, 1, 1), date(2028, 12, 25))
    counts = trend[0]["counts"]
    assert {weeks[i]: n for i, n in enumerate(counts) if n} == {
        date(2024, 1, 1): 1,
        date(2025, 3, 24): 1,
        date(2025, 3, 31): 1,
        date(2026, 10, 19): 1,
        date(2026, 10, 26): 1,
        date(2028, 12, 25): 1,
    }


# The page ----------------------------------------------------------------------------------------


def test_page_for_a_policy_admin(client, dataset, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse(ANALYSIS_URL), CUSTOM)
    assert response.status_code == 200
    assert response.context["period"] == PERIOD
    assert response.context["totals"]["filed"] == 11
    assert [r["name"] for r in response.context["by_policy"]] == ["Return window", "Late delivery"]
    assert response.context["can_resolve"] is True
    page = response.text
    assert "2 Nov 2026 – 15 Nov 2026 (14 days)" in page
    assert "85.7 %" in page
    assert "30 min / 2 h 30 min" in page
    assert "3,110.00" in page


def test_the_figure_cards_and_the_charts(client, dataset, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse(ANALYSIS_URL), CUSTOM).text
    cards = re.findall(
        r'<div class="fs-(\d) fw-semibold">([^<]*)</div><div class="small text-body-secondary">([^<]*)<', page
    )
    assert [(label, value, size) for size, value, label in cards] == [
        ("filed", "11", "4"),
        ("granted by reps", "4", "4"),
        ("approved", "4", "4"),
        ("denied", "2", "4"),
        ("pending", "1", "4"),
        ("money granted", "3,110.00", "5"),
        ("median / 90% to decision", "30 min / 2 h 30 min", "6"),
        ("SLA kept", "85.7 %", "4"),
    ]
    # Every colour drawn comes from the chart module: the series and bars from its palette, the frame its greys.
    drawn = set(re.findall(r'(?:stroke|fill)="(#[0-9a-f]{6})"', page))
    assert drawn <= {*charts.PALETTE, charts.AXIS, charts.GRID, charts.AXIS_LABEL, charts.TEXT}
    assert {charts.PALETTE[0], charts.PALETTE[1], charts.AXIS, charts.TEXT} <= drawn  # two problem types, the bars
    bars = re.findall(r'<rect x="190" y="\d+" width="([\d.]+)" height="22" fill="([^"]+)"', page)
    assert bars == [("240.0", charts.PALETTE[0]), ("90.0", charts.PALETTE[0])]  # 8 and 3 exceptions


def test_no_sla_to_keep_shows_a_dash_in_its_card(client, admin_user, db):
    client.force_login(admin_user)
    page = client.get(reverse(ANALYSIS_URL), CUSTOM).text
    assert '<div class="fs-4 fw-semibold">—</div><div class="small text-body-secondary">SLA kept<' in page
    assert '<div class="fs-6 fw-semibold">— / —</div>' in page


def test_page_for_an_approver(client, dataset, manager_low):
    client.force_login(manager_low)
    response = client.get(reverse(ANALYSIS_URL), CUSTOM)
    assert response.status_code == 200
    assert response.context["totals"]["filed"] == 11
    assert response.context["can_resolve"] is False


def test_page_refuses_a_rep(client, rep):
    client.force_login(rep)
    assert client.get(reverse(ANALYSIS_URL)).status_code == 403
    assert client.get(reverse(ANALYSIS_URL), {"export": "requests"}).status_code == 403


def test_page_sends_anonymous_users_to_login(client, db):
    response = client.get(reverse(ANALYSIS_URL))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse(ANALYSIS_URL)}"


def test_page_problem_type_filter(client, dataset, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse(ANALYSIS_URL), {**CUSTOM, "problem_type": dataset.delivery.pk})
    assert response.status_code == 200
    assert response.context["period"] == Period(PERIOD.start, PERIOD.end, dataset.delivery.pk)
    assert response.context["totals"]["filed"] == 3


def last_30_days() -> Period:
    today = timezone.localdate()
    return Period(today - timedelta(days=29), today)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"period": "custom"}, "Custom dates need both a first and a last day."),
        ({"period": "custom", "start": "2026-11-15"}, "Custom dates need both a first and a last day."),
        (
            {"period": "custom", "start": "2026-11-15", "end": "2026-11-02"},
            "The last day must be on or after the first day.",
        ),
        ({"period": "custom", "start": "2020-01-01", "end": "2026-11-02"}, "Choose a period of at most five years."),
        ({"period": "banana"}, None),
        ({"start": "notadate"}, None),
        ({"period": "custom", "start": "notadate", "end": "2026-11-15"}, None),
        ({"problem_type": "999999"}, None),
        ({"problem_type": "abc"}, None),
    ],
)
def test_bad_filter_input_shows_the_default_period(client, dataset, admin_user, query, message):
    client.force_login(admin_user)
    response = client.get(reverse(ANALYSIS_URL), query)
    assert response.status_code == 200
    assert response.context["period"] == last_30_days()
    if message:
        assert f"{message} Showing the last 30 days instead." in response.text


def test_last_possible_date_does_not_crash_the_page(client, dataset, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse(ANALYSIS_URL), {"period": "custom", "start": "9999-12-01", "end": "9999-12-31"})
    assert response.status_code == 200


def file_many(rep, policies: list[Policy], manager_high, count: int, first: int = 0) -> None:
    """``count`` requests spread over both policies: granted at once, approved, denied and pending."""
    for n in range(first, first + count):
        on = policies[n % 2]
        kind = n % 4
        amount = Decimal("20") if kind == 0 else Decimal("300")
        request = exception_request_file(
            rep=rep,
            facts=facts(on, customer_ref=f"Q-{n}", customer_name=f"Customer {n}", amount=amount),
            now=at(3, 8) + timedelta(hours=n),
        )
        if kind in (1, 2):
            exception_request_decide(
                request_id=request.pk,
                approver=manager_high,
                approve=kind == 1,
                note="ok",
                alternative="Store credit",
                now=request.filed_at + minutes(5 + n),
            )


def count_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(ANALYSIS_URL), CUSTOM)
    assert response.status_code == 200
    return len(queries)


def test_page_queries_do_not_grow_with_the_number_of_requests(client, rep, policy, late_delivery, manager_high):
    file_many(rep, [policy, late_delivery], manager_high, 5)
    client.force_login(manager_high)
    client.get(reverse(ANALYSIS_URL), CUSTOM)  # warm up caches (session, content types)
    with_5 = count_page_queries(client)
    file_many(rep, [policy, late_delivery], manager_high, 35, first=5)
    assert ExceptionRequest.objects.count() == 40
    with_40 = count_page_queries(client)
    assert with_40 == with_5
    assert with_5 <= 30


# CSV exports -------------------------------------------------------------------------------------


def export(client, name: str, **query) -> tuple[object, list[list[str]]]:
    response = client.get(reverse(ANALYSIS_URL), {**CUSTOM, **query, "export": name})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    text = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(text)))


SUMMARY_HEADER = [
    "filed",
    "granted by reps",
    "approved",
    "denied",
    "pending",
    "tier 1",
    "tier 2 reward",
    "tier 2 save",
    "tier 3",
    "beyond all tiers",
    "cause: Our mistake",
    "cause: Beyond the customer's control",
    "cause: Loyalty",
    "cause: Customer wants extra value",
    "money granted",
    "median time to decision",
    "90th percentile time to decision",
    "SLA kept %",
    "breaches per level",
]
MONEY_COLUMN = 1 + SUMMARY_HEADER.index("money granted")
RETURNS_ROW = ["8", "2", "3", "2", "1", "2", "2", "2", "1", "1", "4", "1", "2", "1", Decimal("2570")]
RETURNS_ROW += ["30 min", "2 h 30 min", "83.3", "level 1: 1"]
DELIVERY_ROW = ["3", "2", "1", "0", "0", "2", "0", "0", "1", "0", "1", "1", "0", "1", Decimal("540")]
DELIVERY_ROW += ["1 h 00 min", "1 h 00 min", "100.0", ""]


def money_as_decimal(rows: list[list[str]], column: int) -> list[list]:
    """The money column read as a number: its text format is asserted on its own (test_export_money_has_cents)."""
    return [rows[0]] + [[*row[:column], Decimal(row[column]), *row[column + 1 :]] for row in rows[1:]]


def test_export_policies(client, dataset, admin_user):
    client.force_login(admin_user)
    response, rows = export(client, "policies")
    assert response["Content-Disposition"] == 'attachment; filename="exceptions-policies-20261102-20261115.csv"'
    assert money_as_decimal(rows, MONEY_COLUMN) == [
        ["policy", *SUMMARY_HEADER],
        ["Return window", *RETURNS_ROW],
        ["Late delivery", *DELIVERY_ROW],
    ]


def test_export_problem_types(client, dataset, manager_low):
    client.force_login(manager_low)
    _, rows = export(client, "problem_types")
    assert money_as_decimal(rows, MONEY_COLUMN) == [
        ["problem type", *SUMMARY_HEADER],
        ["Returns", *RETURNS_ROW],
        ["Delivery", *DELIVERY_ROW],
    ]


def test_export_of_an_empty_period_is_the_header_alone(client, dataset, admin_user):
    client.force_login(admin_user)
    response = client.get(
        reverse(ANALYSIS_URL), {"period": "custom", "start": "2026-01-01", "end": "2026-01-31", "export": "policies"}
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    # Every text cell is quoted (CSV injection: tests/insights/test_csv_injection.py).
    assert text == ",".join(f'"{name}"' for name in ["policy", *SUMMARY_HEADER]) + "\r\n"


def test_export_customers(client, dataset, admin_user):
    client.force_login(admin_user)
    _, rows = export(client, "customers")
    assert rows == [
        ["customer reference", "customer", "filed", "granted", "policies"],
        ["C-1", "Maya Brooks", "2", "1", "1"],
        ["C-2", "Ola Nowak", "2", "2", "2"],
    ]


def test_export_reps(client, dataset, admin_user):
    client.force_login(admin_user)
    _, rows = export(client, "reps")
    assert money_as_decimal(rows, 2) == [
        ["rep", "granted at once", "money granted"],
        ["Rightful", "3", Decimal("190")],
        ["Rep", "1", Decimal("20")],
    ]


def test_export_approvers(client, dataset, admin_user):
    client.force_login(admin_user)
    _, rows = export(client, "approvers")
    assert rows == [
        ["approver", "decided", "approved", "denied", "within SLA", "median time to decision", "90th percentile"],
        ["Manager_High", "3", "2", "1", "3", "30 min", "1 h 00 min"],
        ["Director", "2", "1", "1", "1", "40 min", "2 h 30 min"],
        ["Manager_Low", "1", "1", "0", "1", "10 min", "10 min"],
    ]


def test_export_requests(client, dataset, admin_user):
    client.force_login(admin_user)
    _, rows = export(client, "requests")
    assert rows[0] == [
        "reference",
        "filed at",
        "customer reference",
        "customer",
        "policy",
        "problem type",
        "rep",
        "sentiment",
        "cause",
        "tier",
        "amount",
        "business days",
        "status",
        "approval level",
        "breached at level",
        "decided at",
        "decided by",
    ]
    refs = {name: r.reference for name, r in dataset.requests.items()}
    in_filing_order = ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "L1", "R8", "L2", "L3"]
    assert [row[0] for row in rows[1:]] == [refs[name] for name in in_filing_order]
    by_ref = {row[0]: row for row in rows[1:]}
    assert by_ref[refs["R6"]] == [
        refs["R6"],
        "2026-11-10T10:00:00+00:00",
        "C-1",
        "Maya Brooks",
        "Return window",
        "Returns",
        "rep",
        "Unhappy",
        "Our mistake",
        "Tier 1",
        "20.00",
        "0",
        "Denied",
        "2",
        "1",
        "2026-11-10T12:30:00+00:00",
        "director",
    ]
    assert by_ref[refs["R5"]][9:17] == [
        "Beyond all tiers",
        "2000.00",
        "0",
        "Approved",
        "2",
        "",
        "2026-11-09T10:40:00+00:00",
        "director",
    ]
    assert by_ref[refs["R7"]][9:17] == ["Tier 2 (save)", "100.00", "0", "Pending approval", "1", "", "", ""]
    assert by_ref[refs["L1"]][6:17] == [
        "rightful",
        "Amazed",
        "Customer wants extra value",
        "Tier 1",
        "30.00",
        "0",
        "Granted by rep",
        "",
        "",
        "2026-11-12T09:00:00+00:00",
        "rightful",
    ]


def test_export_follows_the_problem_type_filter(client, dataset, admin_user):
    client.force_login(admin_user)
    _, rows = export(client, "policies", problem_type=dataset.delivery.pk)
    assert money_as_decimal(rows, MONEY_COLUMN) == [["policy", *SUMMARY_HEADER], ["Late delivery", *DELIVERY_ROW]]


def test_export_money_has_cents(client, rep, admin_user, policy):
    for n, amount in enumerate(["10.10", "20.20", "0.10", "0.20"]):
        exception_request_file(
            rep=rep,
            facts=facts(policy, customer_ref=f"M-{n}", amount=Decimal(amount)),
            now=at(4, 9) + timedelta(hours=n),
        )
    client.force_login(admin_user)
    _, policies = export(client, "policies")
    _, reps = export(client, "reps")
    assert policies[1][MONEY_COLUMN] == "30.60"
    assert reps[1] == ["Rep", "4", "30.60"]


def test_csv_is_streamed_in_chunks_of_whole_rows():
    rows = [["reference", "amount"], *([f"EX-{n}", n] for n in range(4)), ["=1+1", "-2"]]
    chunks = list(csv_chunks(rows, rows_per_chunk=2))
    assert [chunk.count("\r\n") for chunk in chunks] == [2, 2, 2]
    assert list(csv.reader(io.StringIO("".join(chunks)))) == [
        ["reference", "amount"],
        ["EX-0", "0"],
        ["EX-1", "1"],
        ["EX-2", "2"],
        ["EX-3", "3"],
        ["'=1+1", "'-2"],
    ]
    assert list(csv_chunks([], rows_per_chunk=2)) == []


def test_unknown_export_is_a_bad_request(client, dataset, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse(ANALYSIS_URL), {**CUSTOM, "export": "passwords"})
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain"
    assert response.text == (
        "Unknown export “passwords”. Choose one of: problem_types, policies, customers, reps, approvers, requests."
    )


def test_export_neutralises_spreadsheet_formulas(client, rep, admin_user, policy, late_delivery):
    name = '=HYPERLINK("http://evil.example","Click")'
    for n, on in enumerate([policy, late_delivery]):
        exception_request_file(
            rep=rep, facts=facts(on, customer_ref="@X-1", customer_name=name), now=at(4, 9) + timedelta(hours=n)
        )
    client.force_login(admin_user)
    _, customers = export(client, "customers")
    assert customers[1] == ["'@X-1", "'" + name, "2", "2", "2"]
    _, requests = export(client, "requests")
    assert [row[2:4] for row in requests[1:]] == [["'@X-1", "'" + name]] * 2
