"""The routing rule: which tier a request needs, and who may grant it.

A pure function of plain data (no HTTP, no ORM), so that the filing service,
the live preview in the form, and later the API all route the same way, and
so that the rule is tested with tables of cases. Every step adds one sentence
to the explanation the rep reads ("routing is explained in words, line by
line", DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

SENTIMENT_WORDS = {
    "amazed": "amazed",
    "happy": "happy",
    "neutral": "neutral",
    "unhappy": "unhappy",
    "deeply_unhappy": "deeply unhappy",
}


class Outcome(StrEnum):
    REFUSED = "refused"
    GRANTED = "granted"
    PENDING = "pending"


@dataclass(frozen=True)
class TierSpec:
    level: int
    kind: str  # "" for tiers 1 and 3; "reward" or "save" for tier 2
    sentiments: frozenset[str]
    money_cap: Decimal
    max_business_days: int
    supplier_exceptions_allowed: int

    @property
    def label(self) -> str:
        return f"Tier {self.level} ({self.kind})" if self.kind else f"Tier {self.level}"


@dataclass(frozen=True)
class ApproverSpec:
    level: int
    name: str
    money_authority: Decimal
    user_id: int | None = None
    group_id: int | None = None
    # The active people who hold this row: its user, or its group's active members. None when
    # not known (a table test's plain data): then the row counts as held by someone active.
    active_holders: frozenset[int] | None = None

    def may_approve(self, amount: Decimal, *, excluding: frozenset[int] = frozenset()) -> bool:
        """Someone active (other than ``excluding``, the filer) holds this row with authority for ``amount``."""
        if not within_authority(amount, self.money_authority):
            return False
        if self.active_holders is None:
            return True
        return bool(self.active_holders - excluding)

    def is_staffed(self, *, excluding: frozenset[int] = frozenset()) -> bool:
        return self.active_holders is None or bool(self.active_holders - excluding)


@dataclass(frozen=True)
class ControlSpec:
    name: str
    why: str


@dataclass(frozen=True)
class PolicySpec:
    name: str
    active: bool
    tiers: tuple[TierSpec, ...]
    approvers: tuple[ApproverSpec, ...]
    controls: tuple[ControlSpec, ...] = ()


@dataclass(frozen=True)
class RequestFacts:
    sentiment: str
    amount: Decimal
    business_days: int
    supplier_exception: bool
    waived_controls: tuple[str, ...] = ()
    rep_has_tier2_right: bool = False
    # The filing rep: segregation of duties, they never approve their own request.
    rep_id: int | None = None
    # Whoever stands in for the filing rep today (an out-of-office in force): they may not decide what the
    # person they stand in for filed (DOMAIN.md, "Authority"), so they do not count as who may approve it.
    rep_stand_ins: frozenset[int] = frozenset()
    # References of this customer's earlier exceptions under this policy: granted, approved or still being
    # decided (neither denied nor withdrawn, requests.selectors.earlier_exception_references).
    earlier_exceptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingDecision:
    outcome: Outcome
    reasons: tuple[str, ...]
    tier: TierSpec | None = None
    beyond_all_tiers: bool = False
    is_repeat: bool = False
    approval_level: int | None = None
    approvers: tuple[ApproverSpec, ...] = field(default_factory=tuple)

    @property
    def tier_label(self) -> str:
        if self.beyond_all_tiers:
            return "Beyond all tiers"
        return self.tier.label if self.tier else "—"


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def within_authority(amount: Decimal, authority: Decimal | None) -> bool:
    """Approving needs money authority of at least the amount (denying needs none)."""
    return authority is not None and amount <= authority


def segregated(rep_id: int | None, stand_ins: frozenset[int] = frozenset()) -> frozenset[int]:
    """Who may not decide a request: the rep who filed it, and whoever stands in for that rep
    (segregation of duties, DOMAIN.md "Authority")."""
    return stand_ins | {rep_id} if rep_id is not None else stand_ins


def approval_level_for(
    approvers: tuple[ApproverSpec, ...],
    *,
    amount: Decimal,
    lowest: int,
    rep_id: int | None = None,
    excluding: frozenset[int] = frozenset(),
) -> int | None:
    """Routing by amount: the lowest approval level, at or above ``lowest``, where at least one
    active approver other than the filer (``rep_id``) and ``excluding`` (whoever stands in for the
    filer) may approve ``amount``; None when no level can.

    The filing service routes with ``lowest`` = the level the tier needs; the SLA sweep escalates
    a breach with ``lowest`` = the level above the breached one.
    """
    excluding = segregated(rep_id, excluding)
    able = [a.level for a in approvers if a.level >= lowest and a.may_approve(amount, excluding=excluding)]
    return min(able, default=None)


def highest_authority(
    approvers: tuple[ApproverSpec, ...],
    *,
    lowest: int,
    rep_id: int | None = None,
    excluding: frozenset[int] = frozenset(),
) -> Decimal | None:
    """The largest money authority an active approver (other than the filer and ``excluding``) holds at or
    above ``lowest``."""
    excluding = segregated(rep_id, excluding)
    staffed = [a.money_authority for a in approvers if a.level >= lowest and a.is_staffed(excluding=excluding)]
    return max(staffed, default=None)


def _misfits(tier: TierSpec, facts: RequestFacts) -> list[str]:
    """Why a tier's predefined limits or sentiments do not fit; empty when it fits."""
    misfits: list[str] = []
    if facts.sentiment not in tier.sentiments:
        meant_for = ", ".join(SENTIMENT_WORDS.get(s, s) for s in sorted(tier.sentiments, key=_sentiment_order))
        misfits.append(
            f"it is meant for {meant_for or 'no'} customers, not {SENTIMENT_WORDS.get(facts.sentiment, facts.sentiment)}"
        )
    if facts.amount > tier.money_cap:
        misfits.append(f"the amount {money(facts.amount)} is above its cap of {money(tier.money_cap)}")
    if facts.business_days > tier.max_business_days:
        misfits.append(f"{facts.business_days} business days affected is above its limit of {tier.max_business_days}")
    if facts.supplier_exception and tier.supplier_exceptions_allowed < 1:
        misfits.append("it allows no supplier exception")
    return misfits


