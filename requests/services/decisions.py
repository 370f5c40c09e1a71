"""Deciding: approvers claim, ask and decide; the filing rep answers or withdraws.

Each locks the request's row first, so of two people acting at once the first to commit wins and the
other is refused with what happened (an ``errors`` class each).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from exceptions_portal import formatting
from exceptions_portal.people import display_name
from policies.models import Policy
from policies.routing import Outcome, money
from policies.selectors import policies_with_rules
from requests import notifications, sla, webhooks
from requests.authority import Authority, decision_authority
from requests.models import OPEN_STATUSES, WITHDRAWABLE_STATUSES, ExceptionRequest, QuestionAnswer, Status
from requests.selectors import calendar_spec, routing_decision_for
from requests.services._common import check_review_on_commit, check_sla_on_time, policy_version
from requests.services.customer_message import draft_denial_message, draft_grant_message
from requests.services.errors import (
    AboveAuthority,
    AlreadyClaimed,
    AlreadyDecided,
    FilingRefused,
    InvalidInput,
    LevelMoved,
    NotAssigned,
    NotFound,
    NotWithdrawable,
    NotYours,
    SelfDealing,
    WrongStatus,
)
from requests.services.filing import FilingFacts


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
        raise NotFound("That request does not exist.")
    if request.status in (Status.APPROVED, Status.DENIED) and request.decided_by_id is not None:
        raise AlreadyDecided(
            f"{request.reference} was already {request.get_status_display().lower()} by "
            f"{display_name(request.decided_by)} on {formatting.when(request.decided_at)}: nothing to {action}."
        )
    if request.status == Status.WAITING_FOR_REP:
        raise WrongStatus(f"{request.reference} is waiting for the rep's answer: it returns to the queue then.")
    if request.status not in OPEN_STATUSES:
        raise AlreadyDecided(f"{request.reference} is {request.get_status_display().lower()}: nothing to {action}.")
    return request


def _acting_authority(*, approver: AbstractBaseUser, request: ExceptionRequest, action: str) -> Authority:
    """The authority the approver acts with here (authority.py, the one rule the page and queue show);
    raises with the reason when they may not act: they filed it, they stand in for whoever filed it,
    or it is not at a level they (or the absent approver they stand in for) approve at."""
    authority = decision_authority(user=approver, request=request, action=action)
    if not authority.may_act:
        raise (SelfDealing if authority.self_dealing else NotAssigned)(authority.refusal)
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
        raise InvalidInput("A decision needs a justification.")
    if not approve and not alternative:
        raise InvalidInput("A denial needs the alternative offered to the customer.")
    now = now or timezone.now()
    with transaction.atomic():
        request = _lock_open_request(request_id, action="decide")
        if expected_level is not None and request.approval_level != expected_level:
            raise LevelMoved(
                f"{request.reference} is no longer waiting at approval level {expected_level}: nothing was decided."
            )
        authority = _acting_authority(approver=approver, request=request, action="decide")
        if approve and not authority.may_approve(request.amount):
            raise AboveAuthority(authority.approval_refusal(request.amount, request.policy.name))
        on_behalf_of = get_user_model().objects.get(pk=authority.on_behalf_of_id) if authority.on_behalf_of_id else None
        request.status = Status.APPROVED if approve else Status.DENIED
        request.decided_at = now
        request.decided_by = approver
        request.decided_on_behalf_of = on_behalf_of
        request.decision_note = note
        request.decision_alternative = alternative
        request.policy_version = policy_version(request.policy)
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
            check_review_on_commit(request.policy_id)
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
                raise NotAssigned("Only the approver who claimed a request releases it.")
            request.claimed_by = None
            request._change_reason = f"Released by {display_name(approver)}"
        else:
            if request.claimed_by_id == approver.pk:
                raise AlreadyClaimed("You already claimed this request.")
            if request.claimed_by_id is not None:
                raise NotAssigned(f"{display_name(request.claimed_by)} is already on this request.")
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
        raise InvalidInput("Write the question for the rep.")
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
        raise InvalidInput("Write your answer for the approver.")
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            ExceptionRequest.objects.select_for_update(of=("self",))
            .select_related("policy", "customer", "info_requested_by")
            .get(pk=request_id)
        )
        if request.rep_id != rep.pk:
            raise NotYours("Only the rep who filed this request answers the approver.")
        if request.status != Status.WAITING_FOR_REP:
            raise WrongStatus(f"{request.reference} is not waiting for your answer.")
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
            f"Rep answered and corrected {corrected}: routed again to level {request.approval_level}, due {formatting.when(request.due_at)}"
            if corrections
            else f"Rep answered: back in the queue, due {formatting.when(request.due_at)}"
        )
        request.save()
        check_sla_on_time(request, now=now)
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
        rep=rep,
        policy=policy,
        customer=request.customer,
        facts=facts,
        exclude_request_id=request.pk,
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
    reasons = [f"Routed again on {formatting.when(now)} after the rep corrected the figures:", *decision.reasons]
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
        raise InvalidInput("Give the reason for withdrawing: the approvers and the history show it.")
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            ExceptionRequest.objects.select_for_update(of=("self",))
            .select_related("policy")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise NotFound("That request does not exist.")
        if request.rep_id != rep.pk:
            raise NotYours("Only the rep who filed this request may withdraw it.")
        if request.status not in WITHDRAWABLE_STATUSES:
            decided = ""
            if request.decided_by_id is not None:
                decided = f" by {display_name(request.decided_by)} on {formatting.when(request.decided_at)}"
            raise NotWithdrawable(
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
