"""Reads: what a user may see, in as few queries as the page needs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    Count,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from exceptions_portal.days import day_start
from exceptions_portal.history import history_user_name, history_value
from exceptions_portal.people import display_name
from policies.models import ApproverLevel, ExceptionTier, Policy, ProblemType
from policies.routing import RequestFacts, RoutingDecision, route
from policies.selectors import policy_spec, rep_has_tier2_right
from requests.authority import (
    Standing,
    approver_standing,
    authority_for_request,
    authority_phrase,
    decision_authority,
    stand_ins_of,
)
from requests.models import (
    DECIDED_STATUSES,
    OPEN_STATUSES,
    Attachment,
    Cause,
    Customer,
    ExceptionRequest,
    Notification,
    Status,
    tier_label,
)
from requests.references import customer_ref_key
from requests.sla import Calendar


def unread_notification_count(*, user: AbstractBaseUser) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


# A denied request granted nothing, and a withdrawn one was taken back before anyone decided it:
# neither is an earlier exception for the one-time rule, nor for the known-customer hint.
NOT_AN_EXCEPTION = (Status.DENIED, Status.WITHDRAWN)


def customer_for_reference(reference: str) -> Customer | None:
    """The customer a reference names, however it is typed (references.customer_ref_key)."""
    key = customer_ref_key(reference)
    if not key:
        return None
    return Customer.objects.filter(ref_key=key).first()


@dataclass(frozen=True)
class KnownCustomer:
    customer: Customer
    exceptions: int
    last_reference: str | None


def known_customer(*, reference: str) -> KnownCustomer | None:
    """Whose reference this is, for the filing form: the customer, their exceptions and the last one."""
    customer = customer_for_reference(reference)
    if customer is None:
        return None
    rows = ExceptionRequest.objects.filter(customer=customer).exclude(status__in=NOT_AN_EXCEPTION)
    last = rows.order_by("-filed_at", "-pk").values_list("reference", flat=True).first()
    return KnownCustomer(customer=customer, exceptions=rows.count(), last_reference=last)


def earlier_exception_references(
    *, customer: Customer | None, policy_id: int, exclude_request_id: int | None = None
) -> tuple[str, ...]:
    """This customer's earlier exceptions under this policy: granted, approved, or still being decided."""
    if customer is None:
        return ()
    rows = (
        ExceptionRequest.objects.filter(customer=customer, policy_id=policy_id)
        .exclude(status__in=NOT_AN_EXCEPTION)
        .exclude(pk=exclude_request_id)
        .order_by("filed_at")
        .values_list("reference", flat=True)
    )
    return tuple(ref or "an earlier request" for ref in rows)


def routing_decision_for(
    *,
    rep: AbstractBaseUser,
    policy: Policy,
    customer: Customer | None,
    facts,
    exclude_request_id: int | None = None,
    rep_stand_ins: frozenset[int] | None = None,
    new_customer: bool = False,
) -> RoutingDecision:
    """Route ``facts`` (a FilingFacts) for this rep and customer with the policy's current rules
    (``exclude_request_id``: a request routed again does not count as its own earlier exception).

    Whoever stands in for the rep today (the portal's date, authority.stand_ins_of) does not count as who may
    approve it; ``rep_stand_ins`` when the caller already read them. ``new_customer``: the customer was created
    in this transaction, so has no earlier exception to look for."""
    if rep_stand_ins is None:
        rep_stand_ins = stand_ins_of(rep_ids=[rep.pk])[rep.pk]
    return route(
        policy_spec(policy),
        RequestFacts(
            sentiment=facts.sentiment,
            amount=facts.amount,
            business_days=facts.business_days,
            supplier_exception=facts.supplier_exception,
            waived_controls=tuple(facts.waived_controls),
            rep_has_tier2_right=rep_has_tier2_right(user=rep, policy=policy),
            rep_id=rep.pk,
            rep_stand_ins=rep_stand_ins,
            earlier_exceptions=()
            if new_customer
            else earlier_exception_references(
                customer=customer, policy_id=policy.pk, exclude_request_id=exclude_request_id
            ),
        ),
    )


