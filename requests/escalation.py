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

Set-based, so that a backlog of 100,000 breaches clears in well under a minute:
a batch is a handful of statements (one UPDATE per level move, then the history
rows, escalation rows and notifications copied from the updated rows by INSERT …
SELECT, see ``exceptions_portal.bulk``), not a Python object per row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from exceptions_portal import roles
from exceptions_portal.bulk import column_text, insert_from_select, insert_history
from exceptions_portal.people import system_user
from policies.models import Policy
from policies.routing import approval_level_for
from policies.selectors import policies_with_rules, policy_spec
from requests import notifications, sla, webhooks
from requests.authority import portal_today, stand_ins_of
from requests.models import (
    OPEN_STATUSES,
    Delegation,
    Escalation,
    ExceptionRequest,
    Notification,
    NotificationPreference,
    Status,
)
from requests.selectors import calendar_spec
from requests.services import (  # noqa: F401  (TIMER_RESOLUTION: the timers' grid, for tests)
    TIMER_RESOLUTION,
    sla_checks_schedule,
    sla_timer_horizon,
)

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    reminded: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    alerted: list[str] = field(default_factory=list)
    timers: int = 0

    def __str__(self) -> str:
        text = (
            f"{len(self.reminded)} reminder(s), {len(self.escalated)} escalation(s), "
            f"{len(self.alerted)} top-level alert(s)"
        )
        return f"{text}, {self.timers} timer(s) set" if self.timers else text


class _Recipients:
    """Who to tell, looked up once per policy and level within a batch, not once per request."""

    def __init__(self) -> None:
        self._approvers: dict[tuple[int, int], list[AbstractBaseUser]] = {}
        self._admins: list[AbstractBaseUser] | None = None

    def approvers(self, policy_id: int, level: int) -> list[AbstractBaseUser]:
        key = (policy_id, level)
        if key not in self._approvers:
            self._approvers[key] = notifications.deciders(policy_id=policy_id, level=level)
        return self._approvers[key]

    def policy_admins(self, policy: Policy) -> list[AbstractBaseUser]:
        if self._admins is None:
            self._admins = list(
                get_user_model().objects.filter(is_active=True, groups__name=roles.POLICY_ADMINS).distinct()
            )
        owner = [policy.owner] if policy.owner_id and policy.owner.is_active else []
        return notifications.each_once([*owner, *self._admins])


