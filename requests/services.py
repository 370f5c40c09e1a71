"""Writes: filing, deciding and telling the customer.

Every write goes through a function here, inside a transaction, with its audit
trail. Views, admin actions and Celery tasks call these; none repeat a rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from exceptions_portal import formatting
from exceptions_portal.celery import enqueue_on_commit, task_named
from exceptions_portal.people import display_name
from policies.models import Policy
from policies.routing import Outcome, RoutingDecision, money
from policies.selectors import calendar_spec, policies_with_rules, policy_with_rules
from requests import attachments, notifications, sla, webhooks
from requests import messages as customer_messages
from requests.authority import Authority, decision_authority, delegation_period_errors, portal_today
from requests.models import (
    OPEN_STATUSES,
    WITHDRAWABLE_STATUSES,
    Attachment,
    Customer,
    Delegation,
    ExceptionRequest,
    QuestionAnswer,
    Status,
)
from requests.references import customer_ref_key, customer_ref_problem, names_differ
from requests.selectors import (
    customer_for_reference,
    may_attach,
    may_remove_attachment,
    routing_decision_for,
)


class ExceptionRequestError(Exception):
    """A domain rule refused the change; nothing was written. The message is for people."""


class CustomerNameConflict(ExceptionRequestError):
    """A known reference was filed with another person's name."""


class FilingRefused(ExceptionRequestError):
    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


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


def customer_get_or_create(*, external_ref: str, name: str) -> Customer:
    """The customer of a reference, created when new. Race-free: of two filings that create the same new
    customer at once (in any spelling with the same key), one inserts and the other finds that row.

    Raises when the reference is empty, when a new customer has no name, or when the name given for a
    known reference is someone else's (nothing is changed then)."""
    external_ref = external_ref.strip()
    problem = customer_ref_problem(external_ref, typed=False)
    if problem:
        raise ExceptionRequestError(problem)
    key = customer_ref_key(external_ref)
    customer = Customer.objects.filter(ref_key=key).first()
    if customer is None:
        if not name.strip():
            raise ExceptionRequestError(f"Customer {external_ref} is new: give their name so that we can create them.")
        try:
            # A savepoint: the loser of a race (unique ref_key) rolls back only this insert, not the filing.
            with transaction.atomic():
                customer = Customer.objects.create(external_ref=external_ref, ref_key=key, name=name.strip())
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
    return customer


def exception_request_file_once(
    *, rep: AbstractBaseUser, facts: FilingFacts, filing_token: uuid.UUID, now: datetime | None = None
) -> tuple[ExceptionRequest, bool]:
    """File the form that carries ``filing_token`` once: the request and True when this call filed it;
    the request the token already filed and False when the same form comes again (Back and resubmit,
    a double click, a retried POST), also when both posts arrive at the same moment."""
    earlier = _filed_with_token(rep=rep, filing_token=filing_token)
    if earlier is not None:
        return earlier, False
    try:
        return exception_request_file(rep=rep, facts=facts, now=now, filing_token=filing_token), True
    except IntegrityError:
        # The unique token: a concurrent post of the same form committed first (the filing rolled back).
        earlier = _filed_with_token(rep=rep, filing_token=filing_token)
        if earlier is None:
            raise
        return earlier, False


def _filed_with_token(*, rep: AbstractBaseUser, filing_token: uuid.UUID) -> ExceptionRequest | None:
    earlier = ExceptionRequest.objects.filter(filing_token=filing_token).first()
    if earlier is not None and earlier.rep_id != rep.pk:
        raise ExceptionRequestError("This form was already used by someone else: open a new form.")
    return earlier


