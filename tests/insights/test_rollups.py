"""The analysis' daily rollups: every figure read from them equals the figure counted live from the requests.

The reference is the live count (``rollups.counted_live()``, the code the page ran before the rollups); the
data are random requests in every status, with tiers, causes, amounts with cents, decisions, breaches and
escalation trails, filed around local midnights and across the end of British summer time (25 October 2026).
"""

from __future__ import annotations

import io
import random
import threading
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from policies.insights import figures, percentiles, rollups
from policies.insights.periods import Period, requests_in
from policies.models import ProblemType
from requests.models import (
    Cause,
    Customer,
    CustomerRollup,
    DecisionMinutesMonthRollup,
    Escalation,
    EscalationDayRollup,
    ExceptionRequest,
    PersonDayRollup,
    RequestDayRollup,
    Status,
)
from requests.services import exception_request_decide, requests_roll_up, requests_roll_up_batch
from requests.tasks import roll_up_requests
from tests.conftest import make_policy
from tests.insights.test_analysis import PERIOD, dataset, late_delivery  # noqa: F401 (fixtures)

STATUSES = (
    [Status.GRANTED] * 4
    + [Status.APPROVED] * 3
    + [Status.DENIED] * 2
    + [
        Status.WITHDRAWN,
        Status.PENDING,
        Status.ESCALATED,
        Status.WAITING_FOR_REP,
    ]
)
FIRST = datetime(2026, 10, 12, tzinfo=UTC)  # a Monday, in British summer time
DAYS = 70


def page_figures(period: Period) -> dict:
    """Every count of the page and of its CSV exports, and the decision-time percentiles of every table."""
    return {
        "overview": figures.overview(period),
        "trend": figures.weekly_trend(period),
        "customers": figures.frequent_customers(period),
        "customers_3": figures.frequent_customers(period, limit=3),
        "customers_all": figures.frequent_customers(period, limit=1000),
        "people": figures.people(period, reps_limit=1000),
        "decision_times": percentiles.decision_times(period),
    }


def live_figures(period: Period) -> dict:
    with rollups.counted_live():
        return page_figures(period)


def assert_same_figures(period: Period) -> None:
    live = live_figures(period)
    read = page_figures(period)
    for name in live:
        assert read[name] == live[name], (name, period)


def random_requests(
    rng: random.Random, *, people: list, policies: list, count: int, customers: int = 12, regulars: float = 0.5
) -> list[ExceptionRequest]:
    """``count`` random requests; a share ``regulars`` of them for three regular customers, the rest for any."""
    customers = [Customer.objects.create(external_ref=f"C-{i}", name=f"Customer {i:02d}") for i in range(customers)]
    reps, approvers = people[:2], people[2:]
    made = []
    for _ in range(count):
        # Around local midnights half the time: London's midnight is 23:00 UTC before 25 October, 00:00 after.
        day = FIRST + timedelta(days=rng.randrange(DAYS))
        filed_at = day + (
            timedelta(minutes=rng.choice([-61, -60, -59, -1, 0, 1, 59, 60]))
            if rng.random() < 0.5
            else timedelta(minutes=rng.randrange(24 * 60))
        )
        status = rng.choice(STATUSES)
        tier = rng.choice([None, 1, 2, 2, 3])
        level = rng.choice([1, 2]) if status != Status.GRANTED else rng.choice([None, None, 1])
        breached = rng.choice([None, None, 1, 2]) if level else None
        open_ = status in (Status.PENDING, Status.ESCALATED)
        decided = status in (Status.GRANTED, Status.APPROVED, Status.DENIED)
        request = ExceptionRequest.objects.create(
            customer=rng.choice(customers[:3] if rng.random() < regulars else customers),
            policy=rng.choice(policies),
            rep=rng.choice(reps),
            sentiment="neutral",
            cause=rng.choice(list(Cause)).value,
            situation="s",
            resolution_requested="r",
            alternative_offered="a",
            corrective_action="c",
            amount=Decimal(rng.randrange(0, 500_000)) / 100,
            tier_level=tier,
            tier_kind=rng.choice(["reward", "save"]) if tier == 2 else "",
            beyond_all_tiers=rng.random() < 0.1,
            status=status,
            filed_at=filed_at,
            approval_level=level if (level or open_) else None,
            due_at=filed_at + timedelta(hours=4) if (level or open_) else None,
            breached_level=breached,
            decided_at=filed_at + timedelta(minutes=rng.randrange(1, 5000)) if decided else None,
            decided_by=(rng.choice(reps) if status == Status.GRANTED else rng.choice(approvers)) if decided else None,
        )
        if open_ and not request.approval_level:
            ExceptionRequest.objects.filter(pk=request.pk).update(approval_level=1)
        for from_level in range(1, (breached or 0) + 1):
            Escalation.objects.create(
                request=request, from_level=from_level, to_level=from_level + 1, breached_at=filed_at
            )
        made.append(request)
    return made


