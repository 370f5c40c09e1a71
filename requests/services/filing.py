"""Filing: the facts a rep gives, the customer they name, what filing would decide, and the filing itself."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from exceptions_portal.bulk import InsertChain
from policies.models import Policy
from policies.routing import Outcome, RoutingDecision
from policies.selectors import policies_with_rules, policy_with_rules
from requests import notifications, sla, webhooks
from requests.authority import stand_ins_of
from requests.models import Customer, ExceptionRequest, Notification, Status
from requests.references import customer_ref_key, customer_ref_problem, names_differ
from requests.selectors import calendar_spec, customer_for_reference, routing_decision_for
from requests.services._common import check_review_on_commit, check_sla_on_time, policy_version
from requests.services.customer_message import draft_grant_message
from requests.services.errors import (
    CustomerNameConflict,
    CustomerRefused,
    FilingRefused,
    FormAlreadyUsed,
    InvalidInput,
)


@dataclass(frozen=True)
class FilingFacts:
    customer_ref: str
    customer_name: str
    policy_id: int
    sentiment: str
    cause: str
    situation: str
    resolution_requested: str
    amount: Decimal
    business_days: int
    supplier_exception: bool
    alternative_offered: str
    corrective_action: str
    waived_controls: tuple[str, ...] = ()


def customer_name_conflict(customer: Customer, name: str) -> str | None:
    """The refusal when a name typed for a known reference names someone else; None when it fits."""
    if not names_differ(customer.name, name):
        return None
    return (
        f"{customer.external_ref} is the reference of {customer.name}, not of {name.strip()}. "
        f"Check the reference, or leave the name empty to file for {customer.name}."
    )


def customer_get_or_create(*, external_ref: str, name: str, created_by: AbstractBaseUser | None = None) -> Customer:
    """The customer of a reference, created when new. Race-free: of two filings that create the same new
    customer at once (in any spelling with the same key), one inserts and the other finds that row.

    Raises when the reference is empty, when a new customer has no name, or when the name given for a
    known reference is someone else's (nothing is changed then)."""
    return _customer_get_or_create(external_ref=external_ref, name=name, created_by=created_by)[0]


NEW_CUSTOMER_REASON = "New customer, named when a request was filed"


def _checked_reference(external_ref: str) -> str:
    """The customer reference as stored (stripped); refused when it breaks the reference rule."""
    external_ref = external_ref.strip()
    problem = customer_ref_problem(external_ref, typed=False)
    if problem:
        raise CustomerRefused(problem)
    return external_ref


def _new_customer(*, external_ref: str, name: str) -> Customer:
    """A customer to insert for a reference nobody has (``external_ref`` stripped and checked); not saved.
    Refused when they have no name."""
    if not name.strip():
        raise CustomerRefused(f"Customer {external_ref} is new: give their name so that we can create them.")
    return Customer(external_ref=external_ref, ref_key=customer_ref_key(external_ref), name=name.strip())


def _customer_get_or_create(
    *, external_ref: str, name: str, created_by: AbstractBaseUser | None
) -> tuple[Customer, bool]:
    """``customer_get_or_create``, and whether this call created the customer."""
    external_ref = _checked_reference(external_ref)
    key = customer_ref_key(external_ref)
    customer = Customer.objects.filter(ref_key=key).first()
    created = False
    if customer is None:
        try:
            # A savepoint: the loser of a race (unique ref_key) rolls back only this insert, not the filing.
            with transaction.atomic():
                customer = _new_customer(external_ref=external_ref, name=name)
                customer._history_user = created_by
                customer._change_reason = NEW_CUSTOMER_REASON
                customer.save(force_insert=True)
            created = True
        except IntegrityError:
            # PostgreSQL waits for the winner to commit before it reports the conflict, so the row is there.
            # (A row bulk-inserted without its key conflicts on the reference as typed: found by that.)
            customer = (
                Customer.objects.filter(ref_key=key).first()
                or Customer.objects.filter(external_ref=external_ref).first()
            )
            if customer is None:
                raise
    conflict = customer_name_conflict(customer, name)
    if conflict:
        raise CustomerNameConflict(conflict)
    return customer, created