def exception_request_file(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime | None = None, filing_token: uuid.UUID | None = None
) -> ExceptionRequest:
    """File a request: validate, route and save in one transaction.

    Preconditions: ``facts`` passed form validation (bounds, choices). Raises
    ``FilingRefused`` with the routing's reasons when the policy is inactive, a
    control would be waived, or nobody could decide it; nothing is saved then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        policy = policy_with_rules(facts.policy_id)
        if policy is None:
            raise FilingRefused(("That policy does not exist any more. Pick another policy.",))
        customer = customer_get_or_create(external_ref=facts.customer_ref, name=facts.customer_name)
        # Lock the customer: two requests for the same customer filed at once must
        # see each other, or the one-time rule could be bypassed by a double click.
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        decision = routing_decision_for(rep=rep, policy=policy, customer=customer, facts=facts)
        if decision.outcome is Outcome.REFUSED:
            transaction.set_rollback(True)
            raise FilingRefused(decision.reasons)

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
            request.policy_version = _policy_version(policy)
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
        request.save(force_insert=True)
        if request.status == Status.GRANTED:
            _check_review_on_commit(policy.pk)
        else:
            _check_sla_on_time(request, now=now)
            notifications.request_arrived(request, why="just filed")
        webhooks.emit(("filed", "granted" if request.status == Status.GRANTED else "pending"), request)
    return request


def exception_request_preview(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime | None = None
) -> tuple[RoutingDecision, datetime | None]:
    """What filing would decide now, and the deadline if pending. Writes nothing."""
    now = now or timezone.now()
    policy = policies_with_rules().filter(pk=facts.policy_id).first()
    if policy is None:
        raise ExceptionRequestError("Pick a policy.")
    customer = customer_for_reference(facts.customer_ref)
    decision = routing_decision_for(rep=rep, policy=policy, customer=customer, facts=facts)
    due = None
    if decision.outcome is Outcome.PENDING:
        due = sla.due_at(start=now, sla_minutes=policy.sla_minutes, calendar=calendar_spec(policy))
    return decision, due


def _check_review_on_commit(policy_id: int) -> None:
    """A grant may make the policy's pattern repeat: check it once the grant is committed."""
    enqueue_on_commit("policies.tasks.check_policy_review", policy_id)


# Timers closer together than this are merged into one check (rounded up, never early).
TIMER_RESOLUTION = timedelta(milliseconds=100)


def sla_timer_horizon() -> timedelta:
    """How far ahead precise SLA timers are set: the sweep interval (the sweep is the backstop beyond)."""
    return timedelta(seconds=settings.SLA_SWEEP_SECONDS)


def sla_checks_schedule(moments: list[datetime | None], *, now: datetime) -> list[float]:
    """Once the transaction commits, schedule a precise check at each deadline or reminder of ``moments``
    that falls before the next sweep (a countdown never longer than the sweep interval). The check is the
    sweep itself, so an early, late, duplicated or lost timer changes nothing: the sweep stays the backstop."""
    horizon = sla_timer_horizon()
    countdowns = sla.timer_countdowns(moments, now=now, horizon=horizon, resolution=TIMER_RESOLUTION)
    if countdowns:
        # The countdowns count from ``now``; the commit may come a little later, so each is shortened
        # by the time gone (a timer a few milliseconds early finds nothing and the next one does it).
        def publish() -> None:
            gone = (timezone.now() - now).total_seconds()
            for countdown in countdowns:
                left = max(0.0, countdown - gone)
                task_named("requests.tasks.sla_check").apply_async(
                    countdown=left, expires=left + horizon.total_seconds()
                )

        transaction.on_commit(publish)
    return countdowns


def _check_sla_on_time(request: ExceptionRequest, *, now: datetime) -> None:
    """A deadline or reminder set or moved to before the next sweep gets a precise check at that moment."""
    remind_at = request.remind_at if request.reminder_sent_at is None else None
    sla_checks_schedule([request.due_at, remind_at], now=now)


def _policy_version(policy: Policy) -> int | None:
    if hasattr(policy, "latest_history_id"):  # read with the policy's rules (policy_with_rules)
        return policy.latest_history_id
    return policy.history.order_by("-history_id").values_list("history_id", flat=True).first()


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


def draft_grant_message(request: ExceptionRequest, *, rep: AbstractBaseUser) -> str:
    return customer_messages.draft_grant(
        customer_name=request.customer.name,
        sentiment=request.sentiment,
        cause=request.cause,
        policy_name=request.policy.name,
        rationale=request.policy.rationale,
        resolution=request.resolution_requested,
        rep_name=display_name(rep),
    ).text