@pytest.fixture
def random_data(rep, rep_with_right, manager_low, manager_high, director, policy, late_delivery):  # noqa: F811
    rng = random.Random(14)
    extra = make_policy(late_delivery.problem_type, name="Damaged parcel")
    made = random_requests(
        rng,
        people=[rep, rep_with_right, manager_low, manager_high, director],
        policies=[policy, late_delivery, extra],
        count=400,
    )
    return rng, made


PERIODS = [
    Period(date(2026, 10, 12), date(2026, 12, 20)),  # everything
    Period(date(2026, 10, 21), date(2026, 11, 12)),  # Wednesday to Thursday, across the end of summer time
    Period(date(2026, 10, 25), date(2026, 10, 25)),  # the 25-hour day
    Period(date(2026, 11, 5), date(2026, 11, 5)),  # one winter day
    Period(date(2026, 11, 3), date(2026, 12, 2)),  # Tuesday to Wednesday
    Period(date(2026, 12, 21), date(2026, 12, 31)),  # nothing filed
]


def _decide_some_open(rng: random.Random, approvers: list) -> list[int]:
    """Decide open requests behind the rollups' back (a decision after the last catch-up)."""
    opened = list(ExceptionRequest.objects.filter(status__in=[Status.PENDING, Status.ESCALATED]).order_by("pk"))
    chosen = opened[::2]
    for request in chosen:
        ExceptionRequest.objects.filter(pk=request.pk).update(
            status=rng.choice([Status.APPROVED, Status.DENIED]),
            decided_by=rng.choice(approvers),
            decided_at=request.filed_at + timedelta(minutes=30),
        )
    return [request.pk for request in chosen]


def test_figures_from_the_rollups_equal_the_live_figures(random_data, manager_high, director):
    rng, _ = random_data
    returns = ProblemType.objects.get(slug="returns")
    delivery = ProblemType.objects.exclude(pk=returns.pk).get()
    periods = [*PERIODS, *(Period(p.start, p.end, pt.pk) for p in PERIODS[:3] for pt in (returns, delivery))]

    assert requests_roll_up(batch_size=37) > 0  # several batches
    assert RequestDayRollup.objects.exists() and EscalationDayRollup.objects.exists()
    assert PersonDayRollup.objects.exists() and CustomerRollup.objects.exists()
    assert DecisionMinutesMonthRollup.objects.filter(month=date(2026, 11, 1)).exists()
    assert not ExceptionRequest.objects.filter(rolled_up=True, status__in=["pending", "escalated"]).exists()
    decided_late = _decide_some_open(rng, [manager_high, director])
    assert decided_late and not ExceptionRequest.objects.filter(pk__in=decided_late, rolled_up=True).exists()

    for zone in ["Europe/London", "Europe/Lisbon", "Africa/Abidjan", "America/New_York", "Asia/Tokyo"]:
        with timezone.override(zoneinfo.ZoneInfo(zone)):
            for period in periods:
                assert_same_figures(period)
    # And once the late decisions are rolled up too.
    requests_roll_up()
    assert ExceptionRequest.objects.filter(pk__in=decided_late, rolled_up=True).count() == len(decided_late)
    for period in periods:
        assert_same_figures(period)


