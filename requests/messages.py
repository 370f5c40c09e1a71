"""Drafting the customer message: pure functions of plain data.

A grant is told in five parts (DOMAIN.md, "Telling the customer"): Empathy,
Explanation (the policy's rationale), Exception (what is granted, for this
case only), Expectation (what happens next, and that it is one time), and
Empathy again. A denial says why and offers the alternative. The rep edits the
draft before sending it.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENING_EMPATHY = {
    "amazed": "Thank you for being such a wonderful customer: it is a pleasure to hear from you.",
    "happy": "Thank you for getting in touch, and for being with us.",
    "neutral": "Thank you for getting in touch and for explaining the situation so clearly.",
    "unhappy": "I am sorry this has been frustrating, and I understand why you reached out.",
    "deeply_unhappy": "I am truly sorry for how this has gone. You deserved better from us, and I want to put it right.",
}

CAUSE_ACKNOWLEDGEMENT = {
    "our_mistake": "This happened because of a mistake on our side.",
    "beyond_control": "This happened for reasons that were beyond your control.",
    "loyalty": "You have been a loyal customer, and that matters to us.",
    "extra_value": "",
}


@dataclass(frozen=True)
class MessageParts:
    empathy: str
    explanation: str
    exception: str
    expectation: str
    closing: str

    @property
    def text(self) -> str:
        return "\n\n".join(
            p for p in (self.empathy, self.explanation, self.exception, self.expectation, self.closing) if p
        )


def _greeting(customer_name: str) -> str:
    return f"Dear {customer_name.strip() or 'customer'},"


def draft_grant(
    *,
    customer_name: str,
    sentiment: str,
    cause: str,
    policy_name: str,
    rationale: str,
    resolution: str,
    rep_name: str,
) -> MessageParts:
    """The five-part message for a granted or approved exception."""
    acknowledgement = CAUSE_ACKNOWLEDGEMENT.get(cause, "")
    empathy = f"{_greeting(customer_name)}\n\n{OPENING_EMPATHY.get(sentiment, OPENING_EMPATHY['neutral'])}"
    if acknowledgement:
        empathy += f" {acknowledgement}"
    explanation = (
        f"Our {policy_name.lower()} policy exists for a reason: {_lower_first(rationale.strip().rstrip('.'))}."
    )
    exception = (
        f"In your case we are making an exception: {resolution.strip().rstrip('.')}. "
        "This exception is for this situation only."
    )
    expectation = (
        "What happens next: we will put this in place now and confirm once it is done. "
        "Please keep in mind that this is a one-time exception, and the policy applies as usual from here on."
    )
    closing = f"Thank you for your patience and understanding.\n\nKind regards,\n{rep_name}"
    return MessageParts(empathy, explanation, exception, expectation, closing)


def draft_denial(
    *,
    customer_name: str,
    sentiment: str,
    policy_name: str,
    rationale: str,
    reason: str,
    alternative: str,
    rep_name: str,
) -> MessageParts:
    """A denial: why not, and the alternative we can offer instead."""
    empathy = f"{_greeting(customer_name)}\n\n{OPENING_EMPATHY.get(sentiment, OPENING_EMPATHY['neutral'])}"
    explanation = (
        f"We looked carefully at your request, and we cannot make an exception to our {policy_name.lower()} "
        f"policy here: {reason.strip().rstrip('.')}. The policy exists because {_lower_first(rationale.strip().rstrip('.'))}."
    )
    exception = f"What we can offer instead: {alternative.strip().rstrip('.')}."
    expectation = (
        "If you would like to go ahead with this, just reply to this message and we will arrange it straight away."
    )
    closing = f"Thank you for understanding.\n\nKind regards,\n{rep_name}"
    return MessageParts(empathy, explanation, exception, expectation, closing)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
