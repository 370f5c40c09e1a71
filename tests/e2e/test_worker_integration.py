"""The SLA sweep run by the real system: `celery worker` and `celery beat` as subprocesses.

The other sweep tests call ``sla_sweep`` in-process; these start the processes of the
Procfile against the configured broker and the test database, and prove what DOMAIN.md
promises of the scheduled jobs: a breach is escalated without anyone running a sweep by
hand, exactly once even with two workers and several sweeps at once, and nothing is lost
when a worker dies mid-sweep.

The subprocesses run with ``SLA_SWEEP_SECONDS=5``, so beat sends a sweep every 5 seconds
(production: 30). They reach the test's rows because the tests are transactional (rows
are committed) and the worker is pointed at the test database: the SQLite file under
VAR_DIR, or PostgreSQL's ``test_`` database. They share the test process's broker: the
filesystem folders under VAR_DIR, or Redis.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from exceptions_portal.celery import app
from policies.models import Policy
from requests.models import Escalation, ExceptionRequest, Notification, Status
from requests.services import exception_request_file
from requests.tasks import enforce_sla
from tests.celery_processes import CeleryProcesses, celery_subprocesses, wait_until
from tests.conftest import facts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Beat's interval in the subprocesses. Short so that the suite stays quick; the
# latency bound below is stated in terms of it.
SWEEP_SECONDS = 5
# The bound: a breach is escalated within one sweep interval plus 10 s of its deadline.
ESCALATION_SLACK = timedelta(seconds=SWEEP_SECONDS + 10)
# What a level-1 breach tells: manager_low and manager_high (level 1) and the rep that it escalated; the
# director (level 2) that it arrived.
ESCALATED_NOTIFICATIONS_PER_REQUEST = 3
# Arrivals at level 2 (the sweep's): the director, once.
ARRIVALS_PER_REQUEST = 1


@pytest.fixture
def celery_processes(transactional_db, tmp_path: Path) -> Iterator[CeleryProcesses]:
    with celery_subprocesses(tmp_path, sweep_seconds=SWEEP_SECONDS) as processes:
        yield processes


def file_overdue_requests(rep: AbstractBaseUser, policy: Policy, count: int) -> list[int]:
    """Requests filed three hours ago on a two-hour SLA: breached at level 1 an hour ago."""
    filed = timezone.now() - timedelta(hours=3)
    return [
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"W-{n}", amount=Decimal("300")), now=filed).pk
        for n in range(count)
    ]


def copy_overdue_request(rep: AbstractBaseUser, policy: Policy, count: int) -> list[int]:
    """One overdue request filed through the service and ``count - 1`` copies of its row.

    Filing thousands one by one takes over a minute; the sweep only reads the row, so copies do.
    """
    [original_id] = file_overdue_requests(rep, policy, 1)
    original = ExceptionRequest.objects.get(pk=original_id)
    fields = {
        f.attname: getattr(original, f.attname) for f in ExceptionRequest._meta.concrete_fields if not f.primary_key
    }
    copies = [ExceptionRequest(**{**fields, "reference": f"{original.reference}-{n}"}) for n in range(1, count)]
    bulk_create_with_history(
        copies,
        ExceptionRequest,
        batch_size=500,
        default_user=rep,
        default_change_reason="Filed: pending at approval level 1",
    )
    return list(ExceptionRequest.objects.order_by("pk").values_list("pk", flat=True))


def level_one_escalations() -> int:
    return Escalation.objects.filter(from_level=1).count()


def assert_escalated_exactly_once(request_ids: list[int], *, rep: AbstractBaseUser, logs: str) -> None:
    assert "IntegrityError" not in logs
    per_request = Counter(Escalation.objects.filter(from_level=1).values_list("request_id", flat=True))
    assert set(per_request) == set(request_ids)
    assert set(per_request.values()) == {1}
    assert Escalation.objects.exclude(from_level=1).count() == 0
    states = Counter(ExceptionRequest.objects.values_list("status", "approval_level", "breached_level"))
    assert states == {(Status.ESCALATED, 2, 1): len(request_ids)}
    # A batch cut short by a crash must leave no notification behind, and a rerun none twice.
    # The arrivals at level 1 come from filing (the copied requests have none), not from the sweep.
    sweep_written = Notification.objects.exclude(kind=Notification.Kind.ARRIVED, level=1)
    per_kind = Counter(
        (row["kind"], row["n"]) for row in sweep_written.values("request_id", "kind").annotate(n=Count("id"))
    )
    assert per_kind == {
        (Notification.Kind.ESCALATED, ESCALATED_NOTIFICATIONS_PER_REQUEST): len(request_ids),
        (Notification.Kind.ARRIVED, ARRIVALS_PER_REQUEST): len(request_ids),
    }
    to_rep = Counter(Notification.objects.filter(user=rep).values_list("request_id", "kind"))
    assert to_rep == {(pk, Notification.Kind.ESCALATED): 1 for pk in request_ids}


def test_breach_is_escalated_by_worker_and_beat_within_one_sweep(celery_processes, rep, policy):
    policy.sla_minutes = 1
    policy.save()
    celery_processes.worker("sla")
    beat = celery_processes.beat()
    celery_processes.wait_ready()

    # Filed 50 s ago (the worker and beat are up now): its one-minute deadline comes in about 10 s, not a
    # minute of waiting.
    request = exception_request_file(
        rep=rep,
        facts=facts(policy, customer_ref="W-1", amount=Decimal("300")),
        now=timezone.now() - timedelta(seconds=50),
    )
    due_at: datetime = request.due_at
    assert due_at > timezone.now(), "filed too long ago: the deadline has already passed"
    assert request.status == Status.PENDING
    assert due_at == request.filed_at + timedelta(minutes=1)

    # Nobody runs a sweep here: beat sends one every SWEEP_SECONDS, the worker runs it. The
    # bound itself is checked on the recorded time below; polling only needs to outlast it.
    limit = (due_at + ESCALATION_SLACK - timezone.now()).total_seconds() + 2

    def escalated() -> bool:
        request.refresh_from_db()
        return request.status == Status.ESCALATED

    wait_until(escalated, timeout=limit, what="the breach to be escalated", watch=celery_processes.started)

    record = request.history.get(history_change_reason="SLA breach: escalated to level 2")
    latency = record.history_date - due_at
    print(f"escalated {latency.total_seconds():.1f} s after the deadline (sweep every {SWEEP_SECONDS} s)")
    assert timedelta(0) <= latency <= ESCALATION_SLACK
    assert record.history_user.username == settings.SYSTEM_USERNAME
    assert (request.approval_level, request.breached_level) == (2, 1)
    assert list(request.escalations.values_list("from_level", "to_level")) == [(1, 2)]
    assert beat.alive


def test_two_workers_and_concurrent_sweeps_escalate_each_request_once(celery_processes, rep, policy):
    request_ids = file_overdue_requests(rep, policy, 300)
    workers = [celery_processes.worker("first"), celery_processes.worker("second")]
    celery_processes.wait_ready()

    # Several sweeps at once, as a slow beat tick, a redelivered message or a second beat would send.
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    try:
        sweep_ids = [enforce_sla.delay().id for _ in range(6)]
    finally:
        app.conf.task_always_eager = eager

    def finished(task_id: str) -> bool:
        return re.search(rf"\[{task_id}\] (succeeded|raised|failed)", celery_processes.logs()) is not None

    wait_until(lambda: all(map(finished, sweep_ids)), timeout=240, what="the six sweeps", watch=workers)
    ran = {process.name: sum(f"[{task_id}] succeeded" in process.log() for task_id in sweep_ids) for process in workers}
    print(f"sweeps run per worker: {ran}")
    assert sum(ran.values()) == len(sweep_ids)
    assert_escalated_exactly_once(request_ids, rep=rep, logs=celery_processes.logs())


def test_worker_killed_mid_sweep_loses_no_escalation(celery_processes, rep, policy):
    request_ids = copy_overdue_request(rep, policy, 1500)
    # Small batches: a long sweep of many short transactions, so that the kill lands inside it.
    batch = {"SLA_SWEEP_BATCH_SIZE": "50"}
    celery_processes.beat()
    doomed = celery_processes.worker("doomed", **batch)
    celery_processes.wait_ready()

    wait_until(
        lambda: level_one_escalations() > 0, timeout=60, interval=0.02, what="the sweep to begin", watch=[doomed]
    )
    doomed.kill()
    at_kill = level_one_escalations()
    print(f"killed the worker with {at_kill} of {len(request_ids)} requests escalated")
    assert 0 < at_kill < len(request_ids), "the sweep finished before the kill: copy more requests"

    # No message brings the lost sweep back (the filesystem broker deleted it on delivery,
    # Redis holds it for an hour): beat's next tick does the rest.
    replacement = celery_processes.worker("replacement", **batch)
    wait_until(
        lambda: level_one_escalations() >= len(request_ids),
        timeout=90,
        what="the replacement worker to finish the sweep",
        watch=[replacement],
    )
    assert_escalated_exactly_once(request_ids, rep=rep, logs=celery_processes.logs())