def test_the_rollups_are_read_when_the_reader_keeps_the_portals_days(random_data):
    requests_roll_up()
    for zone, used in [
        ("Europe/London", True),
        ("Europe/Lisbon", True),  # the same midnights as London, all year
        ("Africa/Abidjan", True),  # UTC: London's midnights in winter
        ("America/New_York", False),
        ("Asia/Tokyo", False),
    ]:
        with timezone.override(zoneinfo.ZoneInfo(zone)), CaptureQueriesContext(connection) as queries:
            figures.overview(Period(date(2026, 11, 2), date(2026, 11, 29)))
        assert any("rollup" in query["sql"] for query in queries) is used, zone
    # The decision times: November (whole in the period) from its rollup, the days around it live.
    for zone, used in [("Europe/London", True), ("America/New_York", False)]:
        with timezone.override(zoneinfo.ZoneInfo(zone)), CaptureQueriesContext(connection) as queries:
            percentiles.decision_times(Period(date(2026, 10, 20), date(2026, 12, 3)))
        assert any("decisionminutesmonthrollup" in query["sql"] for query in queries) is used, zone
    with CaptureQueriesContext(connection) as queries:  # no whole month: all live
        percentiles.decision_times(Period(date(2026, 11, 2), date(2026, 11, 29)))
    assert not any("decisionminutesmonthrollup" in query["sql"] for query in queries)
    # In summer Africa/Abidjan's midnight is an hour after London's: counted live.
    with timezone.override(zoneinfo.ZoneInfo("Africa/Abidjan")):
        assert not rollups.usable(Period(date(2026, 10, 12), date(2026, 11, 29)))
        assert not rollups.usable(Period(date(2026, 11, 2), date(2026, 11, 29)), cuts=[date(2026, 10, 19)])


def test_rolling_up_twice_counts_once(random_data):
    first = requests_roll_up()
    tables = [RequestDayRollup, EscalationDayRollup, PersonDayRollup, CustomerRollup]
    snapshot = [sorted(map(str, model.objects.values_list())) for model in tables]
    assert requests_roll_up() == 0
    assert roll_up_requests() == 0  # the beat's task
    assert [sorted(map(str, model.objects.values_list())) for model in tables] == snapshot
    final = ExceptionRequest.objects.filter(status__in=["granted", "approved", "denied", "withdrawn"])
    assert first == final.count() == final.filter(rolled_up=True).count()
    # Withdrawn requests are marked, never counted; open ones wait.
    counted = final.exclude(status="withdrawn").count()
    assert sum(RequestDayRollup.objects.values_list("filed", flat=True)) == counted
    assert not ExceptionRequest.objects.filter(rolled_up=True, status__in=["pending", "escalated", "waiting_for_rep"])


def test_a_failed_batch_rolls_back_both_sides(random_data, monkeypatch):
    from requests.services import rollups as service

    calls = []

    def fail_on_the_people(model, keys, rows):
        if model is PersonDayRollup:
            raise RuntimeError("crash mid-batch")
        calls.append(model)
        return original(model, keys, rows)

    original = service._add_into
    monkeypatch.setattr(service, "_add_into", fail_on_the_people)
    with pytest.raises(RuntimeError):
        requests_roll_up_batch()
    assert calls  # the request rows were added, then rolled back
    assert not RequestDayRollup.objects.exists()
    assert not ExceptionRequest.objects.filter(rolled_up=True).exists()


def test_a_decision_after_the_roll_up_is_live_then_rolled_up_without_changing_a_figure(dataset, manager_low):  # noqa: F811
    requests_roll_up()
    before = page_figures(PERIOD)
    assert before == live_figures(PERIOD)
    r7 = dataset.requests["R7"]  # still pending
    exception_request_decide(
        request_id=r7.pk, approver=manager_low, approve=True, note="ok", now=r7.filed_at + timedelta(minutes=5)
    )
    r7.refresh_from_db()
    assert r7.status == Status.APPROVED and not r7.rolled_up
    decided = page_figures(PERIOD)
    assert decided == live_figures(PERIOD)
    assert decided["overview"]["totals"]["approved"] == before["overview"]["totals"]["approved"] + 1
    assert decided["overview"]["totals"]["pending"] == before["overview"]["totals"]["pending"] - 1
    history = r7.history.count()
    assert requests_roll_up() == 1
    r7.refresh_from_db()
    assert r7.rolled_up
    assert page_figures(PERIOD) == decided
    # Marking it added no history row: derived bookkeeping, not a change to the request.
    assert r7.history.count() == history


