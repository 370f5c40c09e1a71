"""The rule of authority: who may act on a request at its level, with which money authority, on whose behalf.

One function, ``decision_authority``, answers for the request page, the queue, the decision, a
claim and a question to the rep (and later the API), so that what a screen shows before anyone
clicks is exactly what the decision applies (DOMAIN.md, "Authority"):

- a person's authority at a level of a policy is the highest money authority of their own approver
  rows there, directly or through a group; approving needs authority of at least the amount,
  denying needs none;
- during an out-of-office in force (dates in the portal's TIME_ZONE, never the browser's) the
  delegate acts on the absent approver's levels with the absent approver's authority; an inactive
  absent approver, or one who is no longer an approver there, gives nothing; where both their own
  and a delegated authority apply, the larger applies (their own on a tie) and the record says whose;
- segregation of duties: nobody acts on a request they filed, nor on one filed by a person they
  stand in for.

``approver_standing`` reads what a user holds (a few queries, once per page); ``authority_at`` is
the pure rule on that plain data, cheap enough to run for every row of the queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from exceptions_portal import formatting, roles
from exceptions_portal.people import display_name
from policies.models import ApproverLevel
from policies.routing import money, within_authority
from policies.selectors import kept_per_rules_version
from requests.models import Delegation


def portal_today(now: datetime | None = None) -> date:
    """Today in the portal's TIME_ZONE. Not ``timezone.localdate()``: the middleware activates the
    browser's zone from a cookie the client controls, and authority must not depend on it."""
    return (now or timezone.now()).astimezone(ZoneInfo(settings.TIME_ZONE)).date()


@dataclass(frozen=True)
class Holding:
    """One approver row a person holds (directly or through a group)."""

    row_id: int
    policy_id: int
    level: int
    money_authority: Decimal


@dataclass(frozen=True)
class Principal:
    """Someone whose authority a user may use: themselves, or an absent approver they stand in for."""

    user_id: int
    name: str
    holdings: tuple[Holding, ...]


@dataclass(frozen=True)
class Standing:
    """What a user holds: their own rows, the rows of absent approvers whose out-of-office gives them
    something, and everyone they stand in for by the dates (segregation of duties reaches all of them)."""

    user_id: int
    own: tuple[Holding, ...]
    delegated: tuple[Principal, ...] = ()
    stands_in_for: tuple[tuple[int, str], ...] = ()
    # The groups of the user and of the absent approvers in ``delegated``: the queue's filter.
    group_ids: tuple[int, ...] = ()

    @property
    def acting_user_ids(self) -> tuple[int, ...]:
        return (self.user_id, *(principal.user_id for principal in self.delegated))


@dataclass(frozen=True)
class Authority:
    """The authority a user would act with on one request, or why they may not act at all."""

    amount: Decimal | None = None
    on_behalf_of_id: int | None = None
    on_behalf_of_name: str = ""
    approver_row_id: int | None = None
    refusal: str = ""
    # The refusal is segregation of duties (their own filing, or that of someone they stand in for),
    # not a matter of level: the services raise a different error for it.
    self_dealing: bool = False

    @property
    def may_act(self) -> bool:
        return not self.refusal

    def may_approve(self, amount: Decimal) -> bool:
        return self.may_act and within_authority(amount, self.amount)

    @property
    def described(self) -> str:
        """ "2,500.00 on behalf of Alex Kim", or "2,500.00" when it is the user's own."""
        if self.amount is None:
            return "none"
        behalf = f" on behalf of {self.on_behalf_of_name}" if self.on_behalf_of_id else ""
        return f"{money(self.amount)}{behalf}"

    def approval_refusal(self, amount: Decimal, policy_name: str) -> str:
        whose = "your money authority"
        if self.on_behalf_of_id:
            whose = f"the money authority you act with on behalf of {self.on_behalf_of_name}"
        return (
            f"The amount {money(amount)} is above {whose} of {money(self.amount or Decimal('0'))} "
            f"for “{policy_name}”: deny it, or leave it for an approver with more authority."
        )


