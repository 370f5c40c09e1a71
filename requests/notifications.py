"""Telling people: one entry point per event, each writing in-app rows and emailing after commit.

Events: a request arrives at a level (filed pending, back from the rep's answer, a stand-in's period
starting; the SLA sweep's escalations and reminders are written set-based in ``escalation.py`` with the
same recipients, digest flags and levels, in the words of ``SWEEP_NOTICES``), a decision, a question, an answer, a withdrawal by the rep, a
policy flagged for review, a webhook endpoint disabled. Who is told of an arrival follows the rule of
authority (``authority.py``): never the rep, nor anyone standing in for the rep.
Every row is emailed once the transaction commits, on its own, or held for the recipient's digest (their
preference) and sent with the next digest, which never holds an arrival past its request's reminder point.

Emails are multipart (text and HTML from ``templates/requests/email/``), carry ``List-Unsubscribe``
pointing to the preferences page, and link with ``PORTAL_BASE_URL``. An arrival's email carries what
is needed to decide without the portal, and Approve / Deny / Open links (``decision_links``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from exceptions_portal.bulk import column_text, insert_from_select
from exceptions_portal.celery import enqueue_coalesced_on_commit, enqueue_on_commit
from exceptions_portal.people import display_name
from policies.models import ApproverLevel, Policy
from policies.routing import money
from policies.selectors import deciders_at, kept_per_rules_version, policy_with_rules
from requests import decision_links
from requests.authority import Authority, decision_authority, portal_today, stand_ins_of
from requests.models import (
    OPEN_STATUSES,
    Delegation,
    ExceptionRequest,
    Notification,
    NotificationPreference,
    QuestionAnswer,
)
from requests.selectors import NOT_AN_EXCEPTION

EMAIL_CHUNK = 100
# The hard time limit of the tasks that send emails (requests/tasks.py): Celery kills a send
# that runs longer, so no live worker holds a claim older than this.
EMAIL_SEND_TIME_LIMIT = 60
# A claim older than this belongs to a worker that died mid-send: the resend job (every minute)
# takes it over. Just above the send tasks' hard limit, so a killed worker's email goes out
# within about two minutes, and a live worker's is never sent twice.
EMAIL_CLAIM_TIMEOUT = timedelta(seconds=EMAIL_SEND_TIME_LIMIT + 10)
# Notifications younger than this are left to the task enqueued with them.
EMAIL_RESEND_AFTER = timedelta(minutes=1)
# How long after a commit the email flush runs (emails_on_commit): the commits of this process until then join it.
EMAIL_FLUSH_DELAY = 1.0
# Kinds whose email carries the decision facts and the Approve / Deny / Open links (while the request still
# waits at the notification's level).
ARRIVAL_KINDS = (Notification.Kind.ARRIVED, Notification.Kind.INFO_ANSWERED, Notification.Kind.REMINDER)


def _authority_for(user: AbstractBaseUser, request: ExceptionRequest) -> Authority | None:
    """The authority that would apply if ``user`` decided ``request`` at its level (the one rule,
    ``authority.decision_authority``: stand-ins and segregation of duties included); None when they may
    not decide it at all."""
    authority = decision_authority(user=user, request=request, action="decide")
    return authority if authority.may_act else None


def chunked(ids: list[int], size: int = EMAIL_CHUNK) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# --------------------------------------------------------------------------- who


def deciders(*, policy_id: int, level: int, today=None) -> list[AbstractBaseUser]:
    """Everyone who may decide at this level of this policy: directly, through a group, or standing in
    for one of those today. Each person once, with whether they asked for digests (``wants_digest``, which
    ``_rows`` uses). Callers must not change the people returned.

    Kept per process under the rules version and by date: who holds the level comes from the policy read
    with its rules (policy_with_rules), and the version is renewed by any change to a user, a group, a
    membership (policies.signals), an out-of-office or a notification preference (requests.apps). One
    query after such a change, none until the next."""
    today = today or portal_today()
    found = kept_per_rules_version(("deciders", policy_id, level, today), lambda: _deciders(policy_id, level, today))
    return list(found)


def _deciders(policy_id: int, level: int, today: date) -> tuple[AbstractBaseUser, ...]:
    User = get_user_model()
    policy = policy_with_rules(policy_id)
    holders = sorted(deciders_at(policy, level)) if policy is not None else []
    if not holders:
        return ()
    # Approvers only (exceptions_portal/roles.py, counted by deciders_at): rows left behind by someone
    # deactivated or moved out of the approver role tell nobody, as routing counts nobody there.
    standing_in = Delegation.objects.filter(approver_id__in=holders, starts_on__lte=today, ends_on__gte=today)
    users = User.objects.filter(
        Q(pk__in=holders) | Q(is_active=True, pk__in=standing_in.values("delegate_id"))
    ).annotate(wants_digest=Exists(_digest_preferences().filter(user_id=OuterRef("pk"))))
    found = {user.pk: user for user in users}
    # The holders first, then their stand-ins, each in key order.
    stand_ins = sorted(set(found) - set(holders))
    return tuple(found[pk] for pk in [*holders, *stand_ins] if pk in found)


def each_once(users: Iterable[AbstractBaseUser]) -> list[AbstractBaseUser]:
    """The people in order, each once (by primary key): nobody is told twice of the same thing."""
    seen: dict[int, AbstractBaseUser] = {}
    for user in users:
        seen.setdefault(user.pk, user)
    return list(seen.values())


def deciders_of(request: ExceptionRequest, *, rep_stand_ins: frozenset[int] | None = None) -> list[AbstractBaseUser]:
    """Who may decide ``request`` at its level: ``deciders`` without its rep nor anyone standing in for its
    rep today (segregation of duties, authority.py), so that nobody is told of what they may not decide.
    ``rep_stand_ins``: those stand-ins, when the caller already read them (filing routes with them)."""
    today = portal_today()
    if rep_stand_ins is None:
        rep_stand_ins = stand_ins_of(rep_ids=[request.rep_id], today=today)[request.rep_id]
    return [
        user
        for user in deciders(policy_id=request.policy_id, level=request.approval_level, today=today)
        if user.pk != request.rep_id and user.pk not in rep_stand_ins
    ]


def _digest_preferences() -> QuerySet[NotificationPreference]:
    return NotificationPreference.objects.filter(digest_minutes__gt=0)


def digest_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Of these people, those who asked for digests rather than an email per notification."""
    return set(_digest_preferences().filter(user_id__in=list(user_ids)).values_list("user_id", flat=True))