@dataclass(frozen=True)
class ApproverIdentity:
    """Whom a user acts for: themselves and every absent approver whose out-of-office gives them
    something today (authority.py); ``stands_in_for`` also counts the ones that give nothing, for
    segregation of duties."""

    user_ids: tuple[int, ...]
    group_ids: tuple[int, ...]
    stands_in_for: tuple[int, ...]


def approver_identity(
    *, user: AbstractBaseUser, today: date | None = None, standing: Standing | None = None
) -> ApproverIdentity:
    standing = standing or approver_standing(user=user, today=today)
    return ApproverIdentity(
        user_ids=standing.acting_user_ids,
        group_ids=standing.group_ids,
        stands_in_for=tuple(absent_id for absent_id, _ in standing.stands_in_for),
    )


def _approver_rows(identity: ApproverIdentity) -> QuerySet[ApproverLevel]:
    return ApproverLevel.objects.filter(Q(user_id__in=identity.user_ids) | Q(group_id__in=identity.group_ids))


def is_policy_admin(user: AbstractBaseUser) -> bool:
    return user.has_perm("policies.change_policy")


def visible_requests(*, user: AbstractBaseUser) -> QuerySet[ExceptionRequest]:
    """What a user may open: their own filings; as an approver, what reached their level
    (now or before an escalation), what they decided or still hold a claim on; everything for a policy admin."""
    requests = ExceptionRequest.objects.all()
    if is_policy_admin(user):
        return requests
    condition = Q(rep=user)
    if user.has_perm("requests.decide_exceptionrequest"):
        identity = approver_identity(user=user)
        reached = Exists(
            _approver_rows(identity).filter(policy_id=OuterRef("policy_id"), level__lte=OuterRef("approval_level"))
        )
        # What they claimed stays visible, so that they can release it once it left their reach.
        condition |= reached | Q(decided_by=user) | Q(claimed_by=user)
    return requests.filter(condition)


def get_request_for_user(*, user: AbstractBaseUser, pk: int) -> ExceptionRequest:
    """The one place that decides whether a user may see a request: 404 otherwise."""
    return get_object_or_404(
        visible_requests(user=user).select_related(
            "customer", "policy", "policy__problem_type", "rep", "decided_by", "decided_on_behalf_of", "claimed_by"
        ),
        pk=pk,
    )


# Below this many open requests a queue is read through its (policy, level) pairs and sorted; from here
# on, walking every open request in deadline order finds a page of the queue's rows sooner.
SMALL_QUEUE = 1000


@dataclass(frozen=True)
class ApproverQueue:
    """One approver's queue: ``counted``, its rows planned for counting them, and ``in_order(size)``, the same
    rows in deadline order, planned for reading a page of a queue of about ``size`` rows. Filter both alike
    (``queue_filtered``)."""

    counted: QuerySet[ExceptionRequest]
    in_order: Callable[[int], QuerySet[ExceptionRequest]]


