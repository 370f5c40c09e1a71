"""Writes: filing, deciding and telling the customer.

Every write goes through a function here, inside a transaction, with its audit
trail. Views, admin actions and Celery tasks call these; none repeat a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from policies.models import Policy
from policies.routing import Outcome, RoutingDecision, money
from policies.selectors import approver_authority, calendar_spec, policies_with_rules
from requests import messages as customer_messages
from requests import notifications, sla
from requests.dispatch import enqueue_on_commit
from requests.models import OPEN_STATUSES, Customer, Delegation, ExceptionRequest, QuestionAnswer, Status
from requests.selectors import approver_identity, routing_decision_for


class ExceptionRequestError(Exception):
    """A domain rule refused the change; nothing was written. The message is for people."""


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


def _user_name(user: AbstractBaseUser) -> str:
    return user.get_full_name() or user.get_username()


def system_user() -> AbstractBaseUser:
    """The user scheduled jobs act as in the audit trail."""
    user, _ = get_user_model().objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"first_name": "Scheduled", "last_name": "jobs", "is_active": False},
    )
    return user


def customer_get_or_create(*, external_ref: str, name: str) -> Customer:
    """A new reference creates the customer; a known one keeps its recorded name."""
    external_ref = external_ref.strip()
    customer = Customer.objects.filter(external_ref__iexact=external_ref).first()
    if customer is not None:
        return customer
    if not name.strip():
        raise ExceptionRequestError(f"Customer {external_ref} is new: give their name so that we can create them.")
    customer = Customer(external_ref=external_ref, name=name.strip())
    customer.save()
    return customer


def exception_request_file(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime | None = None
) -> ExceptionRequest:
    """File a request: validate, route and save in one transaction.

    Preconditions: ``facts`` passed form validation (bounds, choices). Raises
    ``FilingRefused`` with the routing's reasons when the policy is inactive, a
    control would be waived, or nobody could decide it; nothing is saved then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        policy = policies_with_rules().filter(pk=facts.policy_id).first()
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

        request = ExceptionRequest(
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
            reasons.append(
                f"Due by {timezone.localtime(request.due_at):%a %d %b %Y, %H:%M} ({policy.sla_minutes} minute SLA)."
            )
            request._change_reason = f"Filed: pending at approval level {decision.approval_level}"
        request.routing_reasons = reasons
        request._history_user = rep
        request._history_date = now  # the trail shows when it happened, also for back-dated demo data
        request.save()
        # The human reference comes from the primary key, so it is unique under
        # concurrent filing without a counter table. Set on the row and on its
        # creation history entry alike, so that the trail shows one creation.
        reference = f"EX-{now.year}-{request.pk:06d}"
        ExceptionRequest.objects.filter(pk=request.pk).update(reference=reference)
        request.history.filter(history_type="+").update(reference=reference)
        request.reference = reference
        if request.status == Status.GRANTED:
            _check_review_on_commit(policy.pk)
        else:
            notifications.request_arrived(request, why="just filed")
    return request


def exception_request_preview(
    *, rep: AbstractBaseUser, facts: FilingFacts, now: datetime | None = None
) -> tuple[RoutingDecision, datetime | None]:
    """What filing would decide now, and the deadline if pending. Writes nothing."""
    now = now or timezone.now()
    policy = policies_with_rules().filter(pk=facts.policy_id).first()
    if policy is None:
        raise ExceptionRequestError("Pick a policy.")
    customer = Customer.objects.filter(external_ref__iexact=facts.customer_ref.strip()).first()
    decision = routing_decision_for(rep=rep, policy=policy, customer=customer, facts=facts)
    due = None
    if decision.outcome is Outcome.PENDING:
        due = sla.due_at(start=now, sla_minutes=policy.sla_minutes, calendar=calendar_spec(policy))
    return decision, due


def _check_review_on_commit(policy_id: int) -> None:
    """A grant may make the policy's pattern repeat: check it once the grant is committed."""
    enqueue_on_commit("policies.tasks.check_policy_review", policy_id)


def _policy_version(policy: Policy) -> int | None:
    latest = policy.history.order_by("-history_id").values_list("history_id", flat=True).first()
    return latest


def draft_grant_message(request: ExceptionRequest, *, rep: AbstractBaseUser) -> str:
    return customer_messages.draft_grant(
        customer_name=request.customer.name,
        sentiment=request.sentiment,
        cause=request.cause,
        policy_name=request.policy.name,
        rationale=request.policy.rationale,
        resolution=request.resolution_requested,
        rep_name=_user_name(rep),
    ).text


def draft_denial_message(request: ExceptionRequest, *, rep: AbstractBaseUser, reason: str, alternative: str) -> str:
    return customer_messages.draft_denial(
        customer_name=request.customer.name,
        sentiment=request.sentiment,
        policy_name=request.policy.name,
        rationale=request.policy.rationale,
        reason=reason,
        alternative=alternative,
        rep_name=_user_name(rep),
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
            raise ExceptionRequestError(
                f"The message was already sent on {timezone.localtime(request.message_sent_at):%d %b %Y at %H:%M}."
            )
        request.customer_message = text
        if send:
            request.message_sent_at = timezone.now()
        request._history_user = rep
        request._change_reason = "Customer message sent" if send else "Customer message edited"
        request.save()
    return request


def _when(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%d %b %Y at %H:%M}"


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
            f"{_user_name(request.decided_by)} on {_when(request.decided_at)}: nothing to {action}."
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


def _acting_authority(
    *, approver: AbstractBaseUser, request: ExceptionRequest
) -> tuple[Decimal, AbstractBaseUser | None]:
    """The approver's money authority at the request's level, and whom they act for when it is only
    theirs as a delegate. Raises when they are not assigned at all."""
    own = approver_authority(
        user_ids=[approver.pk],
        group_ids=list(approver.groups.values_list("pk", flat=True)),
        policy_id=request.policy_id,
        level=request.approval_level,
    )
    if own is not None:
        return own, None
    identity = approver_identity(user=approver)
    for absent_id in identity.stands_in_for:
        absent = get_user_model().objects.get(pk=absent_id)
        theirs = approver_authority(
            user_ids=[absent.pk],
            group_ids=list(absent.groups.values_list("pk", flat=True)),
            policy_id=request.policy_id,
            level=request.approval_level,
        )
        if theirs is not None:
            return theirs, absent
    raise ExceptionRequestError(
        f"{request.reference} is not assigned to you: it waits at approval level {request.approval_level}."
    )


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
    approver filed it (segregation of duties), when they are not assigned
    (directly, by group or as delegate), or when approving would exceed their
    money authority. Records what was in force: the policy's history row and
    the authority used.
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
        if request.rep_id == approver.pk:
            raise ExceptionRequestError("You filed this request, so another approver must decide it.")
        authority, on_behalf_of = _acting_authority(approver=approver, request=request)
        if approve and request.amount > authority:
            raise ExceptionRequestError(
                f"The amount {money(request.amount)} is above your money authority of {money(authority)} "
                f"for “{request.policy.name}”: leave it for an approver with more authority."
            )
        request.status = Status.APPROVED if approve else Status.DENIED
        request.decided_at = now
        request.decided_by = approver
        request.decided_on_behalf_of = on_behalf_of
        request.decision_note = note
        request.decision_alternative = alternative
        request.policy_version = _policy_version(request.policy)
        request.approver_authority = authority
        request.claimed_by = None
        if approve:
            request.customer_message = draft_grant_message(request, rep=request.rep)
        else:
            request.customer_message = draft_denial_message(
                request, rep=request.rep, reason=note, alternative=alternative
            )
        verb = "Approved" if approve else "Denied"
        behalf = f" on behalf of {_user_name(on_behalf_of)}" if on_behalf_of else ""
        request._history_user = approver
        request._history_date = now
        request._change_reason = f"{verb} by {_user_name(approver)}{behalf}: {note}"[:1000]
        request.save()
        if approve:
            _check_review_on_commit(request.policy_id)
        notifications.request_decided(request, approver=approver)
    return request


def exception_request_claim(*, request_id: int, approver: AbstractBaseUser, release: bool = False) -> ExceptionRequest:
    """Claim a request so colleagues see who is on it, or release one's own claim."""
    with transaction.atomic():
        request = _lock_open_request(request_id, action="claim")
        _acting_authority(approver=approver, request=request)
        if release:
            if request.claimed_by_id != approver.pk:
                raise ExceptionRequestError("Only the approver who claimed a request releases it.")
            request.claimed_by = None
            request._change_reason = f"Released by {_user_name(approver)}"
        else:
            if request.claimed_by_id == approver.pk:
                raise ExceptionRequestError("You already claimed this request.")
            if request.claimed_by_id is not None:
                raise ExceptionRequestError(f"{_user_name(request.claimed_by)} is already on this request.")
            request.claimed_by = approver
            request._change_reason = f"Claimed by {_user_name(approver)}"
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
        if request.rep_id == approver.pk:
            raise ExceptionRequestError("You filed this request, so another approver must handle it.")
        _acting_authority(approver=approver, request=request)
        request.status = Status.WAITING_FOR_REP
        request.paused_at = now
        request.info_requested_by = approver
        request.info_question = question
        request.info_answer = ""
        request._history_user = approver
        request._history_date = now
        request._change_reason = f"More information asked by {_user_name(approver)}: SLA clock paused"
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


def delegation_create(
    *, approver: AbstractBaseUser, delegate: AbstractBaseUser, starts_on: date, ends_on: date
) -> Delegation:
    """An out-of-office: from ``starts_on`` to ``ends_on`` the delegate sees and decides the approver's queue."""
    if delegate.pk == approver.pk:
        raise ExceptionRequestError("Choose someone else to stand in for you.")
    if not delegate.is_active or not delegate.has_perm("requests.decide_exceptionrequest"):
        raise ExceptionRequestError(f"{_user_name(delegate)} is not an approver and cannot stand in for you.")
    if ends_on < starts_on:
        raise ExceptionRequestError("The last day must be on or after the first day.")
    if ends_on < timezone.localdate():
        raise ExceptionRequestError("That period is already over.")
    delegation = Delegation(approver=approver, delegate=delegate, starts_on=starts_on, ends_on=ends_on)
    delegation._history_user = approver
    delegation.save()
    if starts_on <= timezone.localdate():
        notifications.stand_in_started(delegation)
    return delegation


def delegation_end(*, delegation_id: int, approver: AbstractBaseUser) -> None:
    """End an out-of-office early (or cancel a future one). History keeps the record."""
    with transaction.atomic():
        delegation = Delegation.objects.select_for_update().filter(pk=delegation_id, approver=approver).first()
        if delegation is None:
            raise ExceptionRequestError("That out-of-office is not yours.")
        today = timezone.localdate()
        delegation._history_user = approver
        if delegation.starts_on >= today:
            delegation.delete()
        else:
            delegation.ends_on = today - timedelta(days=1)
            delegation.save()
