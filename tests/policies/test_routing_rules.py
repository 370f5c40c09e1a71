"""The routing rule's explanation, sentence by sentence, and the defaults a first-time customer gets.

`test_routing.py` pins which tier and level each case reaches; this file pins what the rep reads for every path
(beyond all tiers, the tier-2 right, tier 3, repeat customers, a policy without tiers, the refusals) and the
smaller rules inside (which sentiments a tier is meant for, money formatting, tier order). Pure: no database.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from policies.routing import (
    SENTIMENT_WORDS,
    ApproverSpec,
    ControlSpec,
    Outcome,
    PolicySpec,
    RequestFacts,
    RoutingDecision,
    TierSpec,
    money,
    route,
)
from tests.policies.test_routing import APPROVERS, POLICY, TIERS, facts

# Pure functions: the same on every database engine, so run on the SQLite leg only (README, Development).
pytestmark = pytest.mark.engine_independent

FITS_TIER_1 = "Tier 1 fits: the smallest tier whose limits and sentiments cover this request."
LEVEL_1 = "Pending: assigned to approval level 1 (Morgan Lee, Managers (group))."


def test_beyond_all_tiers_explains_every_tier_and_the_top_level() -> None:
    decision = route(POLICY, facts(amount=Decimal("2000")))
    assert decision.reasons == (
        "Tier 1 does not fit: the amount 2,000.00 is above its cap of 50.00.",
        "Tier 2 (reward) does not fit: it is meant for amazed, happy customers, not unhappy; "
        "the amount 2,000.00 is above its cap of 250.00.",
        "Tier 2 (save) does not fit: the amount 2,000.00 is above its cap of 250.00.",
        "Tier 3 does not fit: the amount 2,000.00 is above its cap of 1,500.00.",
        "No tier's predefined limits cover this request: it needs the top level of approval.",
        "Pending: assigned to approval level 2 (Dana Okafor).",
    )
    assert (decision.outcome, decision.tier, decision.beyond_all_tiers) == (Outcome.PENDING, None, True)
    assert decision.tier_label == "Beyond all tiers"
    assert decision.is_repeat is False


def test_the_tier_2_right_grants_with_its_own_sentence() -> None:
    decision = route(POLICY, facts(amount=Decimal("100"), rep_has_tier2_right=True))
    assert decision.reasons[-1] == "You hold the right to grant tier-2 exceptions of “Return window”. Granted at once."
    assert decision.outcome is Outcome.GRANTED
    assert (decision.approval_level, decision.approvers, decision.is_repeat) == (None, (), False)


def test_tier_2_without_the_right_says_why_it_needs_approval() -> None:
    decision = route(POLICY, facts(amount=Decimal("100")))
    assert decision.reasons == (
        "Tier 1 does not fit: the amount 100.00 is above its cap of 50.00.",
        "Tier 2 (reward) does not fit: it is meant for amazed, happy customers, not unhappy.",
        "Tier 2 (save) fits: the smallest tier whose limits and sentiments cover this request.",
        "Tier 2 needs approval: you do not hold the tier-2 right for “Return window”.",
        LEVEL_1,
    )
    assert decision.is_repeat is False


def test_tier_3_is_always_decided_by_an_approver() -> None:
    decision = route(POLICY, facts(amount=Decimal("300"), rep_has_tier2_right=True))
    assert decision.reasons[-3:] == (
        "Tier 3 fits: the smallest tier whose limits and sentiments cover this request.",
        "Tier 3, a full resolution, is always decided by an approver.",
        LEVEL_1,
    )
    assert decision.approvers == APPROVERS[:2]
    assert decision.is_repeat is False


def test_several_earlier_exceptions_are_all_named() -> None:
    decision = route(POLICY, facts(earlier_exceptions=("EX-2026-000001", "EX-2026-000002")))
    assert decision.reasons == (
        FITS_TIER_1,
        "This customer already had an exception under “Return window” (EX-2026-000001, EX-2026-000002): "
        "a one-time exception is one time, so an approver decides.",
        LEVEL_1,
    )
    assert (decision.outcome, decision.is_repeat, decision.approval_level) == (Outcome.PENDING, True, 1)


def test_a_repeat_beyond_all_tiers_goes_to_the_top_and_is_marked_repeat() -> None:
    decision = route(POLICY, facts(amount=Decimal("2000"), earlier_exceptions=("EX-1",)))
    assert (decision.approval_level, decision.is_repeat, decision.beyond_all_tiers) == (2, True, True)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"amount": Decimal("100")},
        {"amount": Decimal("100"), "rep_has_tier2_right": True},
        {"amount": Decimal("300")},
        {"amount": Decimal("2000")},
    ],
)
def test_a_first_time_customer_is_never_a_repeat(overrides) -> None:
    plain = RequestFacts(
        sentiment="unhappy", amount=overrides.get("amount", Decimal("10")), business_days=0, supplier_exception=False
    )
    assert plain.earlier_exceptions == ()
    assert route(POLICY, facts(**overrides)).is_repeat is False


def test_request_facts_default_to_no_right_no_waiver_no_history() -> None:
    plain = RequestFacts(sentiment="neutral", amount=Decimal("100"), business_days=0, supplier_exception=False)
    assert (plain.waived_controls, plain.rep_has_tier2_right, plain.earlier_exceptions) == ((), False, ())
    # Without the right, tier 2 waits for an approver.
    assert route(POLICY, plain).outcome is Outcome.PENDING


def test_decision_defaults() -> None:
    decision = RoutingDecision(Outcome.GRANTED, ())
    assert (decision.tier, decision.beyond_all_tiers, decision.is_repeat) == (None, False, False)
    assert (decision.approval_level, decision.approvers) == (None, ())
    assert decision.tier_label == "—"


def test_a_policy_without_tiers_says_so_and_goes_to_the_top_level() -> None:
    decision = route(PolicySpec("Gift cards", True, (), APPROVERS), facts())
    assert decision.reasons == (
        "“Gift cards” has no tiers of exception defined.",
        "No tier's predefined limits cover this request: it needs the top level of approval.",
        "Pending: assigned to approval level 2 (Dana Okafor).",
    )
    assert decision.beyond_all_tiers is True


def test_no_approver_at_the_tiers_level_goes_to_the_lowest_level_above_that_can() -> None:
    # Routing by amount: the lowest level at or above the tier's where someone may approve the amount.
    policy = PolicySpec("Return window", True, TIERS, approvers=APPROVERS[2:])
    decision = route(policy, facts(amount=Decimal("300")))
    assert decision.reasons[-1] == "Pending: assigned to approval level 2 (Dana Okafor)."
    assert (decision.outcome, decision.tier_label, decision.approval_level) == (Outcome.PENDING, "Tier 3", 2)
    assert [a.name for a in decision.approvers] == ["Dana Okafor"]
    assert decision.is_repeat is False


def test_no_approver_at_all_beyond_every_tier_is_refused_at_any_level() -> None:
    decision = route(PolicySpec("Return window", True, TIERS, approvers=()), facts(amount=Decimal("2000")))
    assert decision.reasons[-1] == (
        "“Return window” has no approver at any level, so nobody could decide this request. "
        "Ask a policy admin to name one."
    )
    assert (decision.outcome, decision.beyond_all_tiers, decision.tier_label) == (
        Outcome.REFUSED,
        True,
        "Beyond all tiers",
    )


def test_a_repeat_with_no_approver_is_refused() -> None:
    policy = PolicySpec("Return window", True, TIERS, approvers=())
    decision = route(policy, facts(earlier_exceptions=("EX-1",)))
    assert decision.outcome is Outcome.REFUSED
    assert decision.is_repeat is False


def test_a_waived_control_is_refused_with_its_reason_and_the_advice() -> None:
    decision = route(POLICY, facts(waived_controls=("Chain of custody",)))
    assert decision.reasons == (
        "The request would waive the control “Chain of custody”: Every device is documented by serial number. "
        "Exceptions are for process, not for controls: we can change how, not why. "
        "Offer a process alternative instead.",
    )
    assert (decision.outcome, decision.tier) == (Outcome.REFUSED, None)


def test_every_waived_control_gets_its_own_reason() -> None:
    policy = PolicySpec(
        "Return window",
        True,
        TIERS,
        APPROVERS,
        controls=(ControlSpec("Serials", "Devices are tracked"), ControlSpec("Seals", "Seals prove integrity.")),
    )
    decision = route(policy, facts(waived_controls=("Seals", "Unknown", "Serials")))
    assert [r.split(":")[0] for r in decision.reasons] == [
        "The request would waive the control “Seals”",
        "The request would waive the control “Serials”",
    ]
    assert decision.reasons[1].startswith("The request would waive the control “Serials”: Devices are tracked. ")


def test_an_inactive_policy_is_refused_before_its_controls() -> None:
    policy = PolicySpec("Return window", False, TIERS, APPROVERS, POLICY.controls)
    decision = route(policy, facts(waived_controls=("Chain of custody",)))
    assert len(decision.reasons) == 1
    assert "no longer active" in decision.reasons[0]
    assert decision.tier_label == "—"


def test_a_tier_for_promoters_and_detractors_lists_them_in_sentiment_order() -> None:
    tier = TierSpec(1, "", frozenset({"deeply_unhappy", "amazed", "neutral"}), Decimal("50"), 5, 0)
    decision = route(PolicySpec("P", True, (tier,), APPROVERS), facts(sentiment="happy"))
    assert decision.reasons[0] == (
        "Tier 1 does not fit: it is meant for amazed, neutral, deeply unhappy customers, not happy."
    )


def test_unknown_sentiments_are_named_as_given_and_listed_last() -> None:
    tier = TierSpec(1, "", frozenset({"zesty", "happy"}), Decimal("50"), 5, 0)
    decision = route(PolicySpec("P", True, (tier,), APPROVERS), facts(sentiment="grumpy"))
    assert decision.reasons[0] == "Tier 1 does not fit: it is meant for happy, zesty customers, not grumpy."


def test_a_tier_for_no_sentiment_says_no_customers() -> None:
    tier = TierSpec(1, "", frozenset(), Decimal("50"), 5, 0)
    decision = route(PolicySpec("P", True, (tier,), APPROVERS), facts(sentiment="deeply_unhappy"))
    assert decision.reasons[0] == "Tier 1 does not fit: it is meant for no customers, not deeply unhappy."


def test_the_supplier_exception_misfit_sentence() -> None:
    decision = route(POLICY, facts(supplier_exception=True))
    assert decision.reasons[0] == "Tier 1 does not fit: it allows no supplier exception."
    assert decision.tier_label == "Tier 2 (save)"


def test_one_allowed_supplier_exception_fits() -> None:
    tier = TierSpec(1, "", frozenset(SENTIMENT_WORDS), Decimal("50"), 5, 1)
    assert route(PolicySpec("P", True, (tier,), APPROVERS), facts(supplier_exception=True)).outcome is Outcome.GRANTED


def test_days_misfit_sentence() -> None:
    decision = route(POLICY, facts(business_days=6))
    assert decision.reasons[0] == "Tier 1 does not fit: 6 business days affected is above its limit of 5."


def test_tiers_are_tried_smallest_first_whatever_their_order() -> None:
    decision = route(PolicySpec("P", True, tuple(reversed(TIERS)), APPROVERS), facts(amount=Decimal("100")))
    assert decision.tier_label == "Tier 2 (save)"
    assert decision.reasons[0].startswith("Tier 1 does not fit")
    assert decision.reasons[1].startswith("Tier 2 (reward) does not fit")


def test_approvers_of_the_level_keep_their_order() -> None:
    approvers = (
        ApproverSpec(1, "Zed", Decimal("1000")),
        ApproverSpec(2, "Top", Decimal("1000")),
        ApproverSpec(1, "Amy", Decimal("1000")),
    )
    decision = route(PolicySpec("P", True, TIERS, approvers), facts(amount=Decimal("100")))
    assert [a.name for a in decision.approvers] == ["Zed", "Amy"]
    assert decision.reasons[-1] == "Pending: assigned to approval level 1 (Zed, Amy)."


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0", "0.00"), ("5", "5.00"), ("1234.5", "1,234.50"), ("1000000", "1,000,000.00"), ("0.005", "0.00")],
)
def test_money(amount, text) -> None:
    assert money(Decimal(amount)) == text


def test_tier_labels() -> None:
    assert TierSpec(2, "reward", frozenset(), Decimal(0), 0, 0).label == "Tier 2 (reward)"
    assert TierSpec(3, "", frozenset(), Decimal(0), 0, 0).label == "Tier 3"


def test_sentiment_words() -> None:
    assert SENTIMENT_WORDS == {
        "amazed": "amazed",
        "happy": "happy",
        "neutral": "neutral",
        "unhappy": "unhappy",
        "deeply_unhappy": "deeply unhappy",
    }


def test_outcome_values_are_stable_strings() -> None:
    assert [outcome.value for outcome in Outcome] == ["refused", "granted", "pending"]


def test_a_controls_reason_keeps_its_last_letter() -> None:
    policy = PolicySpec(
        "P", True, TIERS, APPROVERS, controls=(ControlSpec("Seals", "Every box is sealed with tape X."),)
    )
    decision = route(policy, facts(waived_controls=("Seals",)))
    assert decision.reasons[0].startswith(
        "The request would waive the control “Seals”: Every box is sealed with tape X. "
    )