def approver_queue(*, user: AbstractBaseUser, standing: Standing | None = None) -> ApproverQueue:
    """Open requests at a level where the user (or whom they stand in for) approves, oldest deadline first.

    Not what they filed, nor what a person they stand in for filed: they may not act on those
    (segregation of duties, authority.py). Whom they act for is the rule of authority's (approver_identity:
    out-of-office by the portal's dates, approvers only).

    Which plan is cheap depends on the queue's share of the open requests, which neither engine can know
    from the statement alone (SQLite keeps no statistics). The queue's (policy, level) pairs are read first
    and the rows counted through the (policy, approval_level, status) index, which stops at the pager's cap
    however few of the open requests are the queue's. Then, for the page: a queue under SMALL_QUEUE rows
    (2 %, one request, none) is read through its pairs and sorted; a larger one walks the deadline index
    and stops at the page's last row, which comes soon because the queue's rows are dense there. The number
    of queries is the same whatever the shape or the size.
    """
    identity = approver_identity(user=user, standing=standing)
    approver_rows = _approver_rows(identity)
    pairs = sorted(set(approver_rows.values_list("policy_id", "level")))
    assigned = Q(pk__in=[])
    for policy_id, level in pairs:
        assigned |= Q(policy_id=policy_id, approval_level=level)
    not_theirs = Q(rep_id__in=(user.pk, *identity.stands_in_for))
    rows = (
        ExceptionRequest.objects.filter(open_due_at__isnull=False)
        .exclude(not_theirs)
        .select_related("customer", "policy", "policy__problem_type", "rep", "claimed_by")
    )

    def in_order(size: int) -> QuerySet[ExceptionRequest]:
        if size < SMALL_QUEUE:
            # Coalesce hides the deadline index from the ORDER BY, so that the engine looks the pairs up and
            # sorts the few rows it finds instead of walking every open request for them.
            return rows.filter(assigned).order_by(Coalesce("open_due_at", "due_at"), "pk")
        # A correlated check cannot use the pairs' index, so the engine walks the deadline index.
        correlated = Exists(approver_rows.filter(policy_id=OuterRef("policy_id"), level=OuterRef("approval_level")))
        return rows.filter(correlated).order_by("open_due_at", "pk")

    counted = ExceptionRequest.objects.filter(assigned, status__in=OPEN_STATUSES).exclude(not_theirs).order_by()
    return ApproverQueue(counted=counted, in_order=in_order)


def queue_for(*, user: AbstractBaseUser, standing: Standing | None = None) -> QuerySet[ExceptionRequest]:
    """The approver's queue in deadline order, planned for its size (``approver_queue``)."""
    queue = approver_queue(user=user, standing=standing)
    return queue.in_order(queue.counted[:SMALL_QUEUE].count())


def my_requests(
    *,
    user: AbstractBaseUser,
    status: str = "",
    policy: Policy | None = None,
    filed_from: date | None = None,
    filed_to: date | None = None,
    q: str = "",
) -> QuerySet[ExceptionRequest]:
    """The rep's own requests, those waiting for their answer first, then the newest."""
    rows = ExceptionRequest.objects.filter(rep=user)
    if status:
        rows = rows.filter(status=status)
    if policy is not None:
        rows = rows.filter(policy=policy)
    if filed_from is not None:
        rows = rows.filter(filed_at__gte=day_start(filed_from))
    if filed_to is not None:
        rows = rows.filter(filed_at__lt=day_start(filed_to + timedelta(days=1)))
    q = q.strip()
    if q:
        rows = rows.filter(
            Q(reference__icontains=q) | Q(customer__external_ref__icontains=q) | Q(customer__name__icontains=q)
        )
    waiting_first = Case(When(status=Status.WAITING_FOR_REP, then=Value(0)), default=Value(1))
    return rows.select_related("customer", "policy").order_by(waiting_first, "-filed_at", "-pk")


# A customer who filed at least this many requests in a period asks often: the analysis lists them, and the
# customer page marks them "frequent asker".
FREQUENT_ASKER_MIN_REQUESTS = 2


def is_frequent_asker(filed_in_period: int) -> bool:
    return filed_in_period >= FREQUENT_ASKER_MIN_REQUESTS


def requests_filed_between(start_at: datetime, end_at: datetime) -> QuerySet[ExceptionRequest]:
    """The requests filed from ``start_at`` (included) to ``end_at`` (excluded) that count as exceptions asked
    for: what the analysis counts and the customer page's "filed in the last 90 days" counts alike."""
    # A withdrawn request was taken back before anyone decided it: it is not an exception to learn from.
    rows = ExceptionRequest.objects.filter(filed_at__gte=start_at, filed_at__lt=end_at).exclude(status=Status.WITHDRAWN)
    # No default ordering: it would add a sort of every row to each aggregate.
    return rows.order_by()