def delegation_period_errors(*, starts_on: date, ends_on: date, today: date, max_days: int) -> list[str]:
    """Why an out-of-office period is not acceptable; empty when it is. Pure: dates in the portal's zone."""
    errors: list[str] = []
    if ends_on < starts_on:
        errors.append("The last day must be on or after the first day.")
    if starts_on < today:
        first_day = formatting.local(today, formatting.TEXT_DATE)
        errors.append(f"An out-of-office cannot start in the past: the first day is {first_day} at the earliest.")
    elif ends_on >= starts_on and (ends_on - starts_on).days + 1 > max_days:
        errors.append(
            f"An out-of-office lasts at most {max_days} days: {(ends_on - starts_on).days + 1} days were asked for."
        )
    return errors


def authority_phrase(*, status: str, authority: Decimal | None, on_behalf_of_name: str = "") -> str:
    """The authority a decision applied, for the decision's record: approvals and denials alike."""
    behalf = f" on behalf of {on_behalf_of_name}" if on_behalf_of_name else ""
    if status == "approved":
        if authority is None:
            return f"Approved{behalf}."
        return f"Approved within an authority of {money(authority)}{behalf}."
    if status == "denied":
        return f"Denied{behalf}: a denial needs no money authority."
    if status == "granted":
        return "Granted by the rep within the tier's limits: no approver's authority was needed."
    return ""


def _best(holdings: tuple[Holding, ...], *, policy_id: int, level: int) -> Holding | None:
    here = [h for h in holdings if h.policy_id == policy_id and h.level == level]
    return max(here, key=lambda h: h.money_authority, default=None)


def authority_at(
    standing: Standing,
    *,
    policy_id: int,
    level: int | None,
    rep_id: int,
    reference: str = "This request",
    action: str = "decide",
) -> Authority:
    """The pure rule: the authority ``standing`` acts with on a request of ``policy_id`` waiting at
    ``level``, filed by ``rep_id``; or a refusal in words for people."""
    if rep_id == standing.user_id:
        return Authority(refusal=f"You filed {reference}, so another approver must {action} it.", self_dealing=True)
    for absent_id, absent_name in standing.stands_in_for:
        if absent_id == rep_id:
            return Authority(
                refusal=f"{reference} was filed by {absent_name}, for whom you are standing in: "
                f"another approver must {action} it.",
                self_dealing=True,
            )
    if level is None:
        return Authority(refusal=f"{reference} is not waiting for an approver.")
    candidates: list[tuple[Holding, Principal | None]] = []
    own = _best(standing.own, policy_id=policy_id, level=level)
    if own is not None:
        candidates.append((own, None))
    for principal in standing.delegated:
        theirs = _best(principal.holdings, policy_id=policy_id, level=level)
        if theirs is not None:
            candidates.append((theirs, principal))
    if not candidates:
        return Authority(refusal=f"{reference} is not assigned to you: it waits at approval level {level}.")
    # The larger applies; on a tie one's own (max keeps the first of equals, and own comes first).
    holding, principal = max(candidates, key=lambda candidate: candidate[0].money_authority)
    return Authority(
        amount=holding.money_authority,
        on_behalf_of_id=principal.user_id if principal else None,
        on_behalf_of_name=principal.name if principal else "",
        approver_row_id=holding.row_id,
    )


def _holdings(user_ids: list[int], *, policy_id: int | None) -> tuple[dict[int, tuple[Holding, ...]], set[int]]:
    """Every approver row each user holds, directly or through a group, and all their groups: two queries."""
    memberships = (
        get_user_model().groups.through.objects.filter(user_id__in=user_ids).values_list("user_id", "group_id")
    )
    groups_of: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    for user_id, group_id in memberships:
        groups_of[user_id].add(group_id)
    all_groups: set[int] = set().union(*groups_of.values())
    rows = ApproverLevel.objects.filter(Q(user_id__in=user_ids) | Q(group_id__in=all_groups))
    if policy_id is not None:
        rows = rows.filter(policy_id=policy_id)
    held: dict[int, list[Holding]] = {user_id: [] for user_id in user_ids}
    for row in rows.values("pk", "policy_id", "level", "money_authority", "user_id", "group_id"):
        holding = Holding(row["pk"], row["policy_id"], row["level"], row["money_authority"])
        for user_id in user_ids:
            if row["user_id"] == user_id or row["group_id"] in groups_of[user_id]:
                held[user_id].append(holding)
    return {user_id: tuple(rows) for user_id, rows in held.items()}, all_groups


