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
    # References of this customer's earlier (not denied) exceptions under this policy.
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
    4. otherwise pending, assigned to the policy's approval level.
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
        return _pending(policy, reasons, None, top_level, beyond_all_tiers=True, is_repeat=is_repeat)

    if is_repeat:
        reasons.append(
            f"This customer already had an exception under “{policy.name}” "
            f"({', '.join(facts.earlier_exceptions)}): a one-time exception is one time, so an approver decides."
        )
        return _pending(policy, reasons, chosen, 1, is_repeat=True)

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
    return _pending(policy, reasons, chosen, 1)


def _pending(
    policy: PolicySpec,
    reasons: list[str],
    tier: TierSpec | None,
    level: int | None,
    *,
    beyond_all_tiers: bool = False,
    is_repeat: bool = False,
) -> RoutingDecision:
    approvers = tuple(a for a in policy.approvers if a.level == level) if level is not None else ()
    if not approvers:
        where = f"at level {level}" if level is not None else "at any level"
        reasons.append(
            f"“{policy.name}” has no approver {where}, so nobody could decide this request. "
            "Ask a policy admin to name one."
        )
        return RoutingDecision(Outcome.REFUSED, tuple(reasons), tier=tier, beyond_all_tiers=beyond_all_tiers)
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
