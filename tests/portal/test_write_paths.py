"""Every writer leaves an audit trail: one history row per record it changes, saying who and why.

The catalogue of writers (a new writer is added here first): filing, deciding, claiming, asking,
answering, sending the customer message, withdrawing, attaching and removing evidence, an out-of-office created and ended, the SLA
sweep's reminder, escalation and top-level alert, the review check and its resolution, and seed_demo.
Exempt, and tested to write no history row: the analysis' catch-up (services.rollups), which adds final
requests to derived counters and marks them ``rolled_up`` (a field the history leaves out); no fact changes.
Each case prepares a request or a policy, runs the writer once, and the test reads every history row
the writer added, in every model that keeps history.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import models
from simple_history.models import HistoricalChanges

from policies.insights.review import policy_review_check, policy_review_resolve
from policies.models import Policy, ReviewFlag
from requests.authority import portal_today
from requests.escalation import sla_sweep
from requests.models import Attachment, Customer, Delegation, ExceptionRequest
from requests.services import (
    attachment_add,
    attachment_remove,
    customer_message_save,
    delegation_create,
    delegation_end,
    exception_request_answer,
    exception_request_ask,
    exception_request_claim,
    exception_request_decide,
    exception_request_file,
    exception_request_withdraw,
    requests_roll_up,
    requests_rollups_reset,
)
from tests.conftest import facts
from tests.support import FILED, at


def history_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if issubclass(model, HistoricalChanges)]


def last_history_ids() -> dict[type[models.Model], int]:
    return {
        model: model.objects.order_by("-history_id").values_list("history_id", flat=True).first() or 0
        for model in history_models()
    }


def rows_written_since(marks: dict[type[models.Model], int]) -> list:
    return [row for model, last in marks.items() for row in model.objects.filter(history_id__gt=last)]


def record_of(row) -> tuple[str, int]:
    return (row.instance_type._meta.label, row.id)


@dataclass
class World:
    """The named users, the policy and the pending request of conftest, fetched as a case needs them."""

    fixture: Callable[[str], object]

    def __getattr__(self, name: str):
        return self.fixture(name)


def _filed(w: World) -> ExceptionRequest:
    return exception_request_file(rep=w.rep, facts=facts(w.policy, customer_ref="NEW-1"), now=FILED)


def _decided(w: World) -> ExceptionRequest:
    return exception_request_decide(request_id=w.pending.pk, approver=w.manager_high, approve=True, note="Fair")


def _asked(w: World) -> ExceptionRequest:
    return exception_request_ask(request_id=w.pending.pk, approver=w.manager_high, question="Photo?", now=at(plus=5))


def _away_since_yesterday(w: World) -> Delegation:
    today = portal_today()
    return Delegation.objects.create(
        approver=w.manager_high, delegate=w.manager_low, starts_on=today - timedelta(days=1), ends_on=today
    )


def _escalated(w: World) -> ExceptionRequest:
    pending = w.pending
    sla_sweep(now=at(plus=120))
    return pending


def _two_grants_with_the_same_cause(w: World) -> Policy:
    for n in (1, 2):
        exception_request_file(rep=w.rep, facts=facts(w.policy, customer_ref=f"G-{n}", amount=Decimal("20")))
    return w.policy


def _flagged(w: World) -> ReviewFlag:
    _two_grants_with_the_same_cause(w)
    return policy_review_check(policy_id=w.policy.pk).flag


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _pdf(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


def _attached(w: World) -> Attachment:
    w.attachment_storage  # noqa: B018  (the fixture: files under a temporary directory)
    return attachment_add(request_id=w.pending.pk, user=w.rep, upload=_pdf("wrong.pdf"))


def _removed(w: World, attachment: Attachment) -> Attachment:
    pk = attachment.pk
    attachment_remove(attachment_id=pk, user=w.rep)
    attachment.pk = pk  # deleting cleared it; the history rows name the removed record by it
    return attachment


@dataclass(frozen=True)
class Writer:
    name: str
    prepare: Callable[[World], object]
    write: Callable[[World, object], models.Model]
    """Runs the writer once; returns the main record it changes."""


WRITERS = [
    Writer("file", lambda w: None, lambda w, _: _filed(w)),
    Writer("decide", lambda w: w.pending, lambda w, _: _decided(w)),
    Writer(
        "claim",
        lambda w: w.pending,
        lambda w, request: exception_request_claim(request_id=request.pk, approver=w.manager_high),
    ),
    Writer("ask", lambda w: w.pending, lambda w, _: _asked(w)),
    Writer(
        "answer",
        _asked,
        lambda w, request: exception_request_answer(request_id=request.pk, rep=w.rep, answer="Here", now=at(plus=9)),
    ),
    Writer(
        "customer message send",
        _decided,
        lambda w, request: customer_message_save(request_id=request.pk, rep=w.rep, text="Dear Maya", send=True),
    ),
    Writer(
        "withdraw",
        lambda w: w.pending,
        lambda w, request: exception_request_withdraw(request_id=request.pk, rep=w.rep, reason="Found the receipt"),
    ),
    Writer(
        "attachment add",
        lambda w: (w.attachment_storage, w.pending)[1],
        lambda w, request: attachment_add(request_id=request.pk, user=w.rep, upload=_pdf("bank.pdf")),
    ),
    Writer(
        "attachment remove",
        _attached,
        lambda w, attachment: _removed(w, attachment),
    ),
    Writer(
        "delegation create",
        lambda w: None,
        lambda w, _: delegation_create(
            approver=w.manager_high,
            delegate=w.manager_low,
            starts_on=portal_today(),
            ends_on=portal_today() + timedelta(days=2),
        ),
    ),
    Writer(
        "delegation end",
        _away_since_yesterday,
        lambda w, delegation: (delegation_end(delegation_id=delegation.pk, approver=w.manager_high), delegation)[1],
    ),
    # The policy's SLA is 120 minutes and the reminder goes at 75 % of it.
    Writer("sweep remind", lambda w: w.pending, lambda w, request: (sla_sweep(now=at(plus=90)), request)[1]),
    Writer("sweep escalate", lambda w: w.pending, lambda w, request: (sla_sweep(now=at(plus=120)), request)[1]),
    Writer("sweep alert", _escalated, lambda w, request: (sla_sweep(now=at(plus=240)), request)[1]),
    Writer(
        "review check",
        _two_grants_with_the_same_cause,
        lambda w, policy: (policy_review_check(policy_id=policy.pk), policy)[1],
    ),
    Writer(
        "review resolve",
        _flagged,
        lambda w, flag: (
            policy_review_resolve(
                flag_id=flag.pk,
                admin=w.admin_user,
                resolution=ReviewFlag.Resolution.CHANGED_POLICY,
                note="Window now 45 days",
            ).policy
        ),
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("writer", WRITERS, ids=[writer.name for writer in WRITERS])
def test_each_writer_writes_one_history_row_per_record_with_a_user_and_a_reason(
    writer, request, rep, policy, manager_low, manager_high, admin_user
):
    world = World(request.getfixturevalue)
    prepared = writer.prepare(world)
    marks = last_history_ids()

    main = writer.write(world, prepared)

    rows = rows_written_since(marks)
    per_record = Counter(record_of(row) for row in rows)
    assert per_record[(main._meta.label, main.pk)] == 1, [(row.history_type, row.history_change_reason) for row in rows]
    assert set(per_record.values()) == {1}, per_record
    assert [(record_of(row), row.history_user_id is not None, bool(row.history_change_reason)) for row in rows] == [
        (record_of(row), True, True) for row in rows
    ]


def test_filing_for_a_new_customer_records_who_created_them(rep, policy):
    request = _filed(World({"rep": rep, "policy": policy}.__getitem__))
    created = Customer.history.get(id=request.customer_id)
    assert (created.history_user, created.history_change_reason) == (
        rep,
        "New customer, named when a request was filed",
    )


@pytest.mark.django_db
def test_seed_demo_writes_every_history_row_with_a_user_and_a_reason():
    marks = last_history_ids()

    call_command("seed_demo", "--i-know-this-is-not-production", stdout=io.StringIO())

    rows = rows_written_since(marks)
    assert len({row.instance_type for row in rows}) >= 8, "the rulebook, the customers and the requests"
    assert [row for row in rows if row.history_user_id is None or not row.history_change_reason] == []
    created = Counter(record_of(row) for row in rows if row.history_type == "+")
    assert set(created.values()) == {1}


def test_the_analysis_catch_up_writes_no_history_row(rep, policy, pending, manager_high):
    _filed(World({"rep": rep, "policy": policy}.__getitem__))  # granted at once
    exception_request_decide(
        request_id=pending.pk, approver=manager_high, approve=False, note="No", alternative="Credit"
    )
    marks = last_history_ids()

    assert requests_roll_up() == 2

    assert rows_written_since(marks) == []
    assert ExceptionRequest.objects.filter(rolled_up=True).count() == 2
    # Nor does the rebuild (rollups_rebuild): both are bookkeeping of derived tables, not changes to a request.
    assert requests_rollups_reset() == 2
    assert rows_written_since(marks) == []