def exception_request_file_once(
    *,
    rep: AbstractBaseUser,
    facts: FilingFacts,
    filing_token: uuid.UUID,
    now: datetime | None = None,
) -> tuple[ExceptionRequest, bool]:
    """File the form that carries ``filing_token`` once: the request and True when this call filed it;
    the request the token already filed and False when the same form comes again (Back and resubmit,
    a double click, a retried POST), also when both posts arrive at the same moment."""
    earlier = _filed_with_token(rep=rep, filing_token=filing_token)
    if earlier is not None:
        return earlier, False
    try:
        filed = exception_request_file(rep=rep, facts=facts, now=now, filing_token=filing_token)
        return filed, True
    except IntegrityError:
        # The unique token: a concurrent post of the same form committed first (the filing rolled back).
        earlier = _filed_with_token(rep=rep, filing_token=filing_token)
        if earlier is None:
            raise
        return earlier, False


def _filed_with_token(*, rep: AbstractBaseUser, filing_token: uuid.UUID) -> ExceptionRequest | None:
    earlier = ExceptionRequest.objects.filter(filing_token=filing_token).first()
    if earlier is not None and earlier.rep_id != rep.pk:
        raise FormAlreadyUsed("This form was already used by someone else: open a new form.")
    return earlier


def exception_request_file(
    *,
    rep: AbstractBaseUser,
    facts: FilingFacts,
    now: datetime | None = None,
    filing_token: uuid.UUID | None = None,
) -> ExceptionRequest:
    """File a request: validate, route and save in one transaction.

    On PostgreSQL a request naming a customer (a reference and a name) is first filed as for a new customer, in
    one statement (``_file_for_new_customer``); when the customer exists that writes nothing, and it is filed
    as for theirs (``_file``), as on every other engine.

    Preconditions: ``facts`` passed form validation (bounds, choices). Raises
    ``FilingRefused`` with the routing's reasons when the policy is inactive, a
    control would be waived, or nobody could decide it; nothing is saved then.
    """
    now = now or timezone.now()
    if connection.vendor == "postgresql" and facts.customer_name.strip():
        filed = _file_for_new_customer(rep=rep, facts=facts, now=now, filing_token=filing_token)
        if filed is not None:
            return filed
    return _file(rep=rep, facts=facts, now=now, filing_token=filing_token)


def _file(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime, filing_token: uuid.UUID | None
) -> ExceptionRequest:
    """Filing through the ORM, for any customer on any engine: the customer looked up (and created when new,
    race-free), locked, their earlier exceptions counted."""
    with transaction.atomic():
        policy = _policy(facts)
        customer, created = _customer_get_or_create(
            external_ref=facts.customer_ref, name=facts.customer_name, created_by=rep
        )
        if not created:
            # Lock the customer: two requests for the same customer filed at once must
            # see each other, or the one-time rule could be bypassed by a double click.
            # (A customer this transaction inserted is locked already: no other filing sees it before the
            # commit, and one inserting the same reference waits for it; nor has it any earlier exception.)
            customer = Customer.objects.select_for_update().get(pk=customer.pk)
        # Whoever stands in for the rep today (the portal's date, as for every rule of authority; ``now`` may be
        # back-dated demo data), read once: routing does not count them, nor are they told it arrived.
        rep_stand_ins = stand_ins_of(rep_ids=[rep.pk])[rep.pk]
        decision = routing_decision_for(
            rep=rep, policy=policy, customer=customer, facts=facts, rep_stand_ins=rep_stand_ins, new_customer=created
        )
        if decision.outcome is Outcome.REFUSED:
            transaction.set_rollback(True)
            raise FilingRefused(decision.reasons)
        request = _new_request(
            rep=rep,
            facts=facts,
            policy=policy,
            customer=customer,
            decision=decision,
            now=now,
            filing_token=filing_token,
        )
        request.save(force_insert=True)
        _after_filing(request, policy=policy, now=now, rep_stand_ins=rep_stand_ins)
    return request


