"""Approve / Deny links in emails: a signed token bound to one approver, one request and its level.

The token is Django's signing (HMAC with SECRET_KEY, timestamped), so nothing is stored per link: it
names the approver, the request, the approval level and when the request reached that level. It is
good while the request still waits at that level (not decided, withdrawn, escalated or sent back), and
for at most the policy's SLA plus a day. Deciding through it is single use by construction: the
decision takes the request out of the level, so the same link then reads "already approved by you".
A GET never changes anything (mail scanners and link previews follow GETs): the confirm page decides
on POST only, through ``exception_request_decide`` and every rule of the portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from exceptions_portal import formatting
from exceptions_portal.people import display_name
from requests.models import ExceptionRequest, Status

SALT = "requests.decision-link"
ACTIONS = ("approve", "deny")
# Wrong passwords on email confirm pages, within the lockout, before approving from email is refused.
PASSWORD_ATTEMPTS = 5
PASSWORD_LOCKOUT_SECONDS = 15 * 60


def decision_token(*, approver: AbstractBaseUser, request: ExceptionRequest) -> str:
    """A token for ``approver`` to decide ``request`` at the level it waits at now."""
    started = request.level_started_at or request.filed_at
    payload = {"a": approver.pk, "r": request.pk, "l": request.approval_level, "s": int(started.timestamp())}
    return signing.dumps(payload, salt=SALT, compress=False)


def decision_url(*, token: str, action: str | None = None) -> str:
    url = settings.PORTAL_BASE_URL.rstrip("/") + reverse("requests:email_decide", args=[token])
    return f"{url}?action={action}" if action else url


def link_lifetime(request: ExceptionRequest) -> timedelta:
    return timedelta(minutes=request.policy.sla_minutes) + timedelta(days=1)


@dataclass(frozen=True)
class LinkCheck:
    """What a link is good for now: ``usable`` to decide, else ``problem`` says why, for people."""

    request: ExceptionRequest | None = None
    approver: AbstractBaseUser | None = None
    level: int | None = None
    problem: str = ""
    # The request was decided by this link's approver: "already approved by you at …".
    decided_by_you: bool = False

    @property
    def usable(self) -> bool:
        return not self.problem


def link_check(token: str, *, request: ExceptionRequest | None = None) -> LinkCheck:
    """Read and check a token against the request as it stands (pass a row locked for update when deciding)."""
    try:
        payload = signing.loads(token, salt=SALT)
        approver_id, request_id, level, started = (int(payload[k]) for k in ("a", "r", "l", "s"))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return LinkCheck(
            problem="This link is not valid: it may have been cut short or changed. Open the portal instead."
        )
    if request is None:
        request = (
            ExceptionRequest.objects.select_related("policy", "policy__problem_type", "customer", "rep", "decided_by")
            .filter(pk=request_id)
            .first()
        )
    approver = get_user_model().objects.filter(pk=approver_id, is_active=True).first()
    if request is None or request.pk != request_id or approver is None:
        return LinkCheck(problem="This link is not valid any more. Open the portal instead.")
    found = {"request": request, "approver": approver, "level": level}
    if request.decided_at is not None and request.status in (Status.APPROVED, Status.DENIED):
        verb = request.get_status_display().lower()
        if request.decided_by_id == approver.pk:
            return LinkCheck(
                **found,
                decided_by_you=True,
                problem=f"{request.reference} was already {verb} by you at {formatting.when(request.decided_at)}.",
            )
        return LinkCheck(
            **found,
            problem=(
                f"{request.reference} was already {verb} by {display_name(request.decided_by)} "
                f"at {formatting.when(request.decided_at)}."
            ),
        )
    if request.status == Status.WITHDRAWN:
        when = f" at {formatting.when(request.withdrawn_at)}" if request.withdrawn_at else ""
        return LinkCheck(
            **found,
            problem=f"{request.reference} was withdrawn by {display_name(request.rep)}{when}: this link is closed, "
            "nothing is left to decide.",
        )
    try:
        signing.loads(token, salt=SALT, max_age=link_lifetime(request))
    except signing.SignatureExpired:
        return LinkCheck(**found, problem="This link expired. Open the request in the portal to decide it.")
    if request.status == Status.WAITING_FOR_REP:
        return LinkCheck(
            **found,
            problem=f"{request.reference} waits for the rep's answer: you will get a new email when it is back.",
        )
    started_now = request.level_started_at or request.filed_at
    if request.status not in (Status.PENDING, Status.ESCALATED) or request.approval_level != level:
        return LinkCheck(
            **found,
            problem=f"{request.reference} is no longer waiting at approval level {level}: this link is closed.",
        )
    if int(started_now.timestamp()) != started:
        return LinkCheck(
            **found, problem=f"{request.reference} was routed again since this email: this link is closed."
        )
    return LinkCheck(**found)


def needs_password(request: ExceptionRequest) -> bool:
    """Re-authentication for high-value approvals from an email link (EMAIL_DECISION_STEP_UP_AMOUNT)."""
    threshold: Decimal = settings.EMAIL_DECISION_STEP_UP_AMOUNT
    return request.amount > threshold


def _attempt_keys(approver: AbstractBaseUser, window: int) -> list[str]:
    return [f"email-decision-password-attempt:{approver.pk}:{window}:{slot}" for slot in range(PASSWORD_ATTEMPTS)]


def password_attempt_reserve(approver: AbstractBaseUser) -> str | None:
    """Take one of the approver's password attempts before the password is checked; None when there is
    none left: at most ``PASSWORD_ATTEMPTS`` wrong passwords in any ``PASSWORD_LOCKOUT_SECONDS``.

    Time is cut into windows of the lockout's length. Each attempt is a slot of the current window in
    the shared cache (settings.CACHES: every web and worker process sees the same slots), taken with
    ``cache.add``, which exactly one caller wins on every backend (a new row under the database table's
    primary key, Redis' SET NX); slots are never reused, so no expired entry can be won twice. The
    slots still held in the previous window count too, so the limit holds across a window's edge and
    a lockout lasts one to two windows. Taking the slot *before* the slow password check means that
    requests sent in parallel cannot all pass a "fewer than five so far?" test and then all guess: the
    limit is exact, across processes and under concurrency. A right password gives its slot back
    (``password_attempt_release``)."""
    window = int(timezone.now().timestamp()) // PASSWORD_LOCKOUT_SECONDS
    held_before = len(cache.get_many(_attempt_keys(approver, window - 1)))
    for key in _attempt_keys(approver, window)[held_before:]:
        if cache.add(key, 1, timeout=2 * PASSWORD_LOCKOUT_SECONDS):
            return key
    return None


def password_attempt_release(key: str) -> None:
    """The password was right: that attempt does not count against the approver."""
    cache.delete(key)
