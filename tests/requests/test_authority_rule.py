"""The rule of authority as tables of cases: own authority, out-of-office, segregation of duties,
and the out-of-office period (requests/authority.py, pure functions of plain data)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from requests.authority import (
    Holding,
    Principal,
    Standing,
    authority_at,
    authority_phrase,
    delegation_period_errors,
)

POLICY, OTHER = 1, 2
ME, ALEX, DANA, RILEY = 10, 11, 12, 13

# Me: 250 at level 1 of the policy; Alex (absent, I stand in): 2,500 at level 1; Dana (absent,
# I stand in): 50,000 at level 2 and 100 at level 1 of another policy.
MINE = (Holding(101, POLICY, 1, Decimal("250")),)
ALEX_ROWS = (Holding(102, POLICY, 1, Decimal("2500")),)
DANA_ROWS = (Holding(103, POLICY, 2, Decimal("50000")), Holding(104, OTHER, 1, Decimal("100")))


def standing(*, own=MINE, delegated=(), stands_in_for=()) -> Standing:
    return Standing(user_id=ME, own=own, delegated=delegated, stands_in_for=stands_in_for)


ALEX_AWAY = Principal(ALEX, "Alex Kim", ALEX_ROWS)
DANA_AWAY = Principal(DANA, "Dana Okafor", DANA_ROWS)


@pytest.mark.parametrize(
    ("case", "who", "policy", "level", "rep", "amount", "on_behalf_of", "row"),
    [
        ("own authority", standing(), POLICY, 1, RILEY, "250", None, 101),
        ("not at this level", standing(), POLICY, 2, RILEY, None, None, None),
        ("not on this policy", standing(), OTHER, 1, RILEY, None, None, None),
        (
            "standing in: the larger applies, on the absent approver's behalf",
            standing(delegated=(ALEX_AWAY,), stands_in_for=((ALEX, "Alex Kim"),)),
            POLICY,
            1,
            RILEY,
            "2500",
            ALEX,
            102,
        ),
        (
            "standing in for a smaller authority: one's own applies",
            standing(own=(Holding(101, POLICY, 1, Decimal("5000")),), delegated=(ALEX_AWAY,)),
            POLICY,
            1,
            RILEY,
            "5000",
            None,
            101,
        ),
        (
            "equal authorities: one's own",
            standing(own=(Holding(101, POLICY, 1, Decimal("2500")),), delegated=(ALEX_AWAY,)),
            POLICY,
            1,
            RILEY,
            "2500",
            None,
            101,
        ),
        (
            "the absent approver's level, with their authority",
            standing(delegated=(DANA_AWAY,)),
            POLICY,
            2,
            RILEY,
            "50000",
            DANA,
            103,
        ),
        (
            "the absent approver's authority is per policy and level",
            standing(own=(), delegated=(DANA_AWAY,)),
            OTHER,
            1,
            RILEY,
            "100",
            DANA,
            104,
        ),
        (
            "an out-of-office that gives nothing (absent approver inactive) gives no level",
            standing(own=(), stands_in_for=((DANA, "Dana Okafor"),)),
            POLICY,
            2,
            RILEY,
            None,
            None,
            None,
        ),
    ],
)
def test_authority_table(case, who, policy, level, rep, amount, on_behalf_of, row):
    authority = authority_at(who, policy_id=policy, level=level, rep_id=rep)
    expected = Decimal(amount) if amount is not None else None
    assert (authority.amount, authority.on_behalf_of_id, authority.approver_row_id) == (expected, on_behalf_of, row), (
        case
    )
    assert authority.may_act is (amount is not None), case


@pytest.mark.parametrize(
    ("case", "who", "rep", "refusal"),
    [
        ("one's own request", standing(), ME, "You filed EX-1, so another approver must decide it."),
        (
            "a request filed by the person one stands in for",
            standing(delegated=(ALEX_AWAY,), stands_in_for=((ALEX, "Alex Kim"),)),
            ALEX,
            "EX-1 was filed by Alex Kim, for whom you are standing in: another approver must decide it.",
        ),
        (
            "also when that out-of-office gives no authority",
            standing(stands_in_for=((ALEX, "Alex Kim"),)),
            ALEX,
            "EX-1 was filed by Alex Kim, for whom you are standing in: another approver must decide it.",
        ),
    ],
)
def test_segregation_of_duties_table(case, who, rep, refusal):
    authority = authority_at(who, policy_id=POLICY, level=1, rep_id=rep, reference="EX-1")
    assert (authority.may_act, authority.refusal) == (False, refusal), case


@pytest.mark.parametrize(
    ("amount", "authority", "may_approve"),
    [("250.00", "250", True), ("250.01", "250", False), ("0", "0", True)],
)
def test_approving_needs_authority_of_at_least_the_amount(amount, authority, may_approve):
    who = standing(own=(Holding(101, POLICY, 1, Decimal(authority)),))
    assert authority_at(who, policy_id=POLICY, level=1, rep_id=RILEY).may_approve(Decimal(amount)) is may_approve


def test_authority_says_on_whose_behalf():
    who = standing(delegated=(ALEX_AWAY,))
    assert authority_at(who, policy_id=POLICY, level=1, rep_id=RILEY).described == "2,500.00 on behalf of Alex Kim"
    assert authority_at(standing(), policy_id=POLICY, level=1, rep_id=RILEY).described == "250.00"


@pytest.mark.parametrize(
    ("status", "authority", "behalf", "phrase"),
    [
        ("approved", "2500", "Alex Kim", "Approved within an authority of 2,500.00 on behalf of Alex Kim."),
        ("approved", "250", "", "Approved within an authority of 250.00."),
        ("denied", None, "", "Denied: a denial needs no money authority."),
        # Decided before this rule: a denial recorded an authority, which must not read as a breach.
        ("denied", "250", "Alex Kim", "Denied on behalf of Alex Kim: a denial needs no money authority."),
    ],
)
def test_authority_phrase(status, authority, behalf, phrase):
    amount = Decimal(authority) if authority else None
    assert authority_phrase(status=status, authority=amount, on_behalf_of_name=behalf) == phrase


TODAY = date(2026, 12, 7)


@pytest.mark.parametrize(
    ("case", "starts_on", "ends_on", "errors"),
    [
        ("today only", TODAY, TODAY, []),
        ("60 days, first and last included", TODAY, date(2027, 2, 4), []),
        ("61 days", TODAY, date(2027, 2, 5), ["An out-of-office lasts at most 60 days: 61 days were asked for."]),
        (
            "starts in the past",
            date(2026, 12, 6),
            TODAY,
            ["An out-of-office cannot start in the past: the first day is 07 Dec 2026 at the earliest."],
        ),
        (
            "the whole calendar",
            date(1, 1, 1),
            date(9999, 12, 31),
            ["An out-of-office cannot start in the past: the first day is 07 Dec 2026 at the earliest."],
        ),
        (
            "a future start, far too long",
            date(2027, 1, 1),
            date(2027, 3, 15),
            ["An out-of-office lasts at most 60 days: 74 days were asked for."],
        ),
        (
            "ends before it starts",
            date(2026, 12, 10),
            date(2026, 12, 9),
            ["The last day must be on or after the first day."],
        ),
    ],
)
def test_delegation_period_table(case, starts_on, ends_on, errors):
    assert delegation_period_errors(starts_on=starts_on, ends_on=ends_on, today=TODAY, max_days=60) == errors, case