def preference_for(user: AbstractBaseUser) -> NotificationPreference:
    preference = NotificationPreference.objects.filter(user=user).first()
    return preference or NotificationPreference(user=user)


# --------------------------------------------------------------------------- writing


def _write(
    users: Iterable[AbstractBaseUser],
    *,
    request: ExceptionRequest | None,
    kind: str,
    text: str,
    level: int | None = None,
) -> list[Notification]:
    return notifications_save(_rows(users, request=request, kind=kind, text=text, level=level))


def _rows(
    users: Iterable[AbstractBaseUser],
    *,
    request: ExceptionRequest | None,
    kind: str,
    text: str,
    level: int | None = None,
) -> list[Notification]:
    """One notification per person, held for the digest when they asked for digests; not saved."""
    users = list(users)
    if all(hasattr(user, "wants_digest") for user in users):  # read with them (deciders)
        held = {user.pk for user in users if user.wants_digest}
    else:
        held = digest_user_ids(user.pk for user in users)
    return [
        Notification(user=user, request=request, kind=kind, text=text[:500], level=level, in_digest=user.pk in held)
        for user in users
    ]


def notifications_save(rows: list[Notification]) -> list[Notification]:
    """Save ``rows`` (``_rows``) and email those not held for a digest once the transaction commits."""
    rows = Notification.objects.bulk_create(rows)
    emails_on_commit(rows)
    return rows


def emails_on_commit(rows: list[Notification]) -> None:
    """Email these saved notifications (those not held for a digest) once the transaction commits: by the email
    flush, which sends every notification not sent yet, a moment later; what this process commits until then
    joins that flush (a burst of filings queues one task, not one each)."""
    if any(not row.in_digest for row in rows):
        enqueue_coalesced_on_commit("requests.tasks.send_new_emails", delay=EMAIL_FLUSH_DELAY)


def queue_emails(notification_ids: list[int]) -> None:
    """Email these notifications once the transaction commits, a chunk per task (batches that wrote many:
    the chunks go out in parallel)."""
    for chunk in chunked(notification_ids):
        enqueue_on_commit("requests.tasks.send_notification_emails", chunk)