# The analysis' counts of a set of requests, as aggregate expressions: what the analysis shows and what the daily
# rollups (services.rollups) store, defined once for both. Open requests are counted by the analysis alone.
GRANTED = Q(status__in=[Status.GRANTED, Status.APPROVED])
GRANTED_AT_ONCE = Q(status=Status.GRANTED)
DECIDED_BY_APPROVER = Q(status__in=[Status.APPROVED, Status.DENIED])
WENT_TO_APPROVER = Q(approval_level__isnull=False)


class WholeMinutes(Func):
    """A duration in whole minutes, floored (so 59 s is 0 and -30 s is -1, as format_duration reads them), computed
    exactly from the database's own duration: whole microseconds on SQLite (Django's django_timestamp_diff), an
    interval on PostgreSQL. A duration just under a minute boundary stays under it (tests: ±1 µs around them)."""

    output_field = IntegerField()

    # Whole microseconds (SQLite): integer division truncates towards zero, so shift every duration a datetime
    # can hold (under 3.2e17 µs either way) above zero first, and the division floors. The duration (a Python
    # function on SQLite) appears once.
    template = "((%(expressions)s + 600000000000000000) / 60000000 - 10000000000)"

    def as_postgresql(self, compiler, connection, **extra_context):
        # date_part() is a double: the interval's whole microseconds / 1e6, correctly rounded. Floored after / 60 it
        # is exact while a minute boundary stays farther from its neighbours (1 µs / 60) than a double's spacing
        # there (m * 2.2e-16): durations under 10 million minutes (19 years) either way. EXTRACT() is numeric since
        # PostgreSQL 14, also exact, but its arithmetic made the pass over a year of decisions half as slow again.
        return self.as_sql(
            compiler, connection, template="FLOOR(DATE_PART('epoch', %(expressions)s) / 60)::bigint", **extra_context
        )


def rollup_day(field: str) -> TruncDate:
    """The local day (settings.TIME_ZONE) of a moment: the day the analysis' rollups count it under
    (services.rollups), and the day the analysis reads its live part by (policies.insights)."""
    return TruncDate(field, tzinfo=ZoneInfo(settings.TIME_ZONE))


def rollup_month(field: str) -> TruncMonth:
    """The first day of the local month (settings.TIME_ZONE) of a moment, as rollup_day."""
    return TruncMonth(field, tzinfo=ZoneInfo(settings.TIME_ZONE), output_field=DateField())


def request_counters() -> dict[str, Aggregate | Coalesce]:
    """Every count and sum a summary row of the analysis carries, except the requests still open."""
    return {
        "filed": Count("pk"),
        "granted_by_rep": Count("pk", filter=Q(status=Status.GRANTED)),
        "approved": Count("pk", filter=Q(status=Status.APPROVED)),
        "denied": Count("pk", filter=Q(status=Status.DENIED)),
        "money_granted": Coalesce(
            Sum("amount", filter=GRANTED), Value(Decimal("0")), output_field=ExceptionRequest._meta.get_field("amount")
        ),
        "went_to_approver": Count("pk", filter=WENT_TO_APPROVER),
        "sla_kept": Count("pk", filter=WENT_TO_APPROVER & Q(breached_level__isnull=True)),
        "tier1": Count("pk", filter=Q(tier_level=1, beyond_all_tiers=False)),
        "tier2_reward": Count("pk", filter=Q(tier_level=2, tier_kind="reward")),
        "tier2_save": Count("pk", filter=Q(tier_level=2, tier_kind="save")),
        "tier3": Count("pk", filter=Q(tier_level=3)),
        "beyond": Count("pk", filter=Q(beyond_all_tiers=True)),
        **{f"cause_{c.value}": Count("pk", filter=Q(cause=c.value)) for c in Cause},
    }


def person_of_work() -> dict[str, Case | ExpressionWrapper]:
    """Whose work a request counts as in the analysis' people table: a grant at once is the filing rep's
    (``at_once``), an approver's decision the deciding approver's. Only for requests in GRANTED_AT_ONCE or
    DECIDED_BY_APPROVER."""
    return {
        "person": Case(When(GRANTED_AT_ONCE, then=F("rep")), default=F("decided_by")),
        "at_once": ExpressionWrapper(GRANTED_AT_ONCE, output_field=BooleanField()),
    }


