"""The customer message, drafted from plain data: the five parts of a grant, and a denial with its alternative.

Pure tests (no database). The golden texts below are the whole message a customer reads; the smaller tests pin
each rule that builds it (the opening matched to the sentiment, the cause acknowledged, "one-time", the reason
and the alternative of a denial, and the tidying of whitespace and full stops).
"""

from __future__ import annotations

import pytest

from requests.messages import CAUSE_ACKNOWLEDGEMENT, OPENING_EMPATHY, MessageParts, draft_denial, draft_grant

# Pure functions: the same on every database engine, so run on the SQLite leg only (README, Development).
pytestmark = pytest.mark.engine_independent

GRANT = dict(
    customer_name="Ada Lovelace",
    sentiment="unhappy",
    cause="our_mistake",
    policy_name="Return Window",
    rationale="Returned goods must be resold while they are still current.",
    resolution="we accept the return of your headphones 12 days late",
    rep_name="Robin",
)
DENIAL = dict(
    customer_name="Ada Lovelace",
    sentiment="deeply_unhappy",
    policy_name="Chain Of Custody",
    rationale="Every device is documented by serial number.",
    reason="the device left our custody without a serial number",
    alternative="a repair at our cost.",
    rep_name="Robin",
)


def grant(**overrides) -> MessageParts:
    return draft_grant(**{**GRANT, **overrides})


def denial(**overrides) -> MessageParts:
    return draft_denial(**{**DENIAL, **overrides})


def test_grant_reads_as_five_parts() -> None:
    assert grant().text == (
        "Dear Ada Lovelace,\n\n"
        "I am sorry this has been frustrating, and I understand why you reached out. "
        "This happened because of a mistake on our side.\n\n"
        "Our return window policy exists for a reason: returned goods must be resold while they are still current.\n\n"
        "In your case we are making an exception: we accept the return of your headphones 12 days late. "
        "This exception is for this situation only.\n\n"
        "What happens next: we will put this in place now and confirm once it is done. "
        "Please keep in mind that this is a one-time exception, and the policy applies as usual from here on.\n\n"
        "Thank you for your patience and understanding.\n\nKind regards,\nRobin"
    )


def test_denial_says_why_and_offers_the_alternative() -> None:
    assert denial().text == (
        "Dear Ada Lovelace,\n\n"
        "I am truly sorry for how this has gone. You deserved better from us, and I want to put it right.\n\n"
        "We looked carefully at your request, and we cannot make an exception to our chain of custody policy here: "
        "the device left our custody without a serial number. "
        "The policy exists because every device is documented by serial number.\n\n"
        "What we can offer instead: a repair at our cost.\n\n"
        "If you would like to go ahead with this, just reply to this message and we will arrange it straight away.\n\n"
        "Thank you for understanding.\n\nKind regards,\nRobin"
    )


def test_the_parts_are_kept_apart_for_the_rep_to_edit() -> None:
    parts = grant()
    assert parts.empathy.startswith("Dear Ada Lovelace,\n\n")
    assert parts.explanation.startswith("Our return window policy")
    assert parts.exception.startswith("In your case")
    assert "one-time exception" in parts.expectation
    assert parts.closing.endswith("Kind regards,\nRobin")


@pytest.mark.parametrize("sentiment", sorted(OPENING_EMPATHY))
@pytest.mark.parametrize("draft", [grant, denial])
def test_the_opening_matches_the_customers_sentiment(draft, sentiment) -> None:
    opening = draft(sentiment=sentiment, cause="extra_value") if draft is grant else draft(sentiment=sentiment)
    assert opening.empathy == f"Dear Ada Lovelace,\n\n{OPENING_EMPATHY[sentiment]}"


def test_each_sentiment_has_its_own_opening() -> None:
    assert OPENING_EMPATHY == {
        "amazed": "Thank you for being such a wonderful customer: it is a pleasure to hear from you.",
        "happy": "Thank you for getting in touch, and for being with us.",
        "neutral": "Thank you for getting in touch and for explaining the situation so clearly.",
        "unhappy": "I am sorry this has been frustrating, and I understand why you reached out.",
        "deeply_unhappy": (
            "I am truly sorry for how this has gone. You deserved better from us, and I want to put it right."
        ),
    }


