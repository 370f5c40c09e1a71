"""Reads: what a user may see, in as few queries as the page needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from policies.models import ApproverLevel, Policy
from policies.routing import RequestFacts, RoutingDecision, money, route
from policies.selectors import policy_spec, rep_has_tier2_right
from requests.models import Customer, Delegation, ExceptionRequest, Notification, Status


def unread_notification_count(*, user: AbstractBaseUser) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def earlier_exception_references(
    *, customer: Customer | None, policy_id: int, exclude_request_id: int | None = None
) -> tuple[str, ...]:
    """This customer's earlier exceptions under this policy: granted, approved, or still being decided."""
    if customer is None:
        return ()
    rows = (
        ExceptionRequest.objects.filter(customer=customer, policy_id=policy_id)
        .exclude(status=Status.DENIED)
        .exclude(pk=exclude_request_id)
        .order_by("filed_at")
        .values_list("reference", flat=True)
    )
    return tuple(ref or "an earlier request" for ref in rows)


def routing_decision_for(
    *, rep: AbstractBaseUser, policy: Policy, customer: Customer | None, facts, exclude_request_id: int | None = None
) -> RoutingDecision:
    """Route ``facts`` (a FilingFacts) for this rep and customer with the policy's current rules
    (``exclude_request_id``: a request routed again does not count as its own earlier exception)."""
    return route(
        policy_spec(policy),
        RequestFacts(
            sentiment=facts.sentiment,
            amount=facts.amount,
            business_days=facts.business_days,
            supplier_exception=facts.supplier_exception,
            waived_controls=tuple(facts.waived_controls),
            rep_has_tier2_right=rep_has_tier2_right(user=rep, policy=policy),
            earlier_exceptions=earlier_exception_references(
                customer=customer, policy_id=policy.pk, exclude_request_id=exclude_request_id
            ),
        ),
    )


@dataclass(frozen=True)
class ApproverIdentity:
    """Whom a user acts for: themselves and anyone whose out-of-office names them as delegate today."""

    user_ids: tuple[int, ...]
    group_ids: tuple[int, ...]
    stands_in_for: tuple[int, ...]


def approver_identity(*, user: AbstractBaseUser, today: date | None = None) -> ApproverIdentity:
    today = today or timezone.localdate()
    absent = tuple(
        Delegation.objects.filter(delegate=user, starts_on__lte=today, ends_on__gte=today)
        .values_list("approver_id", flat=True)
        .distinct()
    )
    user_ids = (user.pk, *absent)
    group_ids = tuple(
        get_user_model()
        .groups.through.objects.filter(user_id__in=user_ids)
        .values_list("group_id", flat=True)
        .distinct()
    )
    return ApproverIdentity(user_ids=user_ids, group_ids=group_ids, stands_in_for=absent)


def _approver_rows(identity: ApproverIdentity) -> QuerySet[ApproverLevel]:
    return ApproverLevel.objects.filter(Q(user_id__in=identity.user_ids) | Q(group_id__in=identity.group_ids))


def is_policy_admin(user: AbstractBaseUser) -> bool:
    return user.has_perm("policies.change_policy")


def visible_requests(*, user: AbstractBaseUser) -> QuerySet[ExceptionRequest]:
    """What a user may open: their own filings; as an approver, what reached their level
    (now or before an escalation) or what they decided; everything for a policy admin."""
    requests = ExceptionRequest.objects.all()
    if is_policy_admin(user):
        return requests
    condition = Q(rep=user)
    if user.has_perm("requests.decide_exceptionrequest"):
        identity = approver_identity(user=user)
        reached = Exists(
            _approver_rows(identity).filter(policy_id=OuterRef("policy_id"), level__lte=OuterRef("approval_level"))
        )
        condition |= reached | Q(decided_by=user)
    return requests.filter(condition)


def get_request_for_user(*, user: AbstractBaseUser, pk: int) -> ExceptionRequest:
    """The one place that decides whether a user may see a request: 404 otherwise."""
    return get_object_or_404(
        visible_requests(user=user).select_related(
            "customer", "policy", "policy__problem_type", "rep", "decided_by", "decided_on_behalf_of", "claimed_by"
        ),
        pk=pk,
    )