def person_counters() -> dict[str, Aggregate]:
    """A person's counts in the people table, grouped by person_of_work()."""
    return {
        "n": Count("pk"),
        "money": Sum("amount"),  # read for the reps' rows only
        "approved": Count("pk", filter=Q(status=Status.APPROVED)),
        "denied": Count("pk", filter=Q(status=Status.DENIED)),
        "on_time": Count("pk", filter=Q(breached_level__isnull=True)),
    }


def customer_requests_filed(*, customer_id: int, first_day: date, last_day: date) -> int:
    """How many requests a customer filed from ``first_day`` to ``last_day`` (local days, both included)."""
    return (
        requests_filed_between(day_start(first_day), day_start(last_day + timedelta(days=1)))
        .filter(customer_id=customer_id)
        .count()
    )


def customer_exceptions(*, customer_id: int, exclude_pk: int | None = None) -> QuerySet[ExceptionRequest]:
    """The customer's exceptions under every policy: the "frequent asker" view of one customer."""
    rows = (
        ExceptionRequest.objects.filter(customer_id=customer_id)
        .select_related("policy", "decided_by")
        .order_by("-filed_at", "-pk")
    )
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
                changes.append(
                    (str(field.verbose_name), history_value(field, change.old), history_value(field, change.new))
                )
        who = history_user_name(record.history_user)
        kind = {"+": "Created", "~": "Changed", "-": "Deleted"}[record.history_type]
        entries.append(HistoryEntry(record.history_date, who, record.history_change_reason or "", kind, changes))
        previous = record
    return list(reversed(entries))


def decision_context(*, user: AbstractBaseUser, exception_request: ExceptionRequest) -> dict:
    """What the request page offers this user: decide/claim/ask as an assigned approver, with the
    authority the decision would apply (the same function the decision calls), and what was in force."""
    context: dict = {"can_act": False, "authority": None, "authority_refusal": ""}
    if exception_request.is_open and user.has_perm("requests.decide_exceptionrequest"):
        authority = decision_authority(user=user, request=exception_request)
        context["authority"] = authority
        context["can_act"] = authority.may_act
        context["authority_refusal"] = authority.refusal
        context["may_approve"] = authority.may_approve(exception_request.amount)
    if exception_request.decided_at:
        context["in_force"] = decision_in_force(exception_request)
    return context


@dataclass(frozen=True)
class TierInForce:
    label: str
    money_cap: Decimal
    max_business_days: int
    supplier_exceptions_allowed: int


@dataclass(frozen=True)
class InForce:
    """What a decision was made under: the policy as it stood at the recorded version, and the
    authority applied, phrased for people."""

    policy_name: str
    problem_type: str
    version: int | None
    changed_at: datetime | None
    changed_by: str
    tiers: tuple[TierInForce, ...]
    authority: str

    @property
    def version_text(self) -> str:
        """ "version 4 of this policy, changed 12 Aug 2026 by Sam Patel" """
        if self.version is None:
            return "version not recorded"
        text = f"version {self.version} of this policy"
        if self.changed_at is not None:
            changed = timezone.localtime(self.changed_at)
            text += f", changed {changed.day} {changed:%b %Y}"
        if self.changed_by:
            text += f" by {self.changed_by}"
        return text


def _tiers_as_of(policy_id: int, moment: datetime) -> tuple[TierInForce, ...]:
    """The policy's tiers as they stood at ``moment``, from their history rows. A back-dated
    decision (demo data) that precedes every tier row shows the tiers as first recorded."""
    rows = list(ExceptionTier.history.filter(policy_id=policy_id).order_by("history_date", "history_id"))
    latest: dict[int, object] = {}
    for row in rows:
        if row.history_date <= moment:
            latest[row.id] = row
    if not latest:
        for row in rows:
            latest.setdefault(row.id, row)
    standing = [row for row in latest.values() if row.history_type != "-"]
    standing.sort(key=lambda row: (row.level, row.kind))
    return tuple(
        TierInForce(
            label=tier_label(row.level, row.kind, False),
            money_cap=row.money_cap,
            max_business_days=row.max_business_days,
            supplier_exceptions_allowed=row.supplier_exceptions_allowed,
        )
        for row in standing
    )


