"""The routing rule as a table of cases: each rule and each boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest

from policies.routing import (
    ApproverSpec,
    ControlSpec,
    Outcome,
    PolicySpec,
    RequestFacts,
    TierSpec,
    approval_level_for,
    highest_authority,
    route,
)

# Pure functions: the same on every database engine, so run on the SQLite leg only (README, Development).
pytestmark = pytest.mark.engine_independent

ALL = frozenset({"amazed", "happy", "neutral", "unhappy", "deeply_unhappy"})
TIERS = (
    TierSpec(1, "", ALL, Decimal("50.00"), 5, 0),
    TierSpec(2, "reward", frozenset({"amazed", "happy"}), Decimal("250.00"), 15, 0),
    TierSpec(2, "save", frozenset({"neutral", "unhappy"}), Decimal("250.00"), 15, 1),
    TierSpec(3, "", frozenset({"unhappy", "deeply_unhappy"}), Decimal("1500.00"), 60, 1),
)
APPROVERS = (
    ApproverSpec(1, "Morgan Lee", Decimal("250"), user_id=10),
    ApproverSpec(1, "Managers (group)", Decimal("2500"), group_id=3),
    ApproverSpec(2, "Dana Okafor", Decimal("50000"), user_id=12),
)
POLICY = PolicySpec(
    name="Return window",
    active=True,
    tiers=TIERS,
    approvers=APPROVERS,
    controls=(ControlSpec("Chain of custody", "Every device is documented by serial number."),),
)


def facts(**overrides) -> RequestFacts:
    values = dict(sentiment="unhappy", amount=Decimal("10.00"), business_days=0, supplier_exception=False)
    values.update(overrides)
    return RequestFacts(**values)


@pytest.mark.parametrize(
    ("case", "overrides", "outcome", "tier", "level"),
    [
        ("tier 1 at its cap exactly", {"amount": Decimal("50.00")}, Outcome.GRANTED, "Tier 1", None),
        ("one cent above tier 1's cap", {"amount": Decimal("50.01")}, Outcome.PENDING, "Tier 2 (save)", 1),
        ("days at tier 1's limit", {"business_days": 5}, Outcome.GRANTED, "Tier 1", None),
        ("one day above tier 1's limit", {"business_days": 6}, Outcome.PENDING, "Tier 2 (save)", 1),
        (
            "supplier exception where tier 1 allows none",
            {"supplier_exception": True},
            Outcome.PENDING,
            "Tier 2 (save)",
            1,
        ),
        (
            "supplier exception for a promoter: reward allows none, tier 3 not for promoters",
            {"supplier_exception": True, "sentiment": "happy"},
            Outcome.PENDING,
            "Beyond all tiers",
            2,
        ),
        ("tier 2 cap exactly", {"amount": Decimal("250.00")}, Outcome.PENDING, "Tier 2 (save)", 1),
        ("one cent above tier 2 goes to tier 3", {"amount": Decimal("250.01")}, Outcome.PENDING, "Tier 3", 1),
        ("tier 3 cap exactly", {"amount": Decimal("1500.00")}, Outcome.PENDING, "Tier 3", 1),
        ("beyond every tier", {"amount": Decimal("1500.01")}, Outcome.PENDING, "Beyond all tiers", 2),
        ("beyond every tier by days", {"business_days": 61}, Outcome.PENDING, "Beyond all tiers", 2),
        (
            "tier 2 right grants at once",
            {"amount": Decimal("100"), "rep_has_tier2_right": True},
            Outcome.GRANTED,
            "Tier 2 (save)",
            None,
        ),
        (
            "tier 2 right does not cover tier 3",
            {"amount": Decimal("300"), "rep_has_tier2_right": True},
            Outcome.PENDING,
            "Tier 3",
            1,
        ),
        (
            "repeat customer: tier 1 still needs an approver",
            {"earlier_exceptions": ("EX-2026-000001",)},
            Outcome.PENDING,
            "Tier 1",
            1,
        ),
        (
            "repeat customer overrides the tier 2 right",
            {"amount": Decimal("100"), "rep_has_tier2_right": True, "earlier_exceptions": ("EX-2026-000001",)},
            Outcome.PENDING,
            "Tier 2 (save)",
            1,
        ),
    ],
)
def test_routing_table(case, overrides, outcome, tier, level):
    decision = route(POLICY, facts(**overrides))
    assert (decision.outcome, decision.tier_label, decision.approval_level) == (outcome, tier, level), case


@pytest.mark.parametrize(
    ("sentiment", "amount", "tier"),
    [
        # Tier 1 fits every sentiment within its limits.
        ("amazed", "10", "Tier 1"),
        ("deeply_unhappy", "10", "Tier 1"),
        # Above tier 1's cap, the sentiment decides which tier-2 kind (or tier 3) fits.
        ("amazed", "100", "Tier 2 (reward)"),
        ("happy", "100", "Tier 2 (reward)"),
        ("neutral", "100", "Tier 2 (save)"),
        ("unhappy", "100", "Tier 2 (save)"),
        ("deeply_unhappy", "100", "Tier 3"),
        # Above tier 2's cap, only tier 3's sentiments fit; promoters are beyond every tier.
        ("amazed", "300", "Beyond all tiers"),
        ("happy", "300", "Beyond all tiers"),
        ("neutral", "300", "Beyond all tiers"),
        ("unhappy", "300", "Tier 3"),
        ("deeply_unhappy", "300", "Tier 3"),
    ],
)
def test_each_sentiment_against_each_tier(sentiment, amount, tier):
    assert route(POLICY, facts(sentiment=sentiment, amount=Decimal(amount))).tier_label == tier


def test_inactive_policy_is_refused_with_the_reason():
    decision = route(PolicySpec("Return window", False, TIERS, APPROVERS), facts())
    assert decision.outcome is Outcome.REFUSED
    assert decision.reasons == ("“Return window” is no longer active: no exception can be filed under it.",)


def test_waived_control_is_refused_whatever_the_tier():
    decision = route(POLICY, facts(waived_controls=("Chain of custody",), rep_has_tier2_right=True))
    assert decision.outcome is Outcome.REFUSED
    assert "Chain of custody" in decision.reasons[0]
    assert "we can change how, not why" in decision.reasons[0]


def test_tier_1_grant_explains_each_step():
    decision = route(POLICY, facts(amount=Decimal("20")))
    assert decision.reasons == (
        "Tier 1 fits: the smallest tier whose limits and sentiments cover this request.",
        "Tier 1 is a creative, middle-ground solution: any rep may grant it. Granted at once.",
    )


def test_pending_explains_why_lower_tiers_do_not_fit_and_who_decides():
    decision = route(POLICY, facts(amount=Decimal("300"), business_days=20))
    assert decision.reasons[0] == (
        "Tier 1 does not fit: the amount 300.00 is above its cap of 50.00; "
        "20 business days affected is above its limit of 5."
    )
    assert decision.reasons[-1] == "Pending: assigned to approval level 1 (Morgan Lee, Managers (group))."
    assert [a.name for a in decision.approvers] == ["Morgan Lee", "Managers (group)"]


def test_beyond_all_tiers_goes_to_the_top_level():
    decision = route(POLICY, facts(amount=Decimal("9999")))
    assert decision.beyond_all_tiers is True
    assert decision.approval_level == 2
    assert decision.approvers == (APPROVERS[2],)


def test_nobody_may_approve_the_amount_is_refused_naming_the_highest_authority():
    decision = route(POLICY, facts(amount=Decimal("99999")))
    assert decision.outcome is Outcome.REFUSED
    assert decision.reasons[-1].startswith(
        "Nobody may approve 99,999.00 under “Return window”; the highest authority is 50,000.00."
    )


def test_repeat_customer_names_the_earlier_exception():
    decision = route(POLICY, facts(earlier_exceptions=("EX-2026-000007",)))
    assert decision.is_repeat is True
    assert any("EX-2026-000007" in r and "one-time exception is one time" in r for r in decision.reasons)


def test_no_approver_at_or_above_the_level_is_refused_rather_than_lost():
    policy = PolicySpec("Return window", True, TIERS, approvers=(ApproverSpec(1, "Morgan Lee", Decimal("250")),))
    decision = route(policy, facts(amount=Decimal("9999")))  # beyond every tier: needs the top level
    assert decision.outcome is Outcome.REFUSED
    assert decision.reasons[-1].startswith("Nobody may approve 9,999.00")
    nobody = PolicySpec("Return window", True, TIERS, approvers=())
    decision = route(nobody, facts(amount=Decimal("300")))
    assert decision.outcome is Outcome.REFUSED
    assert "has no active approver at level 1 or above" in decision.reasons[-1]


def test_a_level_with_no_approver_is_skipped_for_the_next_that_can():
    policy = PolicySpec("Return window", True, TIERS, approvers=APPROVERS[2:])
    decision = route(policy, facts(amount=Decimal("300")))
    assert (decision.outcome, decision.approval_level) == (Outcome.PENDING, 2)


def test_unknown_control_name_is_not_a_waiver():
    assert route(POLICY, facts(waived_controls=("Something else",))).outcome is Outcome.GRANTED


# --- routing by amount -----------------------------------------------------------------------
# Level 1: Morgan (250) and a group (2,500) whose only active member is user 20; level 2: Dana
# (50,000); level 3: Ola (100,000) who has left (no active holder).
BY_AMOUNT = (
    ApproverSpec(1, "Morgan Lee", Decimal("250"), user_id=10, active_holders=frozenset({10})),
    ApproverSpec(1, "Managers (group)", Decimal("2500"), group_id=3, active_holders=frozenset({20})),
    ApproverSpec(2, "Dana Okafor", Decimal("50000"), user_id=12, active_holders=frozenset({12})),
    ApproverSpec(3, "Ola Left", Decimal("100000"), user_id=13, active_holders=frozenset()),
)


@pytest.mark.parametrize(
    ("case", "amount", "lowest", "rep_id", "level"),
    [
        ("the lowest level can", "250.00", 1, None, 1),
        ("a group member can at level 1", "2500.00", 1, None, 1),
        ("one cent above level 1's authority goes to level 2", "2500.01", 1, None, 2),
        ("the tier needs level 2", "10.00", 2, None, 2),
        ("the top active authority exactly", "50000.00", 1, None, 2),
        ("only an inactive approver holds enough: nobody", "50000.01", 1, None, None),
        ("escalation from level 1 goes to the next that can", "10.00", 2, None, 2),
        ("escalation from the top able level: nobody", "10.00", 3, None, None),
        ("the filer is not counted", "2000.00", 1, 20, 2),
        ("the filer's colleague still counts", "200.00", 1, 20, 1),
        ("zero is within any authority", "0.00", 1, None, 1),
    ],
)
def test_approval_level_for_table(case, amount, lowest, rep_id, level):
    assert approval_level_for(BY_AMOUNT, amount=Decimal(amount), lowest=lowest, rep_id=rep_id) == level, case


@pytest.mark.parametrize(
    ("case", "amount", "outcome", "level", "last_reason"),
    [
        (
            "within level 1",
            "300",
            Outcome.PENDING,
            1,
            "Pending: assigned to approval level 1 (Morgan Lee, Managers (group)).",
        ),
        (
            "above level 1",
            "1400",
            Outcome.PENDING,
            1,
            "Pending: assigned to approval level 1 (Morgan Lee, Managers (group)).",
        ),
        (
            "beyond tiers within level 2",
            "40000",
            Outcome.PENDING,
            2,
            "Pending: assigned to approval level 2 (Dana Okafor).",
        ),
        (
            "above every active authority",
            "99999",
            Outcome.REFUSED,
            None,
            "Nobody may approve 99,999.00 under “Return window”; the highest authority is 50,000.00. "
            "Lower the amount, or ask a policy admin about the approvers' authority.",
        ),
    ],
)
def test_route_by_amount_table(case, amount, outcome, level, last_reason):
    policy = PolicySpec("Return window", True, TIERS, BY_AMOUNT[:3])
    decision = route(policy, facts(amount=Decimal(amount)))
    assert (decision.outcome, decision.approval_level, decision.reasons[-1]) == (outcome, level, last_reason), case


def test_a_level_that_cannot_approve_is_skipped_and_explained():
    policy = PolicySpec(
        "Return window",
        True,
        TIERS,
        (
            ApproverSpec(1, "Morgan Lee", Decimal("250"), user_id=10, active_holders=frozenset({10})),
            ApproverSpec(2, "Alex Kim", Decimal("1000"), user_id=11, active_holders=frozenset({11})),
            ApproverSpec(3, "Dana Okafor", Decimal("50000"), user_id=12, active_holders=frozenset({12})),
        ),
    )
    decision = route(policy, facts(amount=Decimal("1200")))
    assert decision.approval_level == 3
    assert "Nobody at approval levels 1–2 may approve 1,200.00: it goes straight to level 3." in decision.reasons


def test_inactive_approvers_only_is_refused_as_unstaffed():
    policy = PolicySpec("Return window", True, TIERS, (BY_AMOUNT[3],))
    decision = route(policy, facts(amount=Decimal("300")))
    assert decision.outcome is Outcome.REFUSED
    assert "has no active approver at level 1 or above" in decision.reasons[-1]


# --- segregation of duties in routing -------------------------------------------------------------
# Nobody decides a request they filed, or one filed by the person they stand in for (DOMAIN.md,
# "Authority"): neither the filer nor whoever stands in for them counts as who may approve (rule 5).
# Level 1: Morgan (250, user 10) and a group (2,500) whose only active member is user 20; level 2:
# Dana (50,000, user 12). User 30 files without holding anything; user 20 stands in for them.
YOURS = "You filed this request, so your own authority does not count: nobody decides a request they filed."
THEIRS = (
    "You filed this request, so neither your authority nor that of whoever stands in for you counts: "
    "nobody decides a request they filed, or one filed by the person they stand in for."
)
SKIP_1 = "Nobody at approval level 1 may approve 1,400.00: it goes straight to level 2."
PENDING_1 = "Pending: assigned to approval level 1 (Morgan Lee, Managers (group))."
NOBODY_AT_2 = (
    "“Return window” has no active approver at level 2 or above, so nobody could decide this request. "
    "Ask a policy admin to name one."
)
SEGREGATION = BY_AMOUNT[:3]
LOW_TOP = (*BY_AMOUNT[:2], ApproverSpec(2, "Dana Okafor", Decimal("1000"), user_id=12, active_holders=frozenset({12})))


def _nobody_may(amount: str, highest: str) -> str:
    return (
        f"Nobody may approve {amount} under “Return window”; the highest authority is {highest}. "
        "Lower the amount, or ask a policy admin about the approvers' authority."
    )


@pytest.mark.parametrize(
    ("case", "approvers", "overrides", "outcome", "level", "last_reasons"),
    [
        (
            "a stranger's filing: the group decides at level 1",
            SEGREGATION,
            {"amount": Decimal("1400"), "rep_id": 99},
            Outcome.PENDING,
            1,
            ("Tier 3, a full resolution, is always decided by an approver.", PENDING_1),
        ),
        (
            "the group's only member filed it: level 1 is skipped",
            SEGREGATION,
            {"amount": Decimal("1400"), "rep_id": 20},
            Outcome.PENDING,
            2,
            (YOURS, SKIP_1, "Pending: assigned to approval level 2 (Dana Okafor)."),
        ),
        (
            "the group's only member stands in for the filer: level 1 is skipped",
            SEGREGATION,
            {"amount": Decimal("1400"), "rep_id": 30, "rep_stand_ins": frozenset({20})},
            Outcome.PENDING,
            2,
            (THEIRS, SKIP_1, "Pending: assigned to approval level 2 (Dana Okafor)."),
        ),
        (
            "the filer's colleague may approve a small amount at level 1: nothing to explain",
            SEGREGATION,
            {"amount": Decimal("200"), "rep_id": 20},
            Outcome.PENDING,
            1,
            ("Tier 2 needs approval: you do not hold the tier-2 right for “Return window”.", PENDING_1),
        ),
        (
            "the top level's only holder filed a request beyond every tier",
            SEGREGATION,
            {"amount": Decimal("2000"), "rep_id": 12},
            Outcome.REFUSED,
            None,
            (YOURS, NOBODY_AT_2),
        ),
        (
            "the top level's only holder stands in for the filer",
            SEGREGATION,
            {"amount": Decimal("2000"), "rep_id": 30, "rep_stand_ins": frozenset({12})},
            Outcome.REFUSED,
            None,
            (THEIRS, NOBODY_AT_2),
        ),
        (
            "beyond every authority, the top level's only holder filed it: nobody else could even deny it",
            SEGREGATION,
            {"amount": Decimal("60000"), "rep_id": 12},
            Outcome.REFUSED,
            None,
            (YOURS, NOBODY_AT_2),
        ),
        (
            "only the filer holds enough: refused, naming everyone else's highest authority",
            LOW_TOP,
            {"amount": Decimal("1400"), "rep_id": 20},
            Outcome.REFUSED,
            None,
            (YOURS, _nobody_may("1,400.00", "1,000.00")),
        ),
        (
            "only the filer's stand-in holds enough",
            LOW_TOP,
            {"amount": Decimal("1400"), "rep_id": 30, "rep_stand_ins": frozenset({20})},
            Outcome.REFUSED,
            None,
            (THEIRS, _nobody_may("1,400.00", "1,000.00")),
        ),
        (
            "above everyone's authority, the filer's included: no segregation sentence",
            LOW_TOP,
            {"amount": Decimal("3000"), "rep_id": 20},
            Outcome.REFUSED,
            None,
            (
                "No tier's predefined limits cover this request: it needs the top level of approval.",
                _nobody_may("3,000.00", "1,000.00"),
            ),
        ),
        (
            "a stand-in who holds nothing changes nothing",
            SEGREGATION,
            {"amount": Decimal("1400"), "rep_id": 30, "rep_stand_ins": frozenset({77})},
            Outcome.PENDING,
            1,
            ("Tier 3, a full resolution, is always decided by an approver.", PENDING_1),
        ),
        (
            "a repeat customer filed by the group's only member goes past level 1",
            SEGREGATION,
            {"amount": Decimal("1400"), "rep_id": 20, "earlier_exceptions": ("EX-1",)},
            Outcome.PENDING,
            2,
            (YOURS, SKIP_1, "Pending: assigned to approval level 2 (Dana Okafor)."),
        ),
    ],
)
def test_segregation_of_duties_in_routing_table(case, approvers, overrides, outcome, level, last_reasons):
    decision = route(PolicySpec("Return window", True, TIERS, approvers), facts(**overrides))
    assert (decision.outcome, decision.approval_level) == (outcome, level), case
    assert decision.reasons[-len(last_reasons) :] == last_reasons, case
    assert (YOURS in decision.reasons or THEIRS in decision.reasons) is (last_reasons[0] in (YOURS, THEIRS)), case


@pytest.mark.parametrize(
    ("case", "amount", "lowest", "rep_id", "excluding", "level"),
    [
        ("the filer's stand-in is not counted", "2000.00", 1, 30, frozenset({20}), 2),
        ("nor is the filer among the excluded", "2000.00", 1, None, frozenset({20}), 2),
        ("escalation past a level only the filer's stand-in holds: nobody", "10.00", 2, 30, frozenset({12}), None),
        ("escalation past a level only the filer holds: nobody", "10.00", 2, 12, frozenset(), None),
        ("someone else at the level still counts", "200.00", 1, 30, frozenset({20}), 1),
    ],
)
def test_approval_level_for_without_the_filers_stand_ins(case, amount, lowest, rep_id, excluding, level):
    found = approval_level_for(BY_AMOUNT, amount=Decimal(amount), lowest=lowest, rep_id=rep_id, excluding=excluding)
    assert found == level, case


@pytest.mark.parametrize(
    ("case", "lowest", "rep_id", "excluding", "highest"),
    [
        ("everyone active counts", 1, None, frozenset(), Decimal("50000")),
        ("the filer's authority is not counted", 2, 12, frozenset(), None),
        ("nor that of whoever stands in for the filer", 2, 30, frozenset({12}), None),
        ("the group's other members still count", 1, 12, frozenset(), Decimal("2500")),
        ("a group whose only member filed it counts for nothing", 1, 12, frozenset({20}), Decimal("250")),
    ],
)
def test_highest_authority_without_the_filer_and_their_stand_ins(case, lowest, rep_id, excluding, highest):
    assert highest_authority(BY_AMOUNT, lowest=lowest, rep_id=rep_id, excluding=excluding) == highest, case


def test_a_row_above_the_amount_may_not_approve_it_whoever_holds_it() -> None:
    row = ApproverSpec(1, "Morgan Lee", Decimal("250"), user_id=10, active_holders=frozenset({10}))
    assert row.may_approve(Decimal("250.01")) is False
    assert row.may_approve(Decimal("250.00"), excluding=frozenset({10})) is False
    assert row.may_approve(Decimal("250.00")) is True