def delegations_in_force(*, delegate: AbstractBaseUser, today: date | None = None):
    """Out-of-offices naming ``delegate`` that run today by the portal's calendar."""
    today = today or portal_today()
    return Delegation.objects.filter(delegate=delegate, starts_on__lte=today, ends_on__gte=today)


def stand_ins_of(*, rep_ids: Iterable[int], today: date | None = None) -> dict[int, frozenset[int]]:
    """Whoever stands in for each of ``rep_ids`` today (an out-of-office in force, by the portal's dates),
    whatever the absent person's role: segregation of duties bars them from deciding what that person
    filed, so routing and escalation do not count them as who may approve it. One query for every
    out-of-office in force that day, then none while they are unchanged (kept per rules version)."""
    today = today or portal_today()
    in_force = kept_per_rules_version(("stand-ins", today), lambda: _stand_ins_on(today))
    return {rep_id: in_force.get(rep_id, frozenset()) for rep_id in rep_ids}


def _stand_ins_on(today: date) -> dict[int, frozenset[int]]:
    """Every out-of-office in force on ``today``: absent person -> their stand-ins. Kept per process under the
    rules version, which any out-of-office created, changed or ended renews (requests.apps), and by date."""
    found: dict[int, set[int]] = {}
    rows = Delegation.objects.filter(starts_on__lte=today, ends_on__gte=today)
    for absent_id, delegate_id in rows.values_list("approver_id", "delegate_id"):
        found.setdefault(absent_id, set()).add(delegate_id)
    return {absent_id: frozenset(delegates) for absent_id, delegates in found.items()}


def effective_absent_approvers(*, delegate: AbstractBaseUser, today: date | None = None) -> list[AbstractBaseUser]:
    """The absent approvers whose out-of-office gives ``delegate`` something today: active, and still
    approvers (the decide permission, directly, through a group or as superuser)."""
    absent_ids = delegations_in_force(delegate=delegate, today=today).values("approver_id")
    return list(roles.approvers(get_user_model().objects.filter(pk__in=absent_ids)).order_by("pk"))


def approver_standing(*, user: AbstractBaseUser, policy_id: int | None = None, today: date | None = None) -> Standing:
    """What ``user`` holds today (all policies, or one), read in a handful of queries."""
    today = today or portal_today()
    by_dates = list(delegations_in_force(delegate=user, today=today).select_related("approver").order_by("approver_id"))
    stands_in_for = tuple({d.approver_id: display_name(d.approver) for d in by_dates}.items())
    absent = effective_absent_approvers(delegate=user, today=today) if by_dates else []
    holdings, group_ids = _holdings([user.pk, *(a.pk for a in absent)], policy_id=policy_id)
    return Standing(
        user_id=user.pk,
        # Rows left behind by someone who is no longer an approver give them nothing (as for an absent one).
        own=holdings[user.pk] if roles.is_approver(user) else (),
        delegated=tuple(Principal(a.pk, display_name(a), holdings[a.pk]) for a in absent),
        stands_in_for=stands_in_for,
        group_ids=tuple(sorted(group_ids)),
    )


def decision_authority(
    *, user: AbstractBaseUser, request, action: str = "decide", today: date | None = None
) -> Authority:
    """The authority ``user`` acts with on ``request`` (an ExceptionRequest) at its current level."""
    standing = approver_standing(user=user, policy_id=request.policy_id, today=today)
    return authority_for_request(standing, request, action=action)


def authority_for_request(standing: Standing, request, *, action: str = "decide") -> Authority:
    return authority_at(
        standing,
        policy_id=request.policy_id,
        level=request.approval_level,
        rep_id=request.rep_id,
        reference=request.reference or "This request",
        action=action,
    )