def draft_denial_message(request: ExceptionRequest, *, rep: AbstractBaseUser, reason: str, alternative: str) -> str:
    return customer_messages.draft_denial(
        customer_name=request.customer.name,
        sentiment=request.sentiment,
        policy_name=request.policy.name,
        rationale=request.policy.rationale,
        reason=reason,
        alternative=alternative,
        rep_name=display_name(rep),
    ).text


def customer_message_save(*, request_id: int, rep: AbstractBaseUser, text: str, send: bool) -> ExceptionRequest:
    """The filing rep edits the drafted message and, with ``send``, marks it sent."""
    text = text.strip()
    if not text:
        raise ExceptionRequestError("The message is empty: write what the customer should read.")
    with transaction.atomic():
        request = ExceptionRequest.objects.select_for_update().get(pk=request_id)
        if request.rep_id != rep.pk:
            raise ExceptionRequestError("Only the rep who filed this request sends its message.")
        if not request.is_decided:
            raise ExceptionRequestError("There is no message to send until the request is decided.")
        if request.message_sent_at is not None:
            raise ExceptionRequestError(f"The message was already sent on {_when(request.message_sent_at)}.")
        request.customer_message = text
        if send:
            request.message_sent_at = timezone.now()
        request._history_user = rep
        request._change_reason = "Customer message sent" if send else "Customer message edited"
        request.save()
    return request


def _when(moment: datetime) -> str:
    return formatting.local(moment, formatting.TEXT_WHEN)