def test_an_unknown_sentiment_opens_like_a_neutral_one() -> None:
    neutral = f"Dear Ada Lovelace,\n\n{OPENING_EMPATHY['neutral']}"
    assert grant(sentiment="furious", cause="extra_value").empathy == neutral
    assert denial(sentiment="furious").empathy == neutral


@pytest.mark.parametrize(
    ("cause", "acknowledgement"),
    [
        ("our_mistake", "This happened because of a mistake on our side."),
        ("beyond_control", "This happened for reasons that were beyond your control."),
        ("loyalty", "You have been a loyal customer, and that matters to us."),
    ],
)
def test_the_cause_is_acknowledged_after_the_opening(cause, acknowledgement) -> None:
    assert CAUSE_ACKNOWLEDGEMENT[cause] == acknowledgement
    assert grant(sentiment="happy", cause=cause).empathy == (
        f"Dear Ada Lovelace,\n\n{OPENING_EMPATHY['happy']} {acknowledgement}"
    )


@pytest.mark.parametrize("cause", ["extra_value", "something_else", ""])
def test_a_cause_without_acknowledgement_adds_nothing(cause) -> None:
    # "Extra value" is a goodwill gesture: nothing went wrong, so there is nothing to own up to.
    assert CAUSE_ACKNOWLEDGEMENT["extra_value"] == ""
    assert grant(sentiment="happy", cause=cause).empathy == f"Dear Ada Lovelace,\n\n{OPENING_EMPATHY['happy']}"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
@pytest.mark.parametrize("draft", [grant, denial])
def test_a_missing_name_greets_the_customer(draft, name) -> None:
    assert draft(customer_name=name).empathy.startswith("Dear customer,\n\n")


@pytest.mark.parametrize("draft", [grant, denial])
def test_the_name_is_trimmed(draft) -> None:
    assert draft(customer_name="  Ada  ").empathy.startswith("Dear Ada,\n\n")


def test_grant_tidies_rationale_and_resolution() -> None:
    parts = grant(rationale="  Stock must stay current...  ", resolution="  a late return.  ", policy_name="RETURNS")
    assert parts.explanation == "Our returns policy exists for a reason: stock must stay current."
    assert parts.exception == (
        "In your case we are making an exception: a late return. This exception is for this situation only."
    )


def test_denial_tidies_reason_rationale_and_alternative() -> None:
    parts = denial(reason=" no serial number. ", rationale=" Devices are tracked. ", alternative=" A repair.. ")
    assert parts.explanation == (
        "We looked carefully at your request, and we cannot make an exception to our chain of custody policy here: "
        "no serial number. The policy exists because devices are tracked."
    )
    assert parts.exception == "What we can offer instead: A repair."


def test_only_the_first_letter_of_the_rationale_is_lowered() -> None:
    assert grant(rationale="VAT rules apply.").explanation.endswith("reason: vAT rules apply.")


def test_an_empty_rationale_stays_empty() -> None:
    assert grant(rationale="").explanation == "Our return window policy exists for a reason: ."
    assert denial(rationale="  ").explanation.endswith("The policy exists because .")


def test_the_expectation_of_a_grant_says_one_time_and_what_happens_next() -> None:
    assert grant().expectation == (
        "What happens next: we will put this in place now and confirm once it is done. "
        "Please keep in mind that this is a one-time exception, and the policy applies as usual from here on."
    )


def test_the_closings_sign_with_the_reps_name() -> None:
    assert grant(rep_name="Sam").closing == "Thank you for your patience and understanding.\n\nKind regards,\nSam"
    assert denial(rep_name="Sam").closing == "Thank you for understanding.\n\nKind regards,\nSam"


def test_text_skips_empty_parts_and_separates_the_rest_with_a_blank_line() -> None:
    assert MessageParts("a", "", "c", "", "e").text == "a\n\nc\n\ne"
    assert MessageParts("", "", "", "", "").text == ""


def test_only_full_stops_are_trimmed_not_the_letters_before_them() -> None:
    parts = grant(rationale="Stock is counted by SKU-X.", resolution="a swap for the Model X.")
    assert parts.explanation.endswith("reason: stock is counted by SKU-X.")
    assert parts.exception.startswith("In your case we are making an exception: a swap for the Model X. ")
    parts = denial(reason="it is a Model X.", rationale="Seals go on every box X.", alternative="a Model X")
    assert "policy here: it is a Model X. The policy exists because seals go on every box X." in parts.explanation
    assert parts.exception == "What we can offer instead: a Model X."
