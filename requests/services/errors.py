"""The refusals of the services: one class per kind, all ``ExceptionRequestError``.

A refusal means a domain rule said no and nothing was written. Its message is for people (the portal, the
emails' landing page and the API show it as it is), so callers that only show it catch the base class;
callers and tests that care which rule refused catch the subclass. The classes carry no wording: each raise
site writes its own sentence.
"""

from __future__ import annotations


class ExceptionRequestError(Exception):
    """A domain rule refused the change; nothing was written. The message is for people."""


class InvalidInput(ExceptionRequestError):
    """Something the person had to give is missing or unacceptable: a justification, the alternative offered,
    a question, an answer, a reason, a message, a policy, a token's name or expiry."""


class NotFound(ExceptionRequestError):
    """The request or attachment acted on does not exist (any more)."""


class NotYours(ExceptionRequestError):
    """Only the person it belongs to may do this: the filing rep (message, answer, withdrawal), whoever
    attached a file (removing it), the approver who set up an out-of-office, a token's owner."""


class CustomerRefused(ExceptionRequestError):
    """The customer reference cannot be used: empty or ill-formed, or new without a name."""


class CustomerNameConflict(CustomerRefused):
    """A known reference was filed with another person's name."""


class FilingRefused(ExceptionRequestError):
    """Routing refused the filing (or a rep's correction): the policy is gone or inactive, a control would
    be waived, nobody could decide it. ``reasons`` are routing's sentences, one each."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


class FormAlreadyUsed(ExceptionRequestError):
    """The filing form's one-time token already filed a request for someone else."""


class IdempotencyKeyReused(ExceptionRequestError):
    """An API Idempotency-Key already filed a different request."""


class AlreadyDecided(ExceptionRequestError):
    """The request no longer waits for an approver: decided, granted at filing or withdrawn."""


class NotWithdrawable(ExceptionRequestError):
    """The rep cannot take the request back: it is already decided, granted or withdrawn."""


class WrongStatus(ExceptionRequestError):
    """The request's status does not allow this now: it waits for the rep's answer, is not waiting for one,
    is not decided yet (no customer message), or is closed to attachments."""


class LevelMoved(ExceptionRequestError):
    """An email's decision link was for a level the request has left since."""


class NotAssigned(ExceptionRequestError):
    """The approver may not act on the request now: it waits at a level they do not approve at (nor the
    absent approver they stand in for), or it is claimed by someone else."""


class AlreadyClaimed(ExceptionRequestError):
    """The approver already claimed the request."""


class SelfDealing(ExceptionRequestError):
    """Segregation of duties: nobody acts on a request they filed, nor on one filed by whoever they stand in for."""


class AboveAuthority(ExceptionRequestError):
    """Approving would exceed the money authority the approver acts with."""


class MessageAlreadySent(ExceptionRequestError):
    """The customer message was already sent: it is not edited afterwards."""


class DelegationRefused(ExceptionRequestError):
    """An out-of-office that cannot be set or ended: the approver themselves or a non-approver as stand-in,
    a period in the past or too long, or one that already ended."""


class FileRefused(ExceptionRequestError):
    """An attachment that is not accepted: its type, size or content, or one too many for the request."""


class TokenRefused(ExceptionRequestError):
    """An API token that cannot be created or revoked: too many active ones, or already revoked."""