def _file_for_new_customer(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime, filing_token: uuid.UUID | None
) -> ExceptionRequest | None:
    """PostgreSQL, filed as for a new customer: the same rules and rows as ``_file``, with the customer, the
    request, their creation history rows and the arrival notices written in one statement (no lookup, no
    savepoint, no lock: a new customer has no earlier exception, and nobody else sees it before this statement
    commits). None, having written nothing, when the reference is a known customer's (the customer insert
    finds theirs, also when it was created a moment ago): the caller files as for theirs, locked, their
    exceptions counted.

    No transaction of its own when the filing is that one statement (granted, no webhook endpoint to record
    deliveries for): the statement is atomic. Otherwise the notifications or deliveries join it in one."""
    policy = _policy(facts)
    customer = _new_customer(external_ref=_checked_reference(facts.customer_ref), name=facts.customer_name)
    rep_stand_ins = stand_ins_of(rep_ids=[rep.pk])[rep.pk]
    decision = routing_decision_for(
        rep=rep, policy=policy, customer=customer, facts=facts, rep_stand_ins=rep_stand_ins, new_customer=True
    )
    if decision.outcome is Outcome.REFUSED:
        return None  # refused as it stands: ``_file`` says why, with the customer as they are (known, or not)
    request = _new_request(
        rep=rep, facts=facts, policy=policy, customer=customer, decision=decision, now=now, filing_token=filing_token
    )
    told = notifications.arrivals(request, rep_stand_ins=rep_stand_ins) if request.status == Status.PENDING else []
    alone = not webhooks.endpoints_active() and not connection.in_atomic_block
    with nullcontext() if alone else transaction.atomic():
        chain = InsertChain()
        chain.insert("customer", customer, ignore_conflicts=True)
        # Dated when the row is, as the ORM dates it (created_at, set as the insert was prepared), not ``now``.
        created = customer.created_at
        chain.history(
            "customer_history", of="customer", model=Customer, user_id=rep.pk, date=created, reason=NEW_CUSTOMER_REASON
        )
        chain.insert("request", request, source="customer", columns_from_source={"customer_id": "id"})
        chain.history(
            "request_history",
            of="request",
            model=ExceptionRequest,
            user_id=rep.pk,
            date=now,
            reason=request._change_reason,
        )
        for index, notification in enumerate(told):
            chain.insert(f"told_{index}", notification, source="request", columns_from_source={"request_id": "id"})
        told_ids = ", ".join(f'(SELECT "id" FROM "told_{index}")' for index in range(len(told)))
        row = chain.execute(
            f'SELECT "customer"."id", "customer"."created_at", ARRAY[{told_ids}]::bigint[] FROM "customer"'
        )
        if row is None:
            return None
        customer.pk, customer.created_at, told_pks = row
        for notification, pk in zip(told, told_pks, strict=True):
            notification.pk, notification._state.adding = pk, False
        customer._state.adding = request._state.adding = False
        request.customer = customer
        _after_filing(request, policy=policy, now=now, rep_stand_ins=rep_stand_ins, told=told)
    return request


def _policy(facts: FilingFacts) -> Policy:
    policy = policy_with_rules(facts.policy_id)
    if policy is None:
        raise FilingRefused(("That policy does not exist any more. Pick another policy.",))
    return policy