def _segregation_sentence(facts: RequestFacts) -> str:
    """Why the filer's own authority (and their stand-ins') does not count, as the filing rep reads it."""
    if facts.rep_stand_ins:
        return (
            "You filed this request, so neither your authority nor that of whoever stands in for you counts: "
            "nobody decides a request they filed, or one filed by the person they stand in for."
        )
    return "You filed this request, so your own authority does not count: nobody decides a request they filed."


def _sentiment_order(sentiment: str) -> int:
    order = list(SENTIMENT_WORDS)
    return order.index(sentiment) if sentiment in order else len(order)


def route(policy: PolicySpec, facts: RequestFacts) -> RoutingDecision:
    """Route a request: refused, granted at once, or pending with an approver.

    Rules, in order (DOMAIN.md, "Filing and routing"):
    1. an inactive policy, or a waived control: refused, with the reason;
    2. the smallest tier whose limits and sentiments fit is the tier needed;
       beyond every tier's limits the request needs the top level of approval;
    3. tier 1, or tier 2 with the rep's right on the policy: granted at once,
       unless this customer already had an exception under this policy;
    4. otherwise pending, assigned to the policy's approval level;
    5. routing by amount: the lowest level, at or above the one the tier needs, where an active
       approver may approve the amount; refused, naming the highest authority, when no level can.
       Neither the filer nor whoever stands in for them counts (segregation of duties): a level only
       they could decide is skipped, and a sentence says so where it changed the outcome.
    """
    if not policy.active:
        return RoutingDecision(
            Outcome.REFUSED,
            (f"“{policy.name}” is no longer active: no exception can be filed under it.",),
        )

    controls = {c.name: c for c in policy.controls}
    waived = [controls[name] for name in facts.waived_controls if name in controls]
    if waived:
        reasons = tuple(
            f"The request would waive the control “{c.name}”: {c.why.rstrip('.')}. "
            "Exceptions are for process, not for controls: we can change how, not why. "
            "Offer a process alternative instead."
            for c in waived
        )
        return RoutingDecision(Outcome.REFUSED, reasons)

    reasons: list[str] = []
    chosen: TierSpec | None = None
    for tier in sorted(policy.tiers, key=lambda t: (t.level, t.kind)):
        misfits = _misfits(tier, facts)
        if misfits:
            reasons.append(f"{tier.label} does not fit: {'; '.join(misfits)}.")
            continue
        chosen = tier
        reasons.append(f"{tier.label} fits: the smallest tier whose limits and sentiments cover this request.")
        break

    top_level = max((a.level for a in policy.approvers), default=None)
    is_repeat = bool(facts.earlier_exceptions)

    if chosen is None:
        if not policy.tiers:
            reasons.append(f"“{policy.name}” has no tiers of exception defined.")
        reasons.append("No tier's predefined limits cover this request: it needs the top level of approval.")
        return _pending(policy, facts, reasons, None, top_level, beyond_all_tiers=True, is_repeat=is_repeat)

    if is_repeat:
        reasons.append(
            f"This customer already had an exception under “{policy.name}” "
            f"({', '.join(facts.earlier_exceptions)}): a one-time exception is one time, so an approver decides."
        )
        return _pending(policy, facts, reasons, chosen, 1, is_repeat=True)

    if chosen.level == 1:
        reasons.append("Tier 1 is a creative, middle-ground solution: any rep may grant it. Granted at once.")
        return RoutingDecision(Outcome.GRANTED, tuple(reasons), tier=chosen)

    if chosen.level == 2 and facts.rep_has_tier2_right:
        reasons.append(f"You hold the right to grant tier-2 exceptions of “{policy.name}”. Granted at once.")
        return RoutingDecision(Outcome.GRANTED, tuple(reasons), tier=chosen)

    if chosen.level == 2:
        reasons.append(f"Tier 2 needs approval: you do not hold the tier-2 right for “{policy.name}”.")
    else:
        reasons.append("Tier 3, a full resolution, is always decided by an approver.")
    return _pending(policy, facts, reasons, chosen, 1)