def request_filed(request: ExceptionRequest, *, rep_stand_ins: frozenset[int] | None = None) -> list[Notification]:
    """A request filed pending waits at its level: everyone who may decide it there is told once (not its rep)."""
    return notifications_save(arrivals(request, rep_stand_ins=rep_stand_ins))


def arrivals(request: ExceptionRequest, *, rep_stand_ins: frozenset[int] | None = None) -> list[Notification]:
    """What ``request_filed`` saves, not saved (filing may write them with the request, in one statement)."""
    recipients = deciders_of(request, rep_stand_ins=rep_stand_ins)
    text = f"{request.reference} waits for your decision (just filed): {request.policy.name}, {money(request.amount)}."
    return _rows(recipients, request=request, kind=Notification.Kind.ARRIVED, text=text, level=request.approval_level)


def stand_in_started(delegation: Delegation, *, today: date | None = None) -> int:
    """A stand-in's period starts: they are told, once per period, of each request already waiting at the
    absent approver's levels (an arrival, with links), except their own filings and what they decide anyway.
    Claimed by a conditional update, so the service and the daily job never tell them twice."""
    today = today or portal_today()
    if not (delegation.starts_on <= today <= delegation.ends_on):
        return 0
    claimed = Delegation.objects.filter(pk=delegation.pk, arrivals_sent_on__isnull=True).update(arrivals_sent_on=today)
    if not claimed:
        return 0
    absent, delegate = delegation.approver, delegation.delegate
    if not delegate.is_active:
        return 0

    def levels_of(user: AbstractBaseUser) -> QuerySet[ApproverLevel]:
        return ApproverLevel.objects.filter(
            Q(user_id=user.pk) | Q(group_id__in=user.groups.values("pk")),
            policy_id=OuterRef("policy_id"),
            level=OuterRef("approval_level"),
        )

    rows = (
        ExceptionRequest.objects.filter(status__in=OPEN_STATUSES)
        .filter(Exists(levels_of(absent)))
        .exclude(Exists(levels_of(delegate)))
        .exclude(rep_id=delegate.pk)
        .exclude(rep_id=absent.pk)  # nor what the absent approver filed: segregation of duties (authority.py)
    )
    created_at = timezone.now()
    written = insert_from_select(
        Notification,
        rows,
        {
            "user": Value(delegate.pk),
            "request": F("pk"),
            "kind": Notification.Kind.ARRIVED.value,
            "text": Concat(
                "reference", Value(f" waits for your decision: you stand in for {display_name(absent)} from today.")
            ),
            "created_at": created_at,
            "level": F("approval_level"),
            "in_digest": Value(bool(digest_user_ids([delegate.pk]))),
        },
    )
    queue_emails(
        list(
            Notification.objects.filter(user=delegate, created_at=created_at, in_digest=False).values_list(
                "pk", flat=True
            )
        )
    )
    return written


def stand_ins_started(*, today: date | None = None) -> int:
    """The daily job: every period that starts today (or started while nobody told its stand-in)."""
    today = today or portal_today()
    running = Delegation.objects.filter(
        starts_on__lte=today, ends_on__gte=today, arrivals_sent_on__isnull=True
    ).select_related("approver", "delegate")
    return sum(stand_in_started(delegation, today=today) for delegation in running)


def request_decided(request: ExceptionRequest, *, approver: AbstractBaseUser) -> list[Notification]:
    verb = request.get_status_display().lower()
    text = f"{request.reference} was {verb} by {display_name(approver)}. The customer message is drafted: review and send it."
    return _write([request.rep], request=request, kind=Notification.Kind.DECIDED, text=text)


def question_asked(request: ExceptionRequest, *, approver: AbstractBaseUser, question: str) -> list[Notification]:
    text = f"{display_name(approver)} needs more information on {request.reference}: {question}"
    return _write([request.rep], request=request, kind=Notification.Kind.INFO_REQUESTED, text=text)