def _queue_emails(*, request_ids: list[int], created_at: datetime) -> None:
    """Email, once the batch commits, the notifications it wrote (found by their shared creation time);
    those held for a digest go with the next digest."""
    ids = list(
        Notification.objects.filter(request_id__in=request_ids, created_at=created_at, in_digest=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Chunks: a task stays well inside its time limit, and a crash loses little work (which the resend
    # job picks up anyway).
    notifications.queue_emails(ids)


def _policies(policy_ids: set[int]) -> dict[int, Policy]:
    return {p.pk: p for p in policies_with_rules().select_related("owner").filter(pk__in=policy_ids)}


class _Notices:
    """The notifications of one batch, written set-based: one INSERT … SELECT per recipient and text.

    Their words are ``notifications.SWEEP_NOTICES``.
    """

    def __init__(self, created_at: datetime) -> None:
        self.created_at = created_at
        self._ids: dict[tuple[str, int], list[int]] = defaultdict(list)

    def add(self, text: str, users: list[AbstractBaseUser], request_ids: list[int]) -> None:
        for user in users:
            self._ids[(text, user.pk)] += request_ids

    def write(self, *, rep_request_ids: list[int] | None = None) -> None:
        held = notifications.digest_user_ids(user_id for _, user_id in self._ids)
        for (text, user_id), request_ids in self._ids.items():
            self._insert(text, Value(user_id), request_ids, in_digest=user_id in held, exclude_rep=user_id)
        if rep_request_ids:
            # The rep's own digest preference, read in the same statement.
            rep_held = Exists(NotificationPreference.objects.filter(user_id=OuterRef("rep_id"), digest_minutes__gt=0))
            self._insert("rep", F("rep_id"), list(rep_request_ids), in_digest=rep_held)

    def _insert(self, text: str, user, request_ids: list[int], *, in_digest, exclude_rep: int | None = None) -> None:
        kind, expression = notifications.SWEEP_NOTICES[text]
        rows = ExceptionRequest.objects.filter(pk__in=request_ids)
        columns = {
            "user": user,
            "request": F("pk"),
            "kind": kind.value,
            "text": expression(),
            "created_at": self.created_at,
            "in_digest": in_digest,
        }
        if kind == Notification.Kind.ARRIVED:
            # One arrival per person who may decide it there: never its own rep (segregation of duties).
            # Nor a request filed by someone they stand in for (segregation of duties, authority.py).
            today = portal_today(self.created_at)
            rows = rows.exclude(rep_id=exclude_rep).exclude(
                Exists(
                    Delegation.objects.filter(
                        approver_id=OuterRef("rep_id"),
                        delegate_id=exclude_rep,
                        starts_on__lte=today,
                        ends_on__gte=today,
                    )
                )
            )
        if kind in (Notification.Kind.ARRIVED, Notification.Kind.REMINDER):
            # The level its email's decision links are bound to.
            columns["level"] = F("approval_level")
        insert_from_select(Notification, rows, columns)


def remind_batch(*, now: datetime, batch_size: int, report: SweepReport, recipients: _Recipients | None = None) -> int:
    """Remind the assigned approvers of requests past the reminder point, once per level."""
    with transaction.atomic():
        due = list(
            ExceptionRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=OPEN_STATUSES, remind_at__lte=now, reminder_sent_at__isnull=True, due_at__gt=now)
            .order_by("remind_at")
            .values_list("pk", "reference", "policy_id", "approval_level", named=True)[:batch_size]
        )
        if not due:
            return 0
        recipients = recipients or _Recipients()
        created_at = timezone.now()
        ids = [row.pk for row in due]
        ExceptionRequest.objects.filter(pk__in=ids).update(reminder_sent_at=now)
        insert_history(
            ExceptionRequest.objects.filter(pk__in=ids),
            user_id=system_user().pk,
            date=now,
            reason=Concat(Value("SLA reminder sent to level "), column_text("approval_level")),
        )
        notices = _Notices(created_at)
        for (policy_id, level), rows in _by_level(due).items():
            notices.add("reminder", recipients.approvers(policy_id, level), [row.pk for row in rows])
        notices.write()
        _queue_emails(request_ids=ids, created_at=created_at)
        report.reminded += [row.reference for row in due]
        return len(due)


def _by_level(rows: list) -> dict[tuple[int, int], list]:
    groups: dict[tuple[int, int], list] = defaultdict(list)
    for row in rows:
        groups[(row.policy_id, row.approval_level)].append(row)
    return groups


def _by_move(rows: list, policies: dict[int, Policy]) -> dict[tuple[int, int, int | None], list]:
    """Breached rows grouped by where they go: the next level above the breached one where an active
    approver may approve the amount, not counting the filer nor whoever stands in for them today (routing
    by amount, routing.py; segregation of duties, authority.py, as the arrival notices), or None: alert."""
    specs = {policy_id: policy_spec(policy) for policy_id, policy in policies.items()}
    stand_ins = stand_ins_of(rep_ids={row.rep_id for row in rows})
    groups: dict[tuple[int, int, int | None], list] = defaultdict(list)
    for row in rows:
        to_level = approval_level_for(
            specs[row.policy_id].approvers,
            amount=row.amount,
            lowest=row.approval_level + 1,
            rep_id=row.rep_id,
            excluding=stand_ins[row.rep_id],
        )
        groups[(row.policy_id, row.approval_level, to_level)].append(row)
    return groups


def _escalation_change(*, from_level: int, to_level: int) -> dict:
    return {
        "status": Status.ESCALATED,
        "approval_level": to_level,
        "breached_level": from_level,
        # The level's clock starts at the breach, so the SLA at each level is the policy's SLA. In an
        # UPDATE every right-hand side reads the row as it was, so this is the old deadline.
        "level_started_at": F("due_at"),
        "reminder_sent_at": None,
        "claimed_by": None,
    }


class _Moves:
    """The batch's UPDATEs. Without a calendar a deadline moves by a fixed offset, so every row that
    moves between the same levels by the same offsets shares one statement, whatever its policy."""

    def __init__(self) -> None:
        self._shifts: dict[tuple[int, int, timedelta, timedelta], list[int]] = defaultdict(list)
        self._alerts: dict[int, list[int]] = defaultdict(list)

    def escalate(self, policy: Policy, rows: list, *, from_level: int, to_level: int) -> None:
        clock = calendar_spec(policy)
        percent = settings.SLA_REMINDER_PERCENT
        offsets = sla.deadline_offsets(sla_minutes=policy.sla_minutes, percent=percent, calendar=clock)
        if offsets is not None:
            self._shifts[(from_level, to_level, *offsets)] += [row.pk for row in rows]
            return
        # Business hours: each deadline depends on where its breach falls in the calendar.
        ExceptionRequest.objects.filter(pk__in=[row.pk for row in rows]).update(
            **_escalation_change(from_level=from_level, to_level=to_level)
        )
        ExceptionRequest.objects.bulk_update(
            [
                ExceptionRequest(
                    pk=row.pk,
                    due_at=sla.due_at(start=row.due_at, sla_minutes=policy.sla_minutes, calendar=clock),
                    remind_at=sla.reminder_at(
                        start=row.due_at, sla_minutes=policy.sla_minutes, percent=percent, calendar=clock
                    ),
                )
                for row in rows
            ],
            ["due_at", "remind_at"],
        )

    def alert(self, ids: list[int], *, at_level: int) -> None:
        self._alerts[at_level] += ids

    def write(self, *, now: datetime) -> None:
        for (from_level, to_level, due, remind), ids in self._shifts.items():
            ExceptionRequest.objects.filter(pk__in=ids).update(
                **_escalation_change(from_level=from_level, to_level=to_level),
                due_at=F("due_at") + due,
                remind_at=F("due_at") + remind,
            )
        for level, ids in self._alerts.items():
            ExceptionRequest.objects.filter(pk__in=ids).update(breached_level=level, alerted_at=now)


def _record(ids: list[int], *, actor: int, now: datetime, reason: Concat, escalation: dict) -> None:
    """The history rows and escalation rows of requests just escalated or alerted, copied from the stored rows."""
    if not ids:
        return
    rows = ExceptionRequest.objects.filter(pk__in=ids)
    insert_history(rows, user_id=actor, date=now, reason=reason)
    insert_from_select(Escalation, rows, {"request": F("pk"), "from_level": F("breached_level"), **escalation})


def breached_requests(*, now: datetime) -> QuerySet[ExceptionRequest]:
    """Open requests past their deadline and not yet alerted at the top, oldest breach first."""
    # open_due_at is due_at while the request is open, so the queue's index serves the sweep too.
    return ExceptionRequest.objects.filter(open_due_at__lte=now, alerted_at__isnull=True).order_by("open_due_at")


def escalate_batch(
    *, now: datetime, batch_size: int, report: SweepReport, recipients: _Recipients | None = None
) -> int:
    """Escalate breached requests to the next level, or alert the policy's admins at the top.

    Set-based: one UPDATE per policy and level in the batch, then the history rows, escalation rows
    and notifications copied from the updated rows by INSERT … SELECT, all in the batch's transaction.
    """
    with transaction.atomic():
        breached = list(
            breached_requests(now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "reference", "policy_id", "approval_level", "due_at", "amount", "rep_id", named=True)[
                :batch_size
            ]
        )
        if not breached:
            return 0
        policies = _policies({row.policy_id for row in breached})
        recipients = recipients or _Recipients()
        created_at = timezone.now()
        notices = _Notices(created_at)
        moves = _Moves()
        escalated: list[int] = []
        alerted: list[int] = []
        for (policy_id, from_level, to_level), rows in _by_move(breached, policies).items():
            policy = policies[policy_id]
            ids = [row.pk for row in rows]
            if to_level is None:
                moves.alert(ids, at_level=from_level)
                notices.add("alert", recipients.policy_admins(policy), ids)
                alerted += ids
                report.alerted += [row.reference for row in rows]
                continue
            moves.escalate(policy, rows, from_level=from_level, to_level=to_level)
            notices.add("previous", recipients.approvers(policy_id, from_level), ids)
            notices.add("new", recipients.approvers(policy_id, to_level), ids)
            escalated += ids
            report.escalated += [row.reference for row in rows]
        moves.write(now=now)
        if escalated:
            # A short SLA can put the new deadline or reminder before the next sweep.
            rows = ExceptionRequest.objects.filter(pk__in=escalated)
            sla_checks_schedule(upcoming_moments(rows, now=now), now=now)
        actor = system_user().pk
        _record(
            escalated,
            actor=actor,
            now=now,
            reason=Concat(Value("SLA breach: escalated to level "), column_text("approval_level")),
            # The unique (request, from_level) constraint is the last guard against a double escalation.
            escalation={
                "to_level": F("approval_level"),
                "breached_at": F("level_started_at"),
                "new_due_at": F("due_at"),
                "created_at": created_at,
            },
        )
        _record(
            alerted,
            actor=actor,
            now=now,
            reason=Concat(
                Value("SLA breach at level "),
                column_text("breached_level"),
                Value(", the top level: policy admins alerted"),
            ),
            escalation={"breached_at": F("due_at"), "created_at": created_at},
        )
        notices.write(rep_request_ids=escalated)
        webhooks.emit_many("escalated", escalated)
        webhooks.emit_many("alerted", alerted)
        _queue_emails(request_ids=[row.pk for row in breached], created_at=created_at)
        return len(breached)


# The most timers one look-ahead schedules: a burst beyond it is left to the sweeps.
TIMER_LIMIT = 2000
_horizon = sla_timer_horizon


def upcoming_moments(rows: QuerySet[ExceptionRequest], *, now: datetime) -> list[datetime]:
    """The deadlines and pending reminders of ``rows`` that fall before the next sweep, soonest first."""
    until = now + _horizon()
    due = (
        rows.filter(open_due_at__gt=now, open_due_at__lte=until, alerted_at__isnull=True)
        .order_by("open_due_at")
        .values_list("open_due_at", flat=True)[:TIMER_LIMIT]
    )
    remind = (
        rows.filter(status__in=OPEN_STATUSES, reminder_sent_at__isnull=True, remind_at__gt=now, remind_at__lte=until)
        .order_by("remind_at")
        .values_list("remind_at", flat=True)[:TIMER_LIMIT]
    )
    return [*due, *remind]


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


def sla_sweep_and_look_ahead(*, now: datetime | None = None) -> SweepReport:
    """The periodic sweep, then a precise check scheduled at each deadline and reminder before the next one."""
    now = now or timezone.now()
    report = sla_sweep(now=now)
    look_ahead = timezone.now()
    report.timers = len(
        sla_checks_schedule(upcoming_moments(ExceptionRequest.objects.all(), now=look_ahead), now=look_ahead)
    )
    return report