def _new_request(
    *,
    rep: AbstractBaseUser,
    facts: FilingFacts,
    policy: Policy,
    customer: Customer,
    decision: RoutingDecision,
    now: datetime,
    filing_token: uuid.UUID | None,
) -> ExceptionRequest:
    """The request as filed (granted at once, or pending at its level with its deadline), with its history's
    user, date and reason; not saved."""
    # The reference comes from the primary key, so it is unique under concurrent filing without a
    # counter table; taking the key first puts it in the INSERT and its creation history row alike.
    request_id = _next_request_id()
    request = ExceptionRequest(
        pk=request_id,
        reference=f"EX-{now.year}-{request_id:06d}",
        customer=customer,
        policy=policy,
        rep=rep,
        sentiment=facts.sentiment,
        cause=facts.cause,
        situation=facts.situation,
        resolution_requested=facts.resolution_requested,
        amount=facts.amount,
        business_days=facts.business_days,
        supplier_exception=facts.supplier_exception,
        alternative_offered=facts.alternative_offered,
        corrective_action=facts.corrective_action,
        tier_level=decision.tier.level if decision.tier else None,
        tier_kind=decision.tier.kind if decision.tier else "",
        beyond_all_tiers=decision.beyond_all_tiers,
        is_repeat=decision.is_repeat,
        filed_at=now,
        filing_token=filing_token,
    )
    reasons = list(decision.reasons)
    if decision.outcome is Outcome.GRANTED:
        request.status = Status.GRANTED
        request.decided_at = now
        request.decided_by = rep
        request.policy_version = policy_version(policy)
        request.customer_message = draft_grant_message(request, rep=rep)
        request._change_reason = "Filed and granted at once by the rep"
    else:
        clock = calendar_spec(policy)
        request.status = Status.PENDING
        request.approval_level = decision.approval_level
        request.level_started_at = now
        request.due_at = sla.due_at(start=now, sla_minutes=policy.sla_minutes, calendar=clock)
        request.remind_at = sla.reminder_at(
            start=now, sla_minutes=policy.sla_minutes, percent=settings.SLA_REMINDER_PERCENT, calendar=clock
        )
        # The facts, not a sentence: the page renders it in the reader's time zone (portal.routing_reason).
        reasons.append({"due_by": request.due_at.isoformat(), "sla_minutes": policy.sla_minutes})
        request._change_reason = f"Filed: pending at approval level {decision.approval_level}"
    request.routing_reasons = reasons
    request._history_user = rep
    request._history_date = now  # the trail shows when it happened, also for back-dated demo data
    return request


def _after_filing(
    request: ExceptionRequest,
    *,
    policy: Policy,
    now: datetime,
    rep_stand_ins: frozenset[int],
    told: list[Notification] | None = None,
) -> None:
    """What follows a filing in its transaction: the review check of a grant, or the SLA timers and the
    approvers told of a pending request (``told``: their notifications, saved with the request); the webhook
    deliveries."""
    if request.status == Status.GRANTED:
        check_review_on_commit(policy.pk)
    else:
        check_sla_on_time(request, now=now)
        if told is None:
            notifications.request_filed(request, rep_stand_ins=rep_stand_ins)
        else:
            notifications.emails_on_commit(told)
    webhooks.emit(("filed", "granted" if request.status == Status.GRANTED else "pending"), request)


def exception_request_preview(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime | None = None
) -> tuple[RoutingDecision, datetime | None]:
    """What filing would decide now, and the deadline if pending. Writes nothing."""
    now = now or timezone.now()
    policy = policies_with_rules().filter(pk=facts.policy_id).first()
    if policy is None:
        raise InvalidInput("Pick a policy.")
    customer = customer_for_reference(facts.customer_ref)
    decision = routing_decision_for(rep=rep, policy=policy, customer=customer, facts=facts)
    due = None
    if decision.outcome is Outcome.PENDING:
        due = sla.due_at(start=now, sla_minutes=policy.sla_minutes, calendar=calendar_spec(policy))
    return decision, due


def _next_request_id() -> int:
    """The next request's primary key, taken before its INSERT."""
    table = connection.ops.quote_name(ExceptionRequest._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [ExceptionRequest._meta.db_table])
        else:
            # SQLite: the filing transaction holds the database's write lock from its start (IMMEDIATE
            # transactions), so no other writer can take this number before the INSERT.
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]
