"""The decision-time percentiles from counts per whole minute show exactly what the exact percentiles showed.

A percentile is only ever shown through format_duration, which floors to whole minutes. Flooring keeps the
order, so the nearest-rank percentile of the floored times is the floored exact percentile. These tests check it
against the exact, live computation (every decision's exact duration, sorted, the value at rank ceil(p * n)) over
random data: sub-minute parts, exact minute boundaries, a microsecond either side of one, negative durations
(decided "before" filing), open, withdrawn and granted requests, periods starting and ending mid-week, a
problem-type filter, readers in other time zones, a policy moved to another problem type after its decisions,
and requests decided after the figures were first read.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from math import ceil

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from exceptions_portal.formatting import format_duration
from policies.insights import exports, figures, percentiles
from policies.insights.periods import Period, requests_in
from policies.models import Policy, ProblemType
from requests.models import ExceptionRequest, Status
from requests.services import exception_request_file
from tests.conftest import facts, make_policy

SHARES = {"median": 0.5, "p90": 0.9}
MINUTE = timedelta(minutes=1)


def exact_nearest_rank(durations: list[timedelta]) -> dict[str, timedelta]:
    """The live way: the exact durations in order, the value at rank ceil(p * n)."""
    ordered = sorted(durations)
    return {label: ordered[ceil(share * len(ordered)) - 1] for label, share in SHARES.items()}


def random_duration(rng: random.Random) -> timedelta:
    kind = rng.random()
    if kind < 0.25:  # an exact minute boundary, or a microsecond either side of one
        return timedelta(minutes=rng.randint(0, 600)) + timedelta(microseconds=rng.choice([-1, 0, 0, 1]))
    if kind < 0.35:  # under a minute
        return timedelta(seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999))
    if kind < 0.4:  # negative: decided "before" it was filed (clock skew, data fixed by hand)
        return -timedelta(seconds=rng.randint(0, 300), microseconds=rng.randint(0, 999_999))
    if kind < 0.45:  # days
        return timedelta(days=rng.randint(1, 40), seconds=rng.randint(0, 86_399), microseconds=rng.randint(0, 999_999))
    return timedelta(seconds=rng.randint(0, 6 * 3600), microseconds=rng.randint(0, 999_999))


# The database's whole minutes and the page's figures ------------------------------------------------------


@pytest.fixture
def moved(problem_type) -> ProblemType:
    return ProblemType.objects.create(name="Delivery", slug="delivery")


@pytest.fixture
def random_requests(rep, policy, problem_type, moved, manager_low, manager_high, director) -> list[ExceptionRequest]:
    """About 400 requests over five weeks of November and December 2026 on three policies, two problem types;
    copies of one filed through the service, with their status, policy, approver and times set at random."""
    rng = random.Random(14)
    policies = [policy, make_policy(problem_type, name="Late refund"), make_policy(moved, name="Late delivery")]
    template = exception_request_file(rep=rep, facts=facts(policy), now=datetime(2026, 10, 1, 9, tzinfo=UTC))
    approvers = [manager_low, manager_high, director, None]  # None: the approver's account was merged away
    statuses = [Status.APPROVED] * 5 + [Status.DENIED] * 3 + [Status.GRANTED, Status.PENDING, Status.WITHDRAWN]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    made = []
    for _ in range(400):
        copy = ExceptionRequest.objects.get(pk=template.pk)
        copy.pk = copy.reference = copy.filing_token = None
        copy.policy = rng.choice(policies)
        copy.status = rng.choice(statuses)
        copy.filed_at = start + timedelta(seconds=rng.randint(0, 35 * 86_400), microseconds=rng.randint(0, 999_999))
        copy.decided_by, copy.decided_at = None, None
        if copy.status != Status.GRANTED:  # went to an approver
            copy.approval_level, copy.due_at = 1, copy.filed_at + timedelta(hours=2)
        if copy.status in (Status.APPROVED, Status.DENIED):
            copy.decided_by = rng.choice(approvers)
            # A few decided requests without a decision time: left out, as they always were.
            copy.decided_at = None if rng.random() < 0.02 else copy.filed_at + random_duration(rng)
        made.append(copy)
    return ExceptionRequest.objects.bulk_create(made)


PERIODS = [
    Period(date(2026, 11, 1), date(2026, 12, 6)),  # everything
    Period(date(2026, 11, 4), date(2026, 11, 19)),  # Wednesday to Thursday
    Period(date(2026, 11, 9), date(2026, 11, 15)),  # one week, Monday to Sunday
    Period(date(2026, 11, 14), date(2026, 11, 14)),  # one Saturday
    Period(date(2026, 11, 28), date(2026, 12, 3)),  # across the month, ending mid-week
    Period(date(2026, 1, 5), date(2026, 1, 11)),  # no request
]


def live_percentiles(period: Period) -> dict:
    """The live way, in Python: every decided request of the period with its exact duration, grouped like the page
    (by policy, by the policy's current problem type, by approver, all together), the exact nearest rank."""
    groups: dict = {
        "policy": defaultdict(list),
        "policy__problem_type": defaultdict(list),
        "decided_by": defaultdict(list),
    }
    groups[None] = defaultdict(list)
    decided = requests_in(period).filter(status__in=[Status.APPROVED, Status.DENIED], decided_at__isnull=False)
    for policy, problem_type, approver, filed_at, decided_at in decided.values_list(
        "policy", "policy__problem_type", "decided_by", "filed_at", "decided_at"
    ):
        for grouping, key in (("policy", policy), ("policy__problem_type", problem_type), ("decided_by", approver)):
            groups[grouping][key].append(decided_at - filed_at)
        groups[None][None].append(decided_at - filed_at)
    return {grouping: {key: exact_nearest_rank(d) for key, d in by_key.items()} for grouping, by_key in groups.items()}


def shown(times: dict) -> dict:
    return {
        grouping: {
            key: {label: format_duration(value) for label, value in values.items()} for key, values in groups.items()
        }
        for grouping, groups in times.items()
    }


def check_every_period(problem_types: list[ProblemType]) -> int:
    checked = 0
    for period in PERIODS:
        for problem_type in [None, *problem_types]:
            scoped = Period(period.start, period.end, problem_type_id=problem_type and problem_type.pk)
            new, live = percentiles.decision_times(scoped), live_percentiles(scoped)
            assert shown(new) == shown(live), scoped
            assert new == {
                grouping: {
                    key: {label: v // MINUTE * MINUTE for label, v in values.items()} for key, values in groups.items()
                }
                for grouping, groups in live.items()
            }
            checked += sum(len(groups) for groups in new.values())
    return checked


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_decision_times_show_what_the_exact_percentiles_show(random_requests, problem_type, moved, zone):
    with timezone.override(zone):
        assert check_every_period([problem_type, moved]) > 50


def test_a_policy_moved_to_another_problem_type_counts_under_its_current_one(random_requests, problem_type, moved):
    assert Policy.objects.filter(name="Late refund").update(problem_type=moved) == 1
    check_every_period([problem_type, moved])


def test_requests_decided_after_the_figures_were_read_count_on_the_next_read(random_requests, problem_type, moved):
    check_every_period([problem_type, moved])
    still_open = ExceptionRequest.objects.filter(status=Status.PENDING, filed_at__lt=datetime(2026, 12, 5, tzinfo=UTC))
    assert still_open.exists()
    still_open.update(status=Status.APPROVED, decided_at=F("filed_at") + timedelta(minutes=7, seconds=59))
    check_every_period([problem_type, moved])


def test_the_page_tables_and_the_csvs_show_the_live_percentiles(random_requests):
    period = PERIODS[0]
    live = shown(live_percentiles(period))
    overview = figures.overview(period)
    totals = overview["totals"]
    assert (format_duration(totals["median"]), format_duration(totals["p90"])) == tuple(live[None][None].values())
    for table, grouping, csv_rows in (
        ("by_policy", "policy", exports.policy_rows(period)),
        ("by_problem_type", "policy__problem_type", exports.problem_type_rows(period)),
    ):
        expected = [tuple(live[grouping][row["key"]].values()) for row in overview[table]]
        assert [(format_duration(r["median"]), format_duration(r["p90"])) for r in overview[table]] == expected
        assert [(row[-4], row[-3]) for row in list(csv_rows)[1:]] == expected
    approvers = figures.approver_decision_times(period)
    expected = [tuple(live["decided_by"][a["decided_by"]].values()) for a in approvers]
    assert len(expected) == 4  # three approvers and the decisions whose approver is gone
    assert [(format_duration(a["median"]), format_duration(a["p90"])) for a in approvers] == expected
    assert [(row[-2], row[-1]) for row in list(exports.approver_rows(period))[1:]] == expected


def test_whole_minutes_in_the_database_floor_exactly(random_requests):
    """The database's own floor of the exact difference, on either engine, against Python's."""
    decided = ExceptionRequest.objects.filter(decided_at__isnull=False).order_by("pk")
    minutes = decided.annotate(minutes=percentiles.WholeMinutes(F("decided_at") - F("filed_at")))
    found = list(minutes.values_list("filed_at", "decided_at", "minutes"))
    assert len(found) > 200, connection.vendor
    assert [m for _, _, m in found] == [(d - f) // MINUTE for f, d, _ in found]
    assert any((d - f) < timedelta(0) for f, d, _ in found)
    assert any((d - f) % MINUTE == timedelta(0) for f, d, _ in found)


def test_the_rank_is_ceil_p_n_for_every_size_up_to_90(rep, policy, manager_high):
    """n decisions on day n (durations 0..n-1 minutes, in random order): the median and the 90th percentile of each
    day are the values at ranks ceil(n / 2) and ceil(0.9 n), for every n, computed by the database."""
    template = exception_request_file(rep=rep, facts=facts(policy), now=datetime(2026, 10, 1, 9, tzinfo=UTC))
    rng = random.Random(90)
    made = []
    for n in range(1, 91):
        day = datetime(2026, 1, 1, 9, tzinfo=UTC) + timedelta(days=n)
        for minute in rng.sample(range(n), n):
            copy = ExceptionRequest.objects.get(pk=template.pk)
            copy.pk = copy.reference = copy.filing_token = None
            copy.status, copy.decided_by, copy.approval_level = Status.APPROVED, manager_high, 1
            copy.filed_at, copy.decided_at = day, day + timedelta(minutes=minute, seconds=30)
            made.append(copy)
    ExceptionRequest.objects.bulk_create(made)
    with timezone.override("UTC"):
        for n in range(1, 91):
            day = date(2026, 1, 1) + timedelta(days=n)
            times = percentiles.decision_times(Period(day, day))
            expected = {label: timedelta(minutes=ceil(share * n) - 1) for label, share in SHARES.items()}
            assert times["policy"] == {policy.pk: expected}, n
            assert times[None] == {None: expected}, n
            assert times["decided_by"] == {manager_high.pk: expected}, n