@pytest.mark.django_db(transaction=True)
def test_two_catch_ups_at_once_count_each_request_once(rep, rep_with_right, manager_low, manager_high, policy):
    rng = random.Random(3)
    made = random_requests(rng, people=[rep, rep_with_right, manager_low, manager_high], policies=[policy], count=300)
    counted = sum(1 for r in made if r.status in ("granted", "approved", "denied"))
    barrier = threading.Barrier(2)
    marked: list[int] = []
    errors: list[BaseException] = []

    def catch_up() -> None:
        barrier.wait()
        try:
            marked.append(requests_roll_up(batch_size=20))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=catch_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(marked) == ExceptionRequest.objects.filter(rolled_up=True).count()
    assert sum(RequestDayRollup.objects.values_list("filed", flat=True)) == counted
    assert sum(CustomerRollup.objects.values_list("filed", flat=True)) == counted
    assert Escalation.objects.filter(
        request__rolled_up=True, request__status__in=["granted", "approved", "denied"]
    ).count() == sum(EscalationDayRollup.objects.values_list("n", flat=True))
    with rollups.counted_live():
        live = figures.overview(PERIODS[0])
    assert figures.overview(PERIODS[0]) == live


def test_the_catch_up_runs_on_beat_every_minute(settings):
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == roll_up_requests.name]
    assert roll_up_requests.name == "requests.tasks.roll_up_requests"
    assert len(entries) == 1 and entries[0]["schedule"] == 60.0


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_the_most_frequent_askers_found_from_the_bounds_are_the_live_ones(
    rep, rep_with_right, manager_low, manager_high, policy, limit
):
    people = [rep, rep_with_right, manager_low, manager_high]
    random_requests(random.Random(5), people=people, policies=[policy], count=400, customers=80, regulars=0.25)
    requests_roll_up()
    period = PERIODS[0]  # the whole history: the bounds are tight, the search counts few customers
    with CaptureQueriesContext(connection) as queries:
        found = figures._most_frequent_by_bounds(period, requests_in(period), limit)
    assert found is not None
    with rollups.counted_live():
        live = figures.frequent_customers(period, limit=limit)
    assert [(r["customer"], r["filed"], r["granted"]) for r in found] == [
        (r["customer_id"], r["filed"], r["granted"]) for r in live
    ]
    assert len(queries) <= 4


def test_rebuilding_the_rollups_keeps_every_figure(random_data, settings):
    """rollups_rebuild (for a change of TIME_ZONE): emptied and every request unmarked in one go, the figures
    counted live meanwhile, then counted again into the days of the new time zone."""
    requests_roll_up()
    period = PERIODS[0]
    before = (figures.overview(period), figures.people(period), figures.frequent_customers(period))
    out = io.StringIO()
    call_command("rollups_rebuild", "--reset-only", stdout=out)
    assert "requests to count again" in out.getvalue()
    assert not ExceptionRequest.objects.filter(rolled_up=True).exists()
    rollup_tables = (RequestDayRollup, EscalationDayRollup, PersonDayRollup, CustomerRollup, DecisionMinutesMonthRollup)
    assert not any(m.objects.exists() for m in rollup_tables)
    assert (figures.overview(period), figures.people(period), figures.frequent_customers(period)) == before

    settings.TIME_ZONE = "America/New_York"  # the portal moved: its days are New York's now
    call_command("rollups_rebuild", stdout=io.StringIO())
    final = ExceptionRequest.objects.filter(status__in=["granted", "approved", "denied", "withdrawn"])
    assert final.filter(rolled_up=False).count() == 0
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        assert rollups.usable(period)
        assert_same_figures(period)
        assert_same_figures(Period(date(2026, 11, 3), date(2026, 12, 2)))