def queue_for(*, user: AbstractBaseUser, identity: ApproverIdentity | None = None) -> QuerySet[ExceptionRequest]:
    """Open requests at a level where the user (or whom they stand in for) approves, oldest deadline first."""
    identity = identity or approver_identity(user=user)
    assigned = Exists(
        _approver_rows(identity).filter(policy_id=OuterRef("policy_id"), level=OuterRef("approval_level"))
    )
    # open_due_at is set exactly while the request is open, and its index is in the queue's order: the first
    # page reads the open requests by deadline and stops at the 25th assigned one, on SQLite as on PostgreSQL.
    return (
        ExceptionRequest.objects.filter(open_due_at__isnull=False)
        .filter(assigned)
        .select_related("customer", "policy", "policy__problem_type", "rep", "claimed_by")
        .order_by("open_due_at", "pk")
    )


def my_requests(*, user: AbstractBaseUser) -> QuerySet[ExceptionRequest]:
    return ExceptionRequest.objects.filter(rep=user).select_related("customer", "policy").order_by("-filed_at", "-pk")


def customer_exceptions(*, customer_id: int, exclude_pk: int | None = None) -> QuerySet[ExceptionRequest]:
    """The customer's exceptions under every policy: the "frequent asker" view of one customer."""
    rows = ExceptionRequest.objects.filter(customer_id=customer_id).select_related("policy").order_by("-filed_at")
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return rows


@dataclass(frozen=True)
class HistoryEntry:
    when: datetime
    who: str
    reason: str
    kind: str
    changes: list[tuple[str, str, str]]


def history_entries(
    *, obj, skip_fields: tuple[str, ...] = ("routing_reasons", "customer_message", "policy_version")
) -> list[HistoryEntry]:
    """The change history of a record, newest first, with field-by-field differences."""
    records = list(obj.history.select_related("history_user").order_by("history_date", "history_id"))
    entries: list[HistoryEntry] = []
    previous = None
    for record in records:
        changes: list[tuple[str, str, str]] = []
        if previous is not None:
            delta = record.diff_against(previous)
            for change in delta.changes:
                if change.field in skip_fields:
                    continue
                field = obj._meta.get_field(change.field)
                changes.append((str(field.verbose_name), _display(field, change.old), _display(field, change.new)))
        who = "—"
        if record.history_user is not None:
            who = record.history_user.get_full_name() or record.history_user.get_username()
        kind = {"+": "Created", "~": "Changed", "-": "Deleted"}[record.history_type]
        entries.append(HistoryEntry(record.history_date, who, record.history_change_reason or "", kind, changes))
        previous = record
    return list(reversed(entries))


def _display(field, value) -> str:
    if value in (None, ""):
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%d %b %Y, %H:%M")
    if field.is_relation:
        related = field.related_model.objects.filter(pk=value).first()
        if related is None:
            return f"#{value}"
        if isinstance(related, get_user_model()):
            return related.get_full_name() or related.get_username()
        return str(related)
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def decision_context(*, user: AbstractBaseUser, exception_request: ExceptionRequest) -> dict:
    """What the request page offers this user: decide/claim/ask as an assigned approver, answer as the rep."""
    context: dict = {"can_act": False, "authority": None}
    if (
        exception_request.is_open
        and user.has_perm("requests.decide_exceptionrequest")
        and exception_request.rep_id != user.pk
    ):
        identity = approver_identity(user=user)
        rows = _approver_rows(identity).filter(
            policy_id=exception_request.policy_id, level=exception_request.approval_level
        )
        authorities = [row.money_authority for row in rows]
        if authorities:
            context["can_act"] = True
            context["authority"] = max(authorities)
    if exception_request.policy_version:
        context["policy_version"] = (
            exception_request.policy.history.filter(history_id=exception_request.policy_version)
            .select_related("history_user")
            .first()
        )
    return context


