"""The approver's queue at scale: its deadline column and index, and the capped count of its pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from policies.models import ApproverLevel
from requests import selectors, views
from requests.escalation import breached_requests
from requests.models import Customer, ExceptionRequest, Status
from requests.pagination import CappedPaginator
from requests.selectors import approver_queue, queue_filtered, queue_for
from requests.services import (
    exception_request_answer,
    exception_request_ask,
    exception_request_claim,
    exception_request_decide,
    exception_request_file,
)
from tests.conftest import facts, make_policy
from tests.support import FILED as NOW


def file_pending(rep, policy, ref: str, *, now: datetime = NOW, amount: str = "300") -> ExceptionRequest:
    """A tier-3 request pending at level 1 (manager_low and manager_high), due two hours after ``now``."""
    return exception_request_file(rep=rep, facts=facts(policy, customer_ref=ref, amount=Decimal(amount)), now=now)


def open_due_at(request: ExceptionRequest) -> datetime | None:
    return ExceptionRequest.objects.values_list("open_due_at", flat=True).get(pk=request.pk)


# The deadline while open ---------------------------------------------------------------------------------


def test_open_due_at_is_the_deadline_while_the_request_waits_for_an_approver(rep, policy, manager_high):
    request = file_pending(rep, policy, "A")
    assert open_due_at(request) == request.due_at

    exception_request_ask(request_id=request.pk, approver=manager_high, question="Photo?", now=NOW)
    assert open_due_at(request) is None  # waiting for the rep: out of the queue

    answered = exception_request_answer(request_id=request.pk, rep=rep, answer="Sent", now=NOW + timedelta(hours=1))
    assert open_due_at(request) == answered.due_at == request.due_at + timedelta(hours=1)

    exception_request_decide(request_id=request.pk, approver=manager_high, approve=True, note="ok")
    assert open_due_at(request) is None


def test_open_due_at_follows_a_bulk_update(rep, policy):
    request = file_pending(rep, policy, "A")
    ExceptionRequest.objects.filter(pk=request.pk).update(status=Status.ESCALATED, due_at=NOW + timedelta(days=1))
    assert open_due_at(request) == NOW + timedelta(days=1)


def test_granted_requests_have_no_open_deadline(rep, policy):
    granted = exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("20")), now=NOW)
    assert granted.status == Status.GRANTED
    assert open_due_at(granted) is None


def test_history_does_not_copy_the_derived_column():
    # The history keeps status and due_at; a copy of a generated column would cost a query per saved row.
    assert "open_due_at" not in {field.name for field in ExceptionRequest.history.model._meta.fields}


# The plan: one index walk in deadline order, on every engine ---------------------------------------------


def _plan(rows) -> str:
    if connection.vendor == "postgresql":
        # PostgreSQL would read and sort a handful of test rows; forbid both, for the test's transaction,
        # to see whether the index serves the query in its order. SQLite chooses its plan without statistics.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
    return rows.explain()


@pytest.fixture
def large_queue(monkeypatch):
    """Three requests count as a large queue, whose page walks the deadline index."""
    monkeypatch.setattr(selectors, "SMALL_QUEUE", 2)


def test_a_large_queue_walks_the_queue_index_without_sorting(rep, policy, manager_high, large_queue):
    for ref in "ABC":
        file_pending(rep, policy, ref)
    plan = _plan(queue_for(user=manager_high)[:25])
    assert "request_queue_due" in plan
    assert "TEMP B-TREE" not in plan  # SQLite: no sort of every open request
    assert "Sort" not in plan  # PostgreSQL


def test_overdue_filter_reads_a_range_of_the_queue_index(rep, policy, manager_high, large_queue):
    for ref in "ABC":
        file_pending(rep, policy, ref)
    rows = queue_filtered(queue_for(user=manager_high), overdue=True, now=NOW)
    plan = _plan(rows[:25])
    assert "request_queue_due" in plan
    if connection.vendor == "sqlite":
        assert "open_due_at>? AND open_due_at<?" in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL plans from its statistics")
def test_a_small_queue_is_read_through_its_policy_and_level(rep, policy, manager_high):
    for ref in "ABC":
        file_pending(rep, policy, ref)
    queue = approver_queue(user=manager_high)
    assert "request_policy_level_status" in queue.in_order(3)[:25].explain()
    assert "request_policy_level_status" in queue.counted[:1001].explain()


def test_a_queue_is_counted_through_its_policy_and_level_whatever_its_size(rep, policy, manager_high, large_queue):
    for ref in "ABC":
        file_pending(rep, policy, ref)
    queue = approver_queue(user=manager_high)
    if connection.vendor == "sqlite":
        assert "request_policy_level_status" in queue.counted[:1001].explain()
    assert queue.counted.count() == queue.in_order(3).count() == queue.in_order(5000).count() == 3


def _queue_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("requests:queue")).status_code == 200
    return len(captured.captured_queries)


def test_the_queue_page_runs_as_many_queries_whatever_the_queue_size_and_shape(
    client, rep, policy, problem_type, manager_low, manager_high, director, monkeypatch
):
    monkeypatch.setattr(selectors, "SMALL_QUEUE", 4)
    other = make_policy(problem_type, name="Late fee")
    ApproverLevel.objects.create(policy=other, level=1, user=manager_low, money_authority=Decimal("2500"))
    counts: dict[str, list[int]] = {"all": [], "a share": [], "nothing": []}
    for user in (manager_low, manager_high, director):  # each one's permissions, kept per process from then on
        client.force_login(user)
        _queue_page_queries(client)
    for ref in "ABCDE":  # 2 to 10 open requests: small queues, then large ones (SMALL_QUEUE is 4)
        file_pending(rep, policy, f"{ref}-1")
        file_pending(rep, other, f"{ref}-2")
        for shape, user in (("all", manager_low), ("a share", manager_high), ("nothing", director)):
            client.force_login(user)
            counts[shape].append(_queue_page_queries(client))
    assert {shape: set(found) for shape, found in counts.items()} == {
        "all": {counts["all"][0]},
        "a share": {counts["all"][0]},
        # An empty page is not read: the count said there is nothing.
        "nothing": {counts["all"][0] - 1},
    }


def test_sla_sweep_finds_breaches_on_the_queue_index(rep, policy):
    file_pending(rep, policy, "A")
    plan = _plan(breached_requests(now=NOW)[:500])
    assert "request_queue_due" in plan
    assert "TEMP B-TREE" not in plan
    assert "Sort" not in plan


# The capped count ----------------------------------------------------------------------------------------


@pytest.fixture
def twelve_customers(db):
    Customer.objects.bulk_create(Customer(external_ref=f"CAP-{n:02d}", name=f"Customer {n:02d}") for n in range(12))
    return Customer.objects.order_by("external_ref")


def test_capped_count_stops_past_the_look_ahead(twelve_customers, django_assert_num_queries):
    paginator = CappedPaginator(twelve_customers, 2, look_ahead=5)
    with django_assert_num_queries(1):
        page = paginator.get_page(1)
    assert paginator.count == 6  # one past the look-ahead: at least 6
    assert paginator.count_is_capped
    assert paginator.num_pages == 3
    assert [c.external_ref for c in page] == ["CAP-00", "CAP-01"]
    assert page.has_next()


def test_capped_count_starts_again_from_the_page_asked_for(twelve_customers):
    paginator = CappedPaginator(twelve_customers, 2, look_ahead=5)
    page = paginator.get_page(3)  # the last page the first count vouched for
    assert (paginator.count, paginator.count_is_capped, paginator.num_pages) == (10, True, 5)
    assert [c.external_ref for c in page] == ["CAP-04", "CAP-05"]
    page = paginator.get_page(5)
    assert (paginator.count, paginator.count_is_capped, paginator.num_pages) == (12, False, 6)
    page = paginator.get_page(6)
    assert [c.external_ref for c in page] == ["CAP-10", "CAP-11"]
    assert not page.has_next()


@pytest.mark.parametrize("asked", [None, "", "abc", "2.5"])
def test_capped_count_shows_the_first_page_for_a_bad_number(twelve_customers, asked):
    paginator = CappedPaginator(twelve_customers, 2, look_ahead=5)
    assert paginator.get_page(asked).number == 1
    assert paginator.count == 6


def test_capped_count_past_the_end_shows_the_real_last_page(twelve_customers):
    paginator = CappedPaginator(twelve_customers, 2, look_ahead=5)
    page = paginator.get_page(99)
    assert (page.number, paginator.count, paginator.count_is_capped) == (6, 12, False)


@pytest.mark.parametrize("asked", ["99999999999999999999", str(2**63), "-5"])
def test_capped_count_survives_absurd_page_numbers(twelve_customers, asked):
    paginator = CappedPaginator(twelve_customers, 2, look_ahead=5)
    page = paginator.get_page(asked)
    assert page.number == paginator.num_pages  # out of range: the last page, as Django's get_page does
    assert [c.external_ref for c in page]


def test_queue_page_with_an_absurd_page_number_shows_the_last_page(client, rep, policy, manager_high):
    pending = file_pending(rep, policy, "A")
    client.force_login(manager_high)
    response = client.get(reverse("requests:queue"), {"page": "99999999999999999999"})
    assert response.status_code == 200
    assert pending.reference in response.text


def test_capped_count_is_exact_within_the_look_ahead(twelve_customers):
    paginator = CappedPaginator(twelve_customers, 5, look_ahead=20)
    paginator.get_page(1)
    assert (paginator.count, paginator.count_is_capped, paginator.num_pages) == (12, False, 3)


# The queue page ------------------------------------------------------------------------------------------


@pytest.fixture
def short_pages(monkeypatch):
    """One request a page, counted two past the page shown."""
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    monkeypatch.setattr(views, "QUEUE_LOOK_AHEAD", 2)


def test_queue_says_at_least_when_the_count_is_capped_and_next_still_works(
    client, rep, policy, manager_high, short_pages
):
    filed = [file_pending(rep, policy, f"P-{n}", now=NOW + timedelta(minutes=n)) for n in range(4)]
    client.force_login(manager_high)
    url = reverse("requests:queue")

    page = client.get(url).text
    assert "Page 1 of at least 3" in page
    assert filed[0].reference in page and filed[1].reference not in page
    assert "page=2" in page

    page = client.get(url, {"page": "3"}).text
    assert "Page 3 of 4" in page and "at least" not in page
    assert filed[2].reference in page and "page=4" in page

    page = client.get(url, {"page": "4"}).text
    assert filed[3].reference in page
    assert "Next" not in page


def test_queue_counts_exactly_under_the_look_ahead(client, rep, policy, manager_high, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    for n in range(2):
        file_pending(rep, policy, f"P-{n}")
    client.force_login(manager_high)
    page = client.get(reverse("requests:queue")).text
    assert "Page 1 of 2" in page and "at least" not in page


def test_queue_filters_by_overdue_policy_and_level_with_the_open_deadline(
    client, rep, problem_type, policy, manager_high, director
):
    overdue = file_pending(rep, policy, "LATE")  # due two hours after NOW, days ago
    on_time = file_pending(rep, policy, "SOON", now=timezone.now())
    other_policy = make_policy(problem_type, name="Delivery window")
    other_policy.approver_levels.create(level=1, user=manager_high, money_authority=Decimal("2500"))
    elsewhere = file_pending(rep, other_policy, "ELSE", now=timezone.now())
    client.force_login(manager_high)
    url = reverse("requests:queue")

    page = client.get(url, {"overdue": "on"}).text
    assert overdue.reference in page
    assert on_time.reference not in page and elsewhere.reference not in page

    page = client.get(url, {"policy": other_policy.pk}).text
    assert elsewhere.reference in page and overdue.reference not in page

    page = client.get(url, {"level": "2"}).text
    assert "Nothing waits for you with these filters" in page

    page = client.get(url).text
    assert page.index(overdue.reference) < page.index(on_time.reference) < page.index(elsewhere.reference)


def test_queue_shows_who_is_on_a_request_and_marks_what_waits_for_the_rep(
    client, rep, policy, manager_low, manager_high
):
    claimed = file_pending(rep, policy, "A")
    asked = file_pending(rep, policy, "B")
    exception_request_claim(request_id=claimed.pk, approver=manager_low)
    exception_request_ask(request_id=asked.pk, approver=manager_high, question="Photo?")
    client.force_login(manager_high)
    page = client.get(reverse("requests:queue")).text
    assert claimed.reference in page and "Manager_Low" in page
    # Not hidden: listed apart, marked, outside the deadline-ordered table.
    table = page.split("<table", 1)[1]
    assert asked.reference not in table
    assert f'waiting for rep</span> <a href="/requests/{asked.pk}/">{asked.reference}</a>' in page
