"""The approver's queue at scale: its deadline column and index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection

from requests.models import ExceptionRequest, Status
from requests.selectors import queue_filtered, queue_for
from requests.services import (
    exception_request_answer,
    exception_request_ask,
    exception_request_decide,
    exception_request_file,
)
from tests.conftest import facts

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


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


def test_first_page_walks_the_queue_index_without_sorting(rep, policy, manager_high):
    for ref in "ABC":
        file_pending(rep, policy, ref)
    plan = _plan(queue_for(user=manager_high)[:25])
    assert "request_queue_due" in plan
    assert "TEMP B-TREE" not in plan  # SQLite: no sort of every open request
    assert "Sort" not in plan  # PostgreSQL


def test_overdue_filter_reads_a_range_of_the_queue_index(rep, policy, manager_high):
    file_pending(rep, policy, "A")
    rows = queue_filtered(queue_for(user=manager_high), overdue=True, now=NOW)
    plan = _plan(rows[:25])
    assert "request_queue_due" in plan
    if connection.vendor == "sqlite":
        assert "open_due_at>? AND open_due_at<?" in plan