def decision_in_force(exception_request: ExceptionRequest) -> InForce:
    """The policy's name, problem type, tiers and limits at the version recorded at the decision
    (its history row), the readable version, and the authority applied in words."""
    policy = exception_request.policy
    recorded = None
    if exception_request.policy_version:
        recorded = (
            policy.history.filter(history_id=exception_request.policy_version).select_related("history_user").first()
        )
    decided_at = exception_request.decided_at or timezone.now()
    if recorded is None:
        name, problem_type_id, version, changed_at, changed_by = policy.name, policy.problem_type_id, None, None, ""
        moment = decided_at
    else:
        name, problem_type_id = recorded.name, recorded.problem_type_id
        # The version a person reads is the ordinal of the history row, not its id.
        version = policy.history.filter(history_id__lte=recorded.history_id).count()
        changed_at = recorded.history_date
        changed_by = display_name(recorded.history_user) if recorded.history_user else ""
        moment = max(decided_at, recorded.history_date)
    problem_type_row = (
        ProblemType.history.filter(id=problem_type_id, history_date__lte=moment)
        .order_by("-history_date", "-history_id")
        .first()
    )
    problem_type = (
        problem_type_row.name if problem_type_row else str(ProblemType.objects.filter(pk=problem_type_id).first() or "")
    )
    return InForce(
        policy_name=name,
        problem_type=problem_type,
        version=version,
        changed_at=changed_at,
        changed_by=changed_by,
        tiers=_tiers_as_of(policy.pk, moment),
        authority=authority_phrase(
            status=exception_request.status,
            authority=exception_request.approver_authority,
            on_behalf_of_name=display_name(exception_request.decided_on_behalf_of)
            if exception_request.decided_on_behalf_of_id
            else "",
        ),
    )


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


def authorities_for(*, standing: Standing, rows: Iterable[ExceptionRequest]) -> list[ExceptionRequest]:
    """Each row with the authority its decision would apply (``row.authority``, the one rule of
    authority.py, stand-ins and segregation of duties included) and whether it allows approving
    (``row.may_approve``): the queue flags rows above it ("needs 2,500: you hold 250"). ``standing`` is
    read once per page; no query per row."""
    rows = list(rows)
    for row in rows:
        row.authority = authority_for_request(standing, row)
        row.may_approve = row.authority.may_approve(row.amount)
    return rows