def _pending(
    policy: PolicySpec,
    facts: RequestFacts,
    reasons: list[str],
    tier: TierSpec | None,
    needed: int | None,
    *,
    beyond_all_tiers: bool = False,
    is_repeat: bool = False,
) -> RoutingDecision:
    def refused(reason: str) -> RoutingDecision:
        reasons.append(reason)
        return RoutingDecision(Outcome.REFUSED, tuple(reasons), tier=tier, beyond_all_tiers=beyond_all_tiers)

    if needed is None:
        return refused(
            f"“{policy.name}” has no approver at any level, so nobody could decide this request. "
            "Ask a policy admin to name one."
        )
    excluded = segregated(facts.rep_id, facts.rep_stand_ins)
    highest = highest_authority(policy.approvers, lowest=needed, excluding=excluded)
    level = approval_level_for(policy.approvers, amount=facts.amount, lowest=needed, excluding=excluded)
    # Where it would go if the filer (and whoever stands in for them) could decide it: any difference is
    # segregation of duties, which the rep reads in its own sentence before the outcome's.
    if approval_level_for(policy.approvers, amount=facts.amount, lowest=needed) != level or (
        highest is None and highest_authority(policy.approvers, lowest=needed) is not None
    ):
        reasons.append(_segregation_sentence(facts))
    if highest is None:
        return refused(
            f"“{policy.name}” has no active approver at level {needed} or above, so nobody could decide "
            "this request. Ask a policy admin to name one."
        )
    if level is None:
        return refused(
            f"Nobody may approve {money(facts.amount)} under “{policy.name}”; the highest authority is "
            f"{money(highest)}. Lower the amount, or ask a policy admin about the approvers' authority."
        )
    if level > needed:
        skipped = f"level {needed}" if level - 1 == needed else f"levels {needed}–{level - 1}"
        reasons.append(
            f"Nobody at approval {skipped} may approve {money(facts.amount)}: it goes straight to level {level}."
        )
    approvers = tuple(a for a in policy.approvers if a.level == level)
    names = ", ".join(a.name for a in approvers)
    reasons.append(f"Pending: assigned to approval level {level} ({names}).")
    return RoutingDecision(
        Outcome.PENDING,
        tuple(reasons),
        tier=tier,
        beyond_all_tiers=beyond_all_tiers,
        is_repeat=is_repeat,
        approval_level=level,
        approvers=approvers,
    )