def question_answered(request: ExceptionRequest, *, rep: AbstractBaseUser, corrected: str = "") -> list[Notification]:
    """Back from the rep's answer: the asker hears the answer; everyone else who may decide, an arrival."""
    asker = request.info_requested_by
    fix = f" ({corrected})" if corrected else ""
    rows: list[Notification] = []
    at_level = deciders_of(request)
    others = [user for user in at_level if user.pk != getattr(asker, "pk", None)]
    if asker is not None and asker.is_active:
        # The asker's email decides only while the request waits at a level they decide at (a correction
        # may have routed it elsewhere).
        asker_decides = any(user.pk == asker.pk for user in at_level)
        rows += _write(
            [asker],
            request=request,
            kind=Notification.Kind.INFO_ANSWERED,
            text=f"{display_name(rep)} answered on {request.reference}{fix}: "
            + ("it is back in your queue." if asker_decides else f"it now waits at level {request.approval_level}."),
            level=request.approval_level if asker_decides else None,
        )
    rows += _write(
        others,
        request=request,
        kind=Notification.Kind.ARRIVED,
        text=f"{request.reference} is back in the queue after the rep's answer{fix}: {request.policy.name}, "
        f"{money(request.amount)}.",
        level=request.approval_level,
    )
    return rows


def request_withdrawn(
    request: ExceptionRequest, *, rep: AbstractBaseUser, reason: str, also: AbstractBaseUser | None = None
) -> list[Notification]:
    """The rep took it back: whoever had it in their queue (the level's deciders and their stand-ins) and
    whoever asked the rep a question are told it is gone (not the rep)."""
    recipients = deciders(policy_id=request.policy_id, level=request.approval_level) if request.approval_level else []
    if also is not None and also.is_active and also.pk not in {user.pk for user in recipients}:
        recipients.append(also)
    recipients = [user for user in recipients if user.pk != rep.pk]
    text = f"{display_name(rep)} withdrew {request.reference}: {reason}"
    return _write(recipients, request=request, kind=Notification.Kind.WITHDRAWN, text=text)


def webhook_disabled(endpoint, *, owners: Iterable[AbstractBaseUser]) -> list[Notification]:
    """A webhook endpoint was disabled after repeated failures: its owner (or the policy admins) are told."""
    text = (
        f"The webhook “{endpoint.name}” ({endpoint.url}) was disabled after "
        f"{endpoint.consecutive_failures} failed deliveries in a row. Fix the receiver, then "
        "re-enable it in admin: its pending deliveries are sent then."
    )
    return _write(owners, request=None, kind=Notification.Kind.WEBHOOK_DISABLED, text=text)


def policy_flagged(policy: Policy, *, reason: str) -> list[Notification]:
    if not (policy.owner_id and policy.owner.is_active):
        return []
    text = f"“{policy.name}” was flagged for review: {reason}"
    return _write([policy.owner], request=None, kind=Notification.Kind.REVIEW_FLAG, text=text)


# --------------------------------------------------------------------------- the SLA sweep's words


# The sweep's notifications (escalation.py), written set-based, one INSERT … SELECT per recipient and text:
# each text is an SQL expression on the request row as it stands after the batch's UPDATE, so a notification
# costs no Python and the text can never disagree with what was stored.
SWEEP_NOTICES: dict[str, tuple[Notification.Kind, Callable[[], Concat]]] = {
    "reminder": (
        Notification.Kind.REMINDER,
        lambda: Concat(Value("Reminder: "), "reference", Value(" is due soon.")),
    ),
    "previous": (
        Notification.Kind.ESCALATED,
        lambda: Concat(
            "reference",
            Value(" breached its SLA at level "),
            column_text("breached_level"),
            Value(" and went to level "),
            column_text("approval_level"),
            Value("."),
        ),
    ),
    # An arrival at the new level: its email carries the facts and the decision links.
    "new": (
        Notification.Kind.ARRIVED,
        lambda: Concat(
            "reference",
            Value(" was escalated to you (level "),
            column_text("approval_level"),
            Value(") after an SLA breach."),
        ),
    ),
    "rep": (
        Notification.Kind.ESCALATED,
        lambda: Concat(
            Value("Your request "),
            "reference",
            Value(" was escalated to level "),
            column_text("approval_level"),
            Value(" after an SLA breach."),
        ),
    ),
    "alert": (
        Notification.Kind.ALERT,
        lambda: Concat(
            "reference",
            Value(" ("),
            "policy__name",
            Value(") breached its SLA at level "),
            column_text("breached_level"),
            Value(", the top level. It still needs a decision."),
        ),
    ),
}


