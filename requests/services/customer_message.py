"""The customer message: drafted when a request is decided, edited and sent by the filing rep."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from exceptions_portal import formatting
from exceptions_portal.people import display_name
from requests import messages as customer_messages
from requests.models import ExceptionRequest
from requests.services.errors import InvalidInput, MessageAlreadySent, NotYours, WrongStatus


def draft_grant_message(request: ExceptionRequest, *, rep: AbstractBaseUser) -> str:
    return customer_messages.draft_grant(
        customer_name=request.customer.name,
        sentiment=request.sentiment,
        cause=request.cause,
        policy_name=request.policy.name,
        rationale=request.policy.rationale,
        resolution=request.resolution_requested,
        rep_name=display_name(rep),
    ).text


def draft_denial_message(request: ExceptionRequest, *, rep: AbstractBaseUser, reason: str, alternative: str) -> str:
    return customer_messages.draft_denial(
        customer_name=request.customer.name,
        sentiment=request.sentiment,
        policy_name=request.policy.name,
        rationale=request.policy.rationale,
        reason=reason,
        alternative=alternative,
        rep_name=display_name(rep),
    ).text


def customer_message_save(*, request_id: int, rep: AbstractBaseUser, text: str, send: bool) -> ExceptionRequest:
    """The filing rep edits the drafted message and, with ``send``, marks it sent."""
    text = text.strip()
    if not text:
        raise InvalidInput("The message is empty: write what the customer should read.")
    with transaction.atomic():
        request = ExceptionRequest.objects.select_for_update().get(pk=request_id)
        if request.rep_id != rep.pk:
            raise NotYours("Only the rep who filed this request sends its message.")
        if not request.is_decided:
            raise WrongStatus("There is no message to send until the request is decided.")
        if request.message_sent_at is not None:
            raise MessageAlreadySent(f"The message was already sent on {formatting.when(request.message_sent_at)}.")
        request.customer_message = text
        if send:
            request.message_sent_at = timezone.now()
        request._history_user = rep
        request._change_reason = "Customer message sent" if send else "Customer message edited"
        request.save()
    return request