def waiting_for_rep_at_my_levels(
    *, user: AbstractBaseUser, standing: Standing | None = None
) -> QuerySet[ExceptionRequest]:
    """Requests at the user's levels that wait for the rep's answer: shown marked in the queue, not hidden
    (a separate, short list, so that the queue itself keeps walking its deadline index). Not what they, or
    whoever they stand in for, filed: as in the queue (segregation of duties)."""
    identity = approver_identity(user=user, standing=standing)
    assigned = Exists(
        _approver_rows(identity).filter(policy_id=OuterRef("policy_id"), level=OuterRef("approval_level"))
    )
    return (
        ExceptionRequest.objects.filter(status=Status.WAITING_FOR_REP)
        .filter(assigned)
        .exclude(rep_id__in=(user.pk, *identity.stands_in_for))
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


# Evidence may be added while the request is being decided, and by the filing rep also once it is decided (the
# bank confirmation often arrives after the grant). Listed, not excluded: a status added later (a withdrawn
# request) accepts nothing until it is named here.
REP_ATTACH_STATUSES = (*OPEN_STATUSES, Status.WAITING_FOR_REP, *DECIDED_STATUSES)
# Removing is possible only before the decision: what a decision was made on stays.
REMOVABLE_STATUSES = (*OPEN_STATUSES, Status.WAITING_FOR_REP)


def is_assigned_approver(*, user: AbstractBaseUser, exception_request: ExceptionRequest) -> bool:
    """The user (or whom they stand in for) approves at the request's current level, and did not file it."""
    if (
        not exception_request.is_open
        or exception_request.rep_id == user.pk
        or not user.has_perm("requests.decide_exceptionrequest")
    ):
        return False
    identity = approver_identity(user=user)
    return (
        _approver_rows(identity)
        .filter(policy_id=exception_request.policy_id, level=exception_request.approval_level)
        .exists()
    )


def may_attach(*, user: AbstractBaseUser, exception_request: ExceptionRequest) -> bool:
    if exception_request.rep_id == user.pk:
        return exception_request.status in REP_ATTACH_STATUSES
    return is_assigned_approver(user=user, exception_request=exception_request)


def may_remove_attachment(
    *, user: AbstractBaseUser, attachment: Attachment, exception_request: ExceptionRequest
) -> bool:
    return attachment.uploaded_by_id == user.pk and exception_request.status in REMOVABLE_STATUSES


def get_attachment_for_user(*, user: AbstractBaseUser, request_pk: int, pk: int) -> Attachment:
    """An attachment of a request the user may see: 404 otherwise, as for the request itself."""
    exception_request = get_request_for_user(user=user, pk=request_pk)
    return get_object_or_404(Attachment.objects.select_related("uploaded_by"), request=exception_request, pk=pk)


def attachment_history_entries(*, exception_request: ExceptionRequest) -> list[HistoryEntry]:
    """Attachments added and removed, as entries of the request's history."""
    rows = Attachment.history.filter(request_id=exception_request.pk).select_related("history_user")
    entries = []
    for row in rows:
        who = history_user_name(row.history_user)
        verb = {"+": "Attached", "-": "Removed attachment", "~": "Changed attachment"}[row.history_type]
        size = f"{row.size / 1024:.0f} KB" if row.size < 1024 * 1024 else f"{row.size / 1024 / 1024:.1f} MB"
        entries.append(HistoryEntry(row.history_date, who, f"{verb} “{row.name}” ({size})", verb, []))
    return entries


def request_history_entries(*, exception_request: ExceptionRequest) -> list[HistoryEntry]:
    """The request's own history and its attachments', newest first."""
    entries = history_entries(obj=exception_request) + attachment_history_entries(exception_request=exception_request)
    return sorted(entries, key=lambda entry: entry.when, reverse=True)


def may_view_customer(*, user: AbstractBaseUser, customer_id: int) -> bool:
    """Reps see the customers they filed for; approvers and policy admins every customer.

    Approvers decide for any customer and already see the frequent askers in the analysis; a rep needs the
    story of the customers they serve, not a directory of every customer.
    """
    if is_policy_admin(user) or user.has_perm("requests.decide_exceptionrequest"):
        return True
    return ExceptionRequest.objects.filter(customer_id=customer_id, rep=user).exists()


def get_customer_for_user(*, user: AbstractBaseUser, pk: int) -> Customer:
    """The one place that decides whether a user may see a customer's page: 404 otherwise."""
    customer = get_object_or_404(Customer, pk=pk)
    if not may_view_customer(user=user, customer_id=customer.pk):
        raise Http404("No such customer.")
    return customer


def openable_request_ids(*, user: AbstractBaseUser, rows: QuerySet[ExceptionRequest]) -> set[int]:
    """Which of ``rows`` the user may open: those get a link, the others are listed without one."""
    return set(visible_requests(user=user).filter(pk__in=rows.values("pk")).values_list("pk", flat=True))


def calendar_spec(policy: Policy) -> Calendar | None:
    """The policy's business calendar as the SLA clock's plain data; None counts wall-clock minutes."""
    calendar = policy.calendar
    if calendar is None:
        return None
    return Calendar(
        time_zone=calendar.time_zone,
        working_days=frozenset(calendar.working_days),
        opens_at=calendar.opens_at,
        closes_at=calendar.closes_at,
        holidays=frozenset(h.date for h in calendar.holidays.all()),
    )