def notifications_mark_read(
    *, user: AbstractBaseUser, notification_ids: list[int] | None = None, request_id: int | None = None
) -> int:
    """Mark read: all of a user's, some of them, or those about one request (opening it reads them)."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    if request_id is not None:
        unread = unread.filter(request_id=request_id)
    return unread.update(read_at=timezone.now())


# --------------------------------------------------------------------------- emails


def _base() -> str:
    return settings.PORTAL_BASE_URL.rstrip("/")


def recipient_zone(user: AbstractBaseUser) -> ZoneInfo:
    """The recipient's time zone when they gave one on the preferences page, else the portal's."""
    name = NotificationPreference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def request_email_context(notification: Notification) -> dict:
    """What an email says about the notification's request: facts, thread, deadline, and for an arrival
    still at its level, the authority that would apply and the decision links."""
    request = notification.request
    if request is None:
        return {}
    context: dict = {
        "req": request,
        "open_url": _base() + reverse("requests:detail", args=[request.pk]),
        "thread": list(QuestionAnswer.objects.filter(request=request).select_related("author")),
        "earlier": list(
            ExceptionRequest.objects.filter(customer_id=request.customer_id, policy_id=request.policy_id)
            .exclude(pk=request.pk)
            .exclude(status__in=NOT_AN_EXCEPTION)
            .order_by("filed_at")
            .values_list("reference", flat=True)[:10]
        ),
    }
    arrival = (
        notification.kind in ARRIVAL_KINDS
        and request.status in OPEN_STATUSES
        and notification.level == request.approval_level
    )
    if arrival:
        token = decision_links.decision_token(approver=notification.user, request=request)
        context.update(
            arrival=True,
            authority=_authority_for(notification.user, request),
            approve_url=decision_links.decision_url(token=token, action="approve"),
            deny_url=decision_links.decision_url(token=token, action="deny"),
        )
    return context


def _message(*, user: AbstractBaseUser, subject: str, template: str, context: dict) -> EmailMultiAlternatives:
    preferences_url = _base() + reverse("requests:preferences")
    context = {**context, "user": user, "preferences_url": preferences_url, "portal_url": _base() + "/"}
    with timezone.override(recipient_zone(user)):
        context["zone"] = timezone.get_current_timezone_name()
        text = render_to_string(f"requests/email/{template}.txt", context)
        html = render_to_string(f"requests/email/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"List-Unsubscribe": f"<{preferences_url}>"},
    )
    message.attach_alternative(html, "text/html")
    return message


def _subject(notification: Notification) -> str:
    request = notification.request
    if request is not None and notification.kind == Notification.Kind.REMINDER:
        return f"[Exceptions portal] Reminder: {request.reference} is due soon: {request.policy.name}, {money(request.amount)}"
    if request is not None and notification.kind in ARRIVAL_KINDS:
        return f"[Exceptions portal] {request.reference} waits for your decision: {request.policy.name}, {money(request.amount)}"
    if request is not None:
        return f"[Exceptions portal] {notification.get_kind_display()}: {request.reference}"
    return f"[Exceptions portal] {notification.get_kind_display()}"


def _claimable(now: datetime) -> Q:
    return Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=now - EMAIL_CLAIM_TIMEOUT)


def notification_email_send(*, notification_id: int, now: datetime | None = None) -> bool:
    """Email one notification. A conditional update claims it, so a redelivered message or a
    second worker sends nothing more; a failed send releases the claim for the retry, and a
    claim left by a killed worker expires (at least once, never lost). Rows held for a digest
    are left to the digest."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        _claimable(now), pk=notification_id, emailed_at__isnull=True, in_digest=False
    ).update(email_claimed_at=now)
    if not claimed:
        return False
    notification = Notification.objects.select_related(
        "user", "request", "request__policy", "request__customer", "request__rep"
    ).get(pk=notification_id)
    if not notification.user.email:
        Notification.objects.filter(pk=notification_id).update(emailed_at=now)
        return False
    context = {"notification": notification, **request_email_context(notification)}
    try:
        _message(
            user=notification.user, subject=_subject(notification), template="notification", context=context
        ).send()
    except BaseException:
        Notification.objects.filter(pk=notification_id).update(email_claimed_at=None)
        raise
    Notification.objects.filter(pk=notification_id).update(emailed_at=timezone.now())
    return True