def _lock_open_request(request_id: int, *, action: str) -> ExceptionRequest:
    """Lock the row and check it still waits for an approver; the first of two racing approvers wins."""
    # Only the locked row is re-read after waiting for a racing transaction (PostgreSQL, READ
    # COMMITTED); joined rows come from the statement's snapshot. So nothing that changes on a
    # decision (decided_by) is joined here: it is loaded after the lock, from the fresh row.
    request = (
        ExceptionRequest.objects.select_for_update(of=("self",))
        .select_related("policy", "customer", "rep")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise ExceptionRequestError("That request does not exist.")
    if request.status in (Status.APPROVED, Status.DENIED) and request.decided_by_id is not None:
        raise ExceptionRequestError(
            f"{request.reference} was already {request.get_status_display().lower()} by "
            f"{display_name(request.decided_by)} on {_when(request.decided_at)}: nothing to {action}."
        )
    if request.status == Status.WAITING_FOR_REP:
        raise ExceptionRequestError(
            f"{request.reference} is waiting for the rep's answer: it returns to the queue then."
        )
    if request.status not in OPEN_STATUSES:
        raise ExceptionRequestError(
            f"{request.reference} is {request.get_status_display().lower()}: nothing to {action}."
        )
    return request


def _acting_authority(*, approver: AbstractBaseUser, request: ExceptionRequest, action: str) -> Authority:
    """The authority the approver acts with here (authority.py, the one rule the page and queue show);
    raises with the reason when they may not act: they filed it, they stand in for whoever filed it,
    or it is not at a level they (or the absent approver they stand in for) approve at."""
    authority = decision_authority(user=approver, request=request, action=action)
    if not authority.may_act:
        raise ExceptionRequestError(authority.refusal)
    return authority


def exception_request_decide(
    *,
    request_id: int,
    approver: AbstractBaseUser,
    approve: bool,
    note: str,
    alternative: str = "",
    now: datetime | None = None,
    expected_level: int | None = None,
) -> ExceptionRequest:
    """Approve or deny a pending or escalated request.

    ``expected_level``: the level the approver was shown (an email link); refused when the request has
    moved on since.

    Refuses, changing nothing, when the request is no longer open, when the
    approver filed it or stands in for whoever filed it (segregation of duties),
    when they are not assigned (directly, by group or as delegate), or when
    approving would exceed the authority they act with (authority.py: the same
    function the request page and the queue show). Records what was in force:
    the policy's history row, the authority applied to an approval (a denial
    needs none) and on whose behalf.
    """
    note, alternative = note.strip(), alternative.strip()
    if not note:
        raise ExceptionRequestError("A decision needs a justification.")
    if not approve and not alternative:
        raise ExceptionRequestError("A denial needs the alternative offered to the customer.")
    now = now or timezone.now()
    with transaction.atomic():
        request = _lock_open_request(request_id, action="decide")
        if expected_level is not None and request.approval_level != expected_level:
            raise ExceptionRequestError(
                f"{request.reference} is no longer waiting at approval level {expected_level}: nothing was decided."
            )
        authority = _acting_authority(approver=approver, request=request, action="decide")
        if approve and not authority.may_approve(request.amount):
            raise ExceptionRequestError(authority.approval_refusal(request.amount, request.policy.name))
        on_behalf_of = get_user_model().objects.get(pk=authority.on_behalf_of_id) if authority.on_behalf_of_id else None
        request.status = Status.APPROVED if approve else Status.DENIED
        request.decided_at = now
        request.decided_by = approver
        request.decided_on_behalf_of = on_behalf_of
        request.decision_note = note
        request.decision_alternative = alternative
        request.policy_version = _policy_version(request.policy)
        # A denial needs no money authority: none is recorded, so that it never reads as a breach.
        request.approver_authority = authority.amount if approve else None
        request.claimed_by = None
        if approve:
            request.customer_message = draft_grant_message(request, rep=request.rep)
        else:
            request.customer_message = draft_denial_message(
                request, rep=request.rep, reason=note, alternative=alternative
            )
        verb = "Approved" if approve else "Denied"
        behalf = f" on behalf of {authority.on_behalf_of_name}" if on_behalf_of else ""
        if approve:
            behalf += f" within an authority of {money(authority.amount)}"
        request._history_user = approver
        request._history_date = now
        request._change_reason = f"{verb} by {display_name(approver)}{behalf}: {note}"[:1000]
        request.save()
        if approve:
            _check_review_on_commit(request.policy_id)
        webhooks.emit(("decided", "granted") if approve else ("decided",), request)
        notifications.request_decided(request, approver=approver)
    return request


def exception_request_claim(*, request_id: int, approver: AbstractBaseUser, release: bool = False) -> ExceptionRequest:
    """Claim a request so colleagues see who is on it, or release one's own claim."""
    with transaction.atomic():
        request = _lock_open_request(request_id, action="claim")
        # Releasing one's own claim needs no authority: a claim must not stay stuck on someone whose
        # out-of-office ended, or who left the level, since then. Claiming does.
        if not (release and request.claimed_by_id == approver.pk):
            _acting_authority(approver=approver, request=request, action="claim")
        if release:
            if request.claimed_by_id != approver.pk:
                raise ExceptionRequestError("Only the approver who claimed a request releases it.")
            request.claimed_by = None
            request._change_reason = f"Released by {display_name(approver)}"
        else:
            if request.claimed_by_id == approver.pk:
                raise ExceptionRequestError("You already claimed this request.")
            if request.claimed_by_id is not None:
                raise ExceptionRequestError(f"{display_name(request.claimed_by)} is already on this request.")
            request.claimed_by = approver
            request._change_reason = f"Claimed by {display_name(approver)}"
        request._history_user = approver
        request.save()
    return request


def exception_request_ask(
    *, request_id: int, approver: AbstractBaseUser, question: str, now: datetime | None = None
) -> ExceptionRequest:
    """Ask the filing rep for more information: the request waits for the rep and the SLA clock pauses."""
    question = question.strip()
    if not question:
        raise ExceptionRequestError("Write the question for the rep.")
    now = now or timezone.now()
    with transaction.atomic():
        request = _lock_open_request(request_id, action="ask about")
        _acting_authority(approver=approver, request=request, action="ask about")
        request.status = Status.WAITING_FOR_REP
        request.paused_at = now
        request.info_requested_by = approver
        request.info_question = question
        request.info_answer = ""
        request._history_user = approver
        request._history_date = now
        request._change_reason = f"More information asked by {display_name(approver)}: SLA clock paused"
        request.save()
        QuestionAnswer.objects.create(
            request=request, kind=QuestionAnswer.Kind.QUESTION, author=approver, text=question, created_at=now
        )
        notifications.question_asked(request, approver=approver, question=question)
    return request


def exception_request_answer(
    *,
    request_id: int,
    rep: AbstractBaseUser,
    answer: str,
    amount: Decimal | None = None,
    business_days: int | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """The rep answers: the request returns to the queue and the deadline moves by the paused time.

    With the answer the rep may correct the amount or the business days. The request is then routed
    again with the policy's current rules, as at filing (its own filing does not count as an earlier
    exception): refused changes nothing; a new approval level starts that level's SLA afresh (an
    escalation is never undone: it stays at least at the level it reached); within the rep's own tiers
    it still returns to the approver who asked. The change is in the request's history.
    """
    answer = answer.strip()
    if not answer:
        raise ExceptionRequestError("Write your answer for the approver.")
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            ExceptionRequest.objects.select_for_update(of=("self",))
            .select_related("policy", "customer", "info_requested_by")
            .get(pk=request_id)
        )
        if request.rep_id != rep.pk:
            raise ExceptionRequestError("Only the rep who filed this request answers the approver.")
        if request.status != Status.WAITING_FOR_REP:
            raise ExceptionRequestError(f"{request.reference} is not waiting for your answer.")
        policy = policies_with_rules().get(pk=request.policy_id)
        clock = calendar_spec(policy)
        corrections = []
        if amount is not None and amount != request.amount:
            corrections.append(f"amount {money(request.amount)} → {money(amount)}")
        if business_days is not None and business_days != request.business_days:
            corrections.append(f"business days {request.business_days} → {business_days}")
        new_level = request.approval_level
        if corrections:
            new_level = _reroute(
                request,
                policy=policy,
                rep=rep,
                amount=request.amount if amount is None else amount,
                business_days=request.business_days if business_days is None else business_days,
                now=now,
            )
        if new_level != request.approval_level:
            request.approval_level = new_level
            request.level_started_at = now
            request.due_at = sla.due_at(start=now, sla_minutes=policy.sla_minutes, calendar=clock)
            request.remind_at = sla.reminder_at(
                start=now, sla_minutes=policy.sla_minutes, percent=settings.SLA_REMINDER_PERCENT, calendar=clock
            )
            request.reminder_sent_at = None
            request.claimed_by = None
        else:
            request.due_at = sla.resume_deadline(
                due_at=request.due_at, paused_at=request.paused_at, resumed_at=now, calendar=clock
            )
            if request.remind_at is not None and request.reminder_sent_at is None:
                request.remind_at = sla.resume_deadline(
                    due_at=request.remind_at, paused_at=request.paused_at, resumed_at=now, calendar=clock
                )
        if corrections:
            # The deadline as facts, read in the reader's time zone (models.routing_reason_text), as at filing.
            due = {"due_by": request.due_at.isoformat(), "sla_minutes": policy.sla_minutes}
            request.routing_reasons = [*request.routing_reasons, due]
        request.status = Status.ESCALATED if request.breached_level else Status.PENDING
        request.paused_at = None
        request.info_answer = answer
        corrected = ", ".join(corrections)
        request._history_user = rep
        request._history_date = now
        request._change_reason = (
            f"Rep answered and corrected {corrected}: routed again to level {request.approval_level}, due {_when(request.due_at)}"
            if corrections
            else f"Rep answered: back in the queue, due {_when(request.due_at)}"
        )
        request.save()
        _check_sla_on_time(request, now=now)
        QuestionAnswer.objects.create(
            request=request,
            kind=QuestionAnswer.Kind.ANSWER,
            author=rep,
            text=answer,
            corrections=corrected[:500],
            created_at=now,
        )
        notifications.question_answered(request, rep=rep, corrected=corrected)
    return request


def _reroute(
    request: ExceptionRequest,
    *,
    policy: Policy,
    rep: AbstractBaseUser,
    amount: Decimal,
    business_days: int,
    now: datetime,
) -> int:
    """Route the request again with corrected figures; set them, the tier and the reasons on ``request``
    (unsaved) and return the approval level it now waits at. Refuses, changing nothing, as filing would."""
    facts = FilingFacts(
        customer_ref=request.customer.external_ref,
        customer_name=request.customer.name,
        policy_id=policy.pk,
        sentiment=request.sentiment,
        cause=request.cause,
        situation=request.situation,
        resolution_requested=request.resolution_requested,
        amount=amount,
        business_days=business_days,
        supplier_exception=request.supplier_exception,
        alternative_offered=request.alternative_offered,
        corrective_action=request.corrective_action,
    )
    decision = routing_decision_for(
        rep=rep, policy=policy, customer=request.customer, facts=facts, exclude_request_id=request.pk
    )
    if decision.outcome is Outcome.REFUSED:
        raise FilingRefused(("The correction cannot be accepted:", *decision.reasons, "Nothing was changed."))
    request.amount = amount
    request.business_days = business_days
    request.tier_level = decision.tier.level if decision.tier else None
    request.tier_kind = decision.tier.kind if decision.tier else ""
    request.beyond_all_tiers = decision.beyond_all_tiers
    request.is_repeat = decision.is_repeat
    level = request.approval_level
    if decision.outcome is Outcome.PENDING:
        level = decision.approval_level if not request.breached_level else max(decision.approval_level, level)
    reasons = [f"Routed again on {_when(now)} after the rep corrected the figures:", *decision.reasons]
    if decision.outcome is Outcome.GRANTED:
        reasons.append("An approver already asked about it, so it goes back to them to decide.")
    request.routing_reasons = reasons
    return level


def exception_request_withdraw(
    *, request_id: int, rep: AbstractBaseUser, reason: str, now: datetime | None = None
) -> ExceptionRequest:
    """The filing rep takes back their open or waiting request, with a reason.

    It leaves every queue and its SLA clock stops (open_due_at is empty outside the open statuses, the
    sweep reads only those); it no longer counts as an earlier exception. The row lock orders it with a
    concurrent decision: whichever commits first wins, the other is refused with what happened."""
    reason = reason.strip()
    if not reason:
        raise ExceptionRequestError("Give the reason for withdrawing: the approvers and the history show it.")
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            ExceptionRequest.objects.select_for_update(of=("self",))
            .select_related("policy")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise ExceptionRequestError("That request does not exist.")
        if request.rep_id != rep.pk:
            raise ExceptionRequestError("Only the rep who filed this request may withdraw it.")
        if request.status not in WITHDRAWABLE_STATUSES:
            decided = ""
            if request.decided_by_id is not None:
                decided = f" by {display_name(request.decided_by)} on {_when(request.decided_at)}"
            raise ExceptionRequestError(
                f"{request.reference} is already {request.get_status_display().lower()}{decided}: "
                "it cannot be withdrawn."
            )
        asked_by = request.info_requested_by
        request.status = Status.WITHDRAWN
        request.withdrawn_at = now
        request.withdrawal_reason = reason
        request.claimed_by = None
        request.paused_at = None
        request._history_user = rep
        request._history_date = now
        request._change_reason = f"Withdrawn by {display_name(rep)}: {reason}"[:1000]
        request.save()
        notifications.request_withdrawn(request, rep=rep, reason=reason, also=asked_by)
        webhooks.emit("withdrawn", request)
    return request


def delegation_create(
    *, approver: AbstractBaseUser, delegate: AbstractBaseUser, starts_on: date, ends_on: date
) -> Delegation:
    """An out-of-office: from ``starts_on`` to ``ends_on`` the delegate sees and decides the approver's queue."""
    if delegate.pk == approver.pk:
        raise ExceptionRequestError("Choose someone else to stand in for you.")
    if not delegate.is_active or not delegate.has_perm("requests.decide_exceptionrequest"):
        raise ExceptionRequestError(f"{display_name(delegate)} is not an approver and cannot stand in for you.")
    errors = delegation_period_errors(
        starts_on=starts_on, ends_on=ends_on, today=portal_today(), max_days=settings.DELEGATION_MAX_DAYS
    )
    if errors:
        raise ExceptionRequestError(" ".join(errors))
    delegation = Delegation(approver=approver, delegate=delegate, starts_on=starts_on, ends_on=ends_on)
    delegation._history_user = approver
    delegation.save()
    if starts_on <= portal_today():
        notifications.stand_in_started(delegation)
    return delegation


def delegation_end(*, delegation_id: int, approver: AbstractBaseUser) -> None:
    """End an out-of-office early (or cancel a future one). History keeps the record."""
    with transaction.atomic():
        delegation = Delegation.objects.select_for_update().filter(pk=delegation_id, approver=approver).first()
        if delegation is None:
            raise ExceptionRequestError("That out-of-office is not yours.")
        today = portal_today()
        if delegation.ends_on < today:
            raise ExceptionRequestError(
                f"That out-of-office already ended on {delegation.ends_on:%d %b %Y}: nothing to end."
            )
        delegation._history_user = approver
        if delegation.starts_on >= today:
            delegation.delete()
        else:
            delegation.ends_on = today - timedelta(days=1)
            delegation.save()


def attachment_add(
    *, request_id: int, user: AbstractBaseUser, upload: UploadedFile, now: datetime | None = None
) -> Attachment:
    """Attach a file to a request: by its rep, or an approver it is assigned to.

    The type is checked from the content (attachments.check), the name sanitised, the file stored under a
    random name through the ``attachments`` storage. Refusals raise ExceptionRequestError and store nothing.
    """
    now = now or timezone.now()
    try:
        attachments.check_size(name=upload.name or "", size=upload.size or 0)
        upload.seek(0)
        content = upload.read()
        kind = attachments.check(name=upload.name or "", content=content)
    except attachments.AttachmentRefused as refused:
        raise ExceptionRequestError(str(refused)) from refused
    name = attachments.sanitise_name(upload.name or "", kind)
    thumbnail = attachments.thumbnail(content) if kind.is_image else None
    stored: list[str] = []
    try:
        with transaction.atomic():
            request = ExceptionRequest.objects.select_for_update(of=("self",)).filter(pk=request_id).first()
            if request is None:
                raise ExceptionRequestError("That request does not exist.")
            if not may_attach(user=user, exception_request=request):
                if request.rep_id != user.pk:
                    raise ExceptionRequestError(
                        f"Only the rep who filed {request.reference} and the approvers it waits for attach files."
                    )
                raise ExceptionRequestError(
                    f"{request.reference} is {request.get_status_display().lower()}: you cannot attach files to it."
                )
            if request.attachments.count() >= settings.ATTACHMENT_MAX_COUNT:
                raise ExceptionRequestError(
                    f"{request.reference} already has {settings.ATTACHMENT_MAX_COUNT} attachments, the most allowed."
                )
            attachment = Attachment(
                request=request, name=name, content_type=kind.content_type, size=len(content), uploaded_by=user
            )
            attachment.uploaded_at = now
            attachment.file.save(f"upload.{kind.extension}", ContentFile(content), save=False)
            stored.append(attachment.file.name)
            if thumbnail is not None:
                attachment.thumbnail.save("thumbnail.png", ContentFile(thumbnail), save=False)
                stored.append(attachment.thumbnail.name)
            attachment._history_user = user
            attachment._history_date = now
            attachment.save()
    except BaseException:
        # The transaction rolled back; the stored bytes must go with it.
        for path in stored:
            attachments.storage().delete(path)
        raise
    return attachment


def attachment_remove(*, attachment_id: int, user: AbstractBaseUser) -> str:
    """Remove an attachment its uploader added, while the request is undecided. Returns the file's name."""
    with transaction.atomic():
        attachment = Attachment.objects.select_related("request").filter(pk=attachment_id).first()
        if attachment is None:
            raise ExceptionRequestError("That attachment does not exist.")
        request = ExceptionRequest.objects.select_for_update(of=("self",)).get(pk=attachment.request_id)
        if not may_remove_attachment(user=user, attachment=attachment, exception_request=request):
            if attachment.uploaded_by_id != user.pk:
                raise ExceptionRequestError("Only whoever attached a file removes it.")
            raise ExceptionRequestError(
                f"{request.reference} is {request.get_status_display().lower()}: its attachments stay as they were."
            )
        paths = [attachment.file.name, attachment.thumbnail.name]
        name = attachment.name
        attachment._history_user = user
        attachment.delete()
        transaction.on_commit(lambda: [attachments.storage().delete(path) for path in paths if path])
    return name