def queue_filtered(
    rows: QuerySet[ExceptionRequest],
    *,
    policy: Policy | None = None,
    problem_type=None,
    tier: int | None = None,
    level: int | None = None,
    overdue: bool = False,
    claimed_by_me: bool = False,
    query: str = "",
    user: AbstractBaseUser | None = None,
    now: datetime,
) -> QuerySet[ExceptionRequest]:
    if policy is not None:
        rows = rows.filter(policy=policy)
    if problem_type is not None:
        rows = rows.filter(policy__problem_type=problem_type)
    if tier == 0:
        rows = rows.filter(beyond_all_tiers=True)
    elif tier is not None:
        rows = rows.filter(tier_level=tier, beyond_all_tiers=False)
    if level is not None:
        rows = rows.filter(approval_level=level)
    if overdue:
        rows = rows.filter(open_due_at__lte=now)
    if claimed_by_me and user is not None:
        rows = rows.filter(claimed_by=user)
    return search_filter(rows, query)


def authorities_for(
    *, user: AbstractBaseUser, identity: ApproverIdentity | None = None
) -> dict[tuple[int, int], Decimal]:
    """The user's money authority at each (policy, level) they decide at (directly, by group or standing
    in), in one query: the queue flags rows above it. The rule deciding a request stays in the service."""
    identity = identity or approver_identity(user=user)
    authorities: dict[tuple[int, int], Decimal] = {}
    for policy_id, level, authority in _approver_rows(identity).values_list("policy_id", "level", "money_authority"):
        key = (policy_id, level)
        authorities[key] = max(authority, authorities.get(key, authority))
    return authorities


def waiting_for_rep_at_my_levels(
    *, user: AbstractBaseUser, identity: ApproverIdentity | None = None
) -> QuerySet[ExceptionRequest]:
    """Requests at the user's levels that wait for the rep's answer: shown marked in the queue, not hidden
    (a separate, short list, so that the queue itself keeps walking its deadline index)."""
    identity = identity or approver_identity(user=user)
    assigned = Exists(
        _approver_rows(identity).filter(policy_id=OuterRef("policy_id"), level=OuterRef("approval_level"))
    )
    return (
        ExceptionRequest.objects.filter(status=Status.WAITING_FOR_REP)
        .filter(assigned)
        .select_related("customer", "policy", "rep", "info_requested_by")
        .order_by("paused_at", "pk")
    )


def search_filter(rows: QuerySet[ExceptionRequest], query: str) -> QuerySet[ExceptionRequest]:
    """Reference, customer reference or customer name."""
    query = query.strip()
    if not query:
        return rows
    return rows.filter(
        Q(reference__iexact=query)
        | Q(reference__icontains=query)
        | Q(customer__external_ref__iexact=query)
        | Q(customer__name__icontains=query)
    )


ALL_REQUESTS_SORTS = {
    "deadline": ("open_due_at", "pk"),
    "-deadline": ("-open_due_at", "-pk"),
    "amount": ("amount", "pk"),
    "-amount": ("-amount", "-pk"),
    "filed": ("filed_at", "pk"),
    "-filed": ("-filed_at", "-pk"),
}


def all_requests(
    *,
    user: AbstractBaseUser,
    query: str = "",
    status: str = "",
    policy: Policy | None = None,
    problem_type=None,
    decided_by_me: bool = False,
    filed_from: date | None = None,
    filed_to: date | None = None,
    sort: str = "-filed",
) -> QuerySet[ExceptionRequest]:
    """Every request the user may see (``visible_requests``), searched, filtered and sorted."""
    rows = search_filter(visible_requests(user=user), query)
    if status:
        rows = rows.filter(status=status)
    if policy is not None:
        rows = rows.filter(policy=policy)
    if problem_type is not None:
        rows = rows.filter(policy__problem_type=problem_type)
    if decided_by_me:
        rows = rows.filter(decided_by=user)
    zone = timezone.get_current_timezone()
    if filed_from:
        rows = rows.filter(filed_at__gte=datetime.combine(filed_from, datetime.min.time(), tzinfo=zone))
    if filed_to:
        rows = rows.filter(
            filed_at__lt=datetime.combine(filed_to, datetime.min.time(), tzinfo=zone) + timedelta(days=1)
        )
    order = ALL_REQUESTS_SORTS.get(sort, ALL_REQUESTS_SORTS["-filed"])
    return rows.select_related("customer", "policy", "policy__problem_type", "rep", "claimed_by").order_by(*order)
