"""Filing for a new customer: on PostgreSQL the customer, the request, their creation history rows and the
approvers' arrival notices are written in one statement (services.filing, with exceptions_portal.bulk.InsertChain);
elsewhere through the ORM. Either way the rows are those that filing through the ORM (looking the customer up,
creating them) writes, row for row."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from policies.selectors import policy_with_rules
from requests.models import Customer, ExceptionRequest, Notification, Status
from requests.services import FilingRefused, exception_request_file, exception_request_file_once, filing
from tests.conftest import facts, form_data

# Differ from one filing to the next by construction.
IDENTITY = {"id", "reference", "customer", "customer_id", "filing_token", "history_id", "request", "request_id"}


def _row(instance) -> dict:
    return {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name not in IDENTITY and field.attname not in IDENTITY
    }


def _without_reference(values: dict, request: ExceptionRequest) -> dict:
    return {
        key: value.replace(request.reference, "EX") if isinstance(value, str) else value
        for key, value in values.items()
    }


def _written(request: ExceptionRequest) -> dict:
    """Everything stored for ``request`` and its customer, less what identifies them."""
    stored = ExceptionRequest.objects.get(pk=request.pk)
    customer = Customer.objects.get(pk=stored.customer_id)
    return {
        "request": _row(stored),
        "request history": [_row(row) for row in stored.history.all()],
        "customer": {**_row(customer), "created_at": None, "external_ref": None, "ref_key": None},
        "customer history": [
            {**_row(row), "created_at": None, "history_date": None, "external_ref": None, "ref_key": None}
            for row in customer.history.all()
        ],
        "notifications": sorted(
            (
                _without_reference(_row(row), stored) | {"created_at": None}
                for row in Notification.objects.filter(request=stored)
            ),
            key=lambda row: row["user_id"],
        ),
    }


# Text the statement must carry exactly as typed (its values are parameters, never part of its text).
AWKWARD = {
    "customer_name": "Seán O'Brien-\\Núñez",
    "situation": "It's 100% broken; %s and $1 are not placeholders -- nor */ /* 'quote' \\ \" ✓",
    "corrective_action": "E'\\x41' ; DROP TABLE requests_customer; --",
}


@pytest.mark.parametrize("amount", ["20.00", "300.00"])
def test_a_new_customer_is_filed_in_one_statement_with_the_rows_the_orm_writes(rep, policy, amount):
    now = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        one = exception_request_file(
            rep=rep,
            facts=facts(policy, customer_ref="NEW-1", amount=Decimal(amount), **AWKWARD),
            now=now,
        )
    # Through the ORM (as on SQLite, and for a known customer): looked up, found nobody, inserted.
    orm = filing._file(
        rep=rep,
        facts=facts(policy, customer_ref="NEW-2", amount=Decimal(amount), **AWKWARD),
        now=now,
        filing_token=None,
    )
    written = ExceptionRequest.objects.get(pk=one.pk)
    assert (written.customer.name, written.situation, written.corrective_action) == tuple(AWKWARD.values())
    assert one.status == orm.status == (Status.GRANTED if amount == "20.00" else Status.PENDING)
    assert _written(one) == _written(orm)
    inserts = [query["sql"] for query in captured.captured_queries if "INSERT INTO" in query["sql"]]
    if connection.vendor == "postgresql":
        assert len(inserts) == 1 and inserts[0].startswith("WITH customer AS (INSERT INTO")
    else:
        assert len(inserts) == 4 + (amount == "300.00")  # the customer, the request, a history row each, the notices
    # What the caller gets is what was stored: the view redirects to it and says its reference.
    stored = ExceptionRequest.objects.get(pk=one.pk)
    assert (one.reference, one.customer_id, one.customer.created_at) == (
        stored.reference,
        stored.customer_id,
        stored.customer.created_at,
    )
    assert not one._state.adding and not one.customer._state.adding
    told = list(Notification.objects.filter(request=stored).order_by("user_id"))
    assert (len(told) > 0) == (amount == "300.00")
    assert all(row.text.startswith(f"{stored.reference} waits for your decision") for row in told)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("amount", ["20.00", "300.00"])
def test_outside_any_transaction_the_filing_is_whole_or_nothing(client, rep, policy, amount):
    """Through the form, as in production: no test transaction around it (on PostgreSQL the one statement is
    the whole filing, with no transaction of its own)."""
    client.force_login(rep)
    token = str(uuid.uuid4())
    data = form_data(policy, customer_ref="AUTO-1", amount=amount, filing_token=token)
    response = client.post(reverse("requests:new"), data)
    filed = ExceptionRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("requests:detail", args=[filed.pk])
    history = list(filed.history.values_list("history_type", "history_user_id", "history_change_reason"))
    reason = "Filed and granted at once by the rep" if amount == "20.00" else "Filed: pending at approval level 1"
    assert history == [("+", rep.pk, reason)]
    customer_history = list(
        filed.customer.history.values_list("history_type", "history_user_id", "history_change_reason")
    )
    assert customer_history == [("+", rep.pk, "New customer, named when a request was filed")]
    # The same form again (Back and resubmit): the unique token refuses the second request; the first is shown.
    again = client.post(reverse("requests:new"), data)
    assert again.status_code == 302 and again["Location"] == response["Location"]
    assert ExceptionRequest.objects.count() == 1 and Customer.objects.count() == 1


def test_a_refused_filing_writes_nothing_not_even_the_new_customer(rep, policy):
    policy_with_rules(policy.pk)  # cached: the change below must reach it all the same
    policy.active = False
    policy.save()
    with pytest.raises(FilingRefused):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="NEW-9"))
    assert Customer.objects.count() == 0 and ExceptionRequest.objects.count() == 0
    assert Customer.history.count() == 0 and ExceptionRequest.history.count() == 0


def test_the_same_new_customer_filed_twice_at_once_is_one_customer_with_the_second_a_repeat(rep, policy):
    """The second filing's form also found nobody: its insert finds the customer and it files as for theirs."""
    first, _ = exception_request_file_once(
        rep=rep, facts=facts(policy, customer_ref="TWIN-1"), filing_token=uuid.uuid4()
    )
    second, _ = exception_request_file_once(
        rep=rep, facts=facts(policy, customer_ref="twin-1"), filing_token=uuid.uuid4()
    )
    assert Customer.objects.count() == 1 and second.customer_id == first.customer_id
    assert second.is_repeat and second.status == Status.PENDING
    assert Customer.history.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one statement is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_filed_again_and_again_the_statement_is_planned_once_and_writes_each_filing_right(rep, policy):
    """Past psycopg's threshold (5) the same chain is a prepared statement: the rows stay right, each its own."""
    connection.close()  # a connection of this test's own: what it prepared is all it holds
    filed = [
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"AGAIN-{n}", amount=Decimal(amount)))
        for n in range(7)
        for amount in ("20.00", "300.00")
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH customer AS (INSERT%'")
        assert cursor.fetchone()[0] == 2  # granted, and pending with its two arrival notices
    for request in filed:
        stored = ExceptionRequest.objects.select_related("customer").get(pk=request.pk)
        assert (stored.reference, stored.customer.external_ref, stored.status) == (
            request.reference,
            request.customer.external_ref,
            request.status,
        )
        assert stored.history.count() == 1
    assert Notification.objects.filter(request__in=[r.pk for r in filed if r.status == Status.PENDING]).count() == 14


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one statement is PostgreSQL's")
def test_a_value_too_long_for_its_column_is_refused_not_cut(rep, policy):
    from django.db import DataError

    long_name = "N" * 201  # the column holds 200: the form says so; a service caller gets the database's error
    with pytest.raises(DataError):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="LONG-1", customer_name=long_name))
    assert not Customer.objects.filter(external_ref="LONG-1").exists()