def notification_emails_unsent(
    *, now: datetime | None = None, older_than: timedelta | None = EMAIL_RESEND_AFTER, limit: int = 5000
) -> list[int]:
    """Notifications not emailed yet, created at least ``older_than`` ago (by default those a lost task or a
    crashed worker left; None: however recent), and not being sent now (not digests); oldest first."""
    now = now or timezone.now()
    unsent = Notification.objects.filter(emailed_at__isnull=True, in_digest=False).filter(_claimable(now))
    if older_than is not None:
        unsent = unsent.filter(created_at__lt=now - older_than)
    return list(unsent.order_by("created_at", "pk").values_list("pk", flat=True)[:limit])


def notification_emails_flush() -> tuple[int, bool]:
    """Email the notifications not sent yet (the flush a moment after they commit), at most a chunk: how many
    were sent, and whether more wait (the caller flushes again)."""
    # However recent: a row dated by a web server whose clock is ahead of this worker's is due all the same.
    ids = notification_emails_unsent(older_than=None, limit=EMAIL_CHUNK + 1)
    return notification_emails_send(ids[:EMAIL_CHUNK]), len(ids) > EMAIL_CHUNK


def notification_emails_send(notification_ids: list[int]) -> int:
    """Email each of these notifications (``notification_email_send``): how many were sent."""
    return sum(notification_email_send(notification_id=pk) for pk in notification_ids)


# --------------------------------------------------------------------------- digests


def digests_due(*, now: datetime | None = None) -> list[int]:
    """People whose digest is due: their oldest held notification waited their interval, or one of the
    held requests reached its reminder point (a digest never holds an item past its 75 % reminder), or
    they went back to an email per notification."""
    now = now or timezone.now()
    held = Notification.objects.filter(in_digest=True, emailed_at__isnull=True).filter(_claimable(now))
    oldest = dict(held.values("user_id").annotate(oldest=Min("created_at")).values_list("user_id", "oldest"))
    if not oldest:
        return []
    minutes = dict(
        NotificationPreference.objects.filter(user_id__in=list(oldest)).values_list("user_id", "digest_minutes")
    )
    urgent = set(
        held.filter(request__status__in=OPEN_STATUSES, request__remind_at__lte=now).values_list("user_id", flat=True)
    )
    return sorted(
        user_id
        for user_id, first in oldest.items()
        if user_id in urgent or first <= now - timedelta(minutes=minutes.get(user_id, 0))
    )


def digest_send(*, user_id: int, now: datetime | None = None) -> int:
    """One email listing what was held for this person, each with its links; the number listed.

    Claims the rows first (a conditional update), so two runs at once send one digest."""
    now = now or timezone.now()
    ids = list(
        Notification.objects.filter(user_id=user_id, in_digest=True, emailed_at__isnull=True)
        .filter(_claimable(now))
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    Notification.objects.filter(_claimable(now), pk__in=ids, emailed_at__isnull=True).update(email_claimed_at=now)
    rows = list(
        Notification.objects.filter(pk__in=ids, email_claimed_at=now, emailed_at__isnull=True)
        .select_related("user", "request", "request__policy", "request__customer", "request__rep")
        .order_by("created_at", "pk")
    )
    if not rows:
        return 0
    user = rows[0].user
    if user.email:
        items = [{"notification": row, **request_email_context(row)} for row in rows]
        subject = f"[Exceptions portal] {len(rows)} notification{'s' if len(rows) != 1 else ''} since your last digest"
        try:
            _message(user=user, subject=subject, template="digest", context={"items": items}).send()
        except BaseException:
            Notification.objects.filter(pk__in=[row.pk for row in rows]).update(email_claimed_at=None)
            raise
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(emailed_at=timezone.now())
    NotificationPreference.objects.filter(user_id=user_id).update(last_digest_at=now)
    return len(rows)


def preference_save(*, user: AbstractBaseUser, digest_minutes: int, time_zone: str) -> NotificationPreference:
    """Save how the person is emailed. Going back to an email per notification releases what was held
    to the next digest run (at once), so nothing waits for a digest that will not come."""
    if digest_minutes not in NotificationPreference.Delivery.values:
        raise ValueError("Choose every notification or a digest every 15, 30 or 60 minutes.")
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        preference.digest_minutes = digest_minutes
        preference.time_zone = time_zone
        preference.save()
    return preference
