"""The SLA sweep: remind before the deadline, escalate on breach, alert at the top.

The database holds every deadline (indexed); a sweep finds what is due. No
escalation depends on a countdown message surviving in the broker: Redis
redelivers an unacknowledged ETA message after its visibility timeout, so a
two-hour countdown would run twice or be lost on a restart.

Exactly once in effect: each batch locks its rows (``select_for_update
(skip_locked=True)`` on PostgreSQL; SQLite's IMMEDIATE transactions serialise
writers), re-reads their state under the lock, and writes the change, its
history rows and its notifications in the same transaction. Two workers, a
duplicated message, two sweeps at once or a rerun after a crash find nothing
left to do. A decided request no longer matches the sweep's filter, so it is
never escalated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from policies import roles
from policies.models import ApproverLevel, Policy
from policies.selectors import calendar_spec, policies_with_rules
from requests import sla
from requests.models import OPEN_STATUSES, Escalation, ExceptionRequest, Notification, Status
from requests.services import chunked, system_user

logger = logging.getLogger(__name__)

ESCALATION_FIELDS = [
    "status",
    "approval_level",
    "breached_level",
    "due_at",
    "remind_at",
    "reminder_sent_at",
    "level_started_at",
    "alerted_at",
    "claimed_by",
]


@dataclass
class SweepReport:
    reminded: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    alerted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.reminded)} reminder(s), {len(self.escalated)} escalation(s), "
            f"{len(self.alerted)} top-level alert(s)"
        )


class _Recipients:
    """Who to tell, looked up once per policy and level within a batch, not once per request."""

    def __init__(self) -> None:
        self._approvers: dict[tuple[int, int], list[AbstractBaseUser]] = {}
        self._admins: list[AbstractBaseUser] | None = None

    def approvers(self, policy_id: int, level: int) -> list[AbstractBaseUser]:
        key = (policy_id, level)
        if key not in self._approvers:
            User = get_user_model()
            rows = ApproverLevel.objects.filter(policy_id=policy_id, level=level)
            users = list(
                User.objects.filter(is_active=True)
                .filter(Q(pk__in=rows.values("user_id")) | Q(groups__in=rows.values("group_id")))
                .distinct()
            )
            today = timezone.localdate()
            delegates = User.objects.filter(
                is_active=True,
                delegations_in__approver__in=users,
                delegations_in__starts_on__lte=today,
                delegations_in__ends_on__gte=today,
            ).distinct()
            self._approvers[key] = _unique([*users, *delegates])
        return self._approvers[key]

    def policy_admins(self, policy: Policy) -> list[AbstractBaseUser]:
        if self._admins is None:
            self._admins = list(
                get_user_model().objects.filter(is_active=True, groups__name=roles.POLICY_ADMINS).distinct()
            )
        owner = [policy.owner] if policy.owner_id and policy.owner.is_active else []
        return _unique([*owner, *self._admins])


def _unique(users: list[AbstractBaseUser]) -> list[AbstractBaseUser]:
    seen: dict[int, AbstractBaseUser] = {}
    for user in users:
        seen.setdefault(user.pk, user)
    return list(seen.values())


def _when(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%d %b, %H:%M}"


def _queue_emails(notifications: list[Notification]) -> None:
    if not notifications:
        return
    from requests.tasks import send_notification_emails

    # Small chunks: a task stays well inside its time limit, and a crash loses little work
    # (which the resend job picks up anyway).
    for chunk in chunked([n.pk for n in notifications]):
        transaction.on_commit(lambda chunk=chunk: send_notification_emails.delay(chunk))


def _policies(policy_ids: set[int]) -> dict[int, Policy]:
    return {p.pk: p for p in policies_with_rules().select_related("owner").filter(pk__in=policy_ids)}


def remind_batch(*, now: datetime, batch_size: int, report: SweepReport, recipients: _Recipients | None = None) -> int:
    """Remind the assigned approvers of requests past the reminder point, once per level."""
    with transaction.atomic():
        due = list(
            ExceptionRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=OPEN_STATUSES, remind_at__lte=now, reminder_sent_at__isnull=True, due_at__gt=now)
            .order_by("remind_at")[:batch_size]
        )
        if not due:
            return 0
        recipients = recipients or _Recipients()
        notifications: list[Notification] = []
        actor = system_user()
        for request in due:
            request.reminder_sent_at = now
            request._history_user = actor
            request._change_reason = f"SLA reminder sent to level {request.approval_level}"
            for user in recipients.approvers(request.policy_id, request.approval_level):
                notifications.append(
                    Notification(
                        user=user,
                        request=request,
                        kind=Notification.Kind.REMINDER,
                        text=f"Reminder: {request.reference} is due at {_when(request.due_at)}.",
                    )
                )
            report.reminded.append(request.reference)
        bulk_update_with_history(due, ExceptionRequest, ["reminder_sent_at"], default_user=actor, default_date=now)
        _queue_emails(Notification.objects.bulk_create(notifications))
        return len(due)


def escalate_batch(
    *, now: datetime, batch_size: int, report: SweepReport, recipients: _Recipients | None = None
) -> int:
    """Escalate breached requests to the next level, or alert the policy's admins at the top."""
    with transaction.atomic():
        breached = list(
            ExceptionRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=OPEN_STATUSES, due_at__lte=now, alerted_at__isnull=True)
            .order_by("due_at")[:batch_size]
        )
        if not breached:
            return 0
        policies = _policies({r.policy_id for r in breached})
        recipients = recipients or _Recipients()
        notifications: list[Notification] = []
        escalations: list[Escalation] = []
        actor = system_user()
        for request in breached:
            policy = policies[request.policy_id]
            breached_at = request.due_at
            from_level = request.approval_level
            next_level = min((a.level for a in policy.approver_levels.all() if a.level > from_level), default=None)
            request._history_user = actor
            request.breached_level = from_level
            if next_level is None:
                request.alerted_at = now
                request._change_reason = f"SLA breach at level {from_level}, the top level: policy admins alerted"
                escalations.append(
                    Escalation(request=request, from_level=from_level, to_level=None, breached_at=breached_at)
                )
                text = (
                    f"{request.reference} ({policy.name}) breached its SLA at level {from_level}, the top level, "
                    f"on {_when(breached_at)}. It still needs a decision."
                )
                notifications += [
                    Notification(user=u, request=request, kind=Notification.Kind.ALERT, text=text)
                    for u in recipients.policy_admins(policy)
                ]
                report.alerted.append(request.reference)
                continue
            clock = calendar_spec(policy)
            request.status = Status.ESCALATED
            request.approval_level = next_level
            request.level_started_at = breached_at
            # A fresh deadline from the breach time, so the SLA at each level is the policy's SLA.
            request.due_at = sla.due_at(start=breached_at, sla_minutes=policy.sla_minutes, calendar=clock)
            request.remind_at = sla.reminder_at(
                start=breached_at, sla_minutes=policy.sla_minutes, percent=settings.SLA_REMINDER_PERCENT, calendar=clock
            )
            request.reminder_sent_at = None
            request.claimed_by = None
            request._change_reason = f"SLA breach: escalated to level {next_level}"
            escalations.append(
                Escalation(
                    request=request,
                    from_level=from_level,
                    to_level=next_level,
                    breached_at=breached_at,
                    new_due_at=request.due_at,
                )
            )
            previous = recipients.approvers(request.policy_id, from_level)
            new = recipients.approvers(request.policy_id, next_level)
            texts = {
                "previous": f"{request.reference} breached its SLA at level {from_level} and went to level {next_level}.",
                "new": f"{request.reference} was escalated to you (level {next_level}) after an SLA breach: due {_when(request.due_at)}.",
                "rep": f"Your request {request.reference} was escalated to level {next_level}; new deadline {_when(request.due_at)}.",
            }
            notifications += [
                Notification(user=u, request=request, kind=Notification.Kind.ESCALATED, text=texts["previous"])
                for u in previous
            ]
            notifications += [
                Notification(user=u, request=request, kind=Notification.Kind.ESCALATED, text=texts["new"]) for u in new
            ]
            notifications.append(
                Notification(
                    user_id=request.rep_id, request=request, kind=Notification.Kind.ESCALATED, text=texts["rep"]
                )
            )
            report.escalated.append(request.reference)
        # The unique (request, from_level) constraint is the last guard against a double escalation.
        Escalation.objects.bulk_create(escalations)
        bulk_update_with_history(breached, ExceptionRequest, ESCALATION_FIELDS, default_user=actor, default_date=now)
        _queue_emails(Notification.objects.bulk_create(notifications))
        return len(breached)


def sla_sweep(*, now: datetime | None = None, batch_size: int | None = None) -> SweepReport:
    """One sweep: escalations first (they matter most), then reminders, in bounded batches."""
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    report = SweepReport()
    # Each batch is its own transaction. Every batch moves its rows towards "alerted" or
    # "reminded", so the loops end; a request escalated with a deadline already past (the
    # worker was down) is caught by the next batch, so one sweep catches up level by level.
    recipients = _Recipients()  # looked up once per sweep, not once per batch
    while escalate_batch(now=now, batch_size=batch_size, report=report, recipients=recipients):
        pass
    while remind_batch(now=now, batch_size=batch_size, report=report, recipients=recipients):
        pass
    if report.reminded or report.escalated or report.alerted:
        logger.info("SLA sweep at %s: %s", now.isoformat(), report)
    return report
