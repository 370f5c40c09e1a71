"""Small helpers several service modules share (not re-exported: callers use the services)."""

from __future__ import annotations

import time
from datetime import datetime

from django.db import transaction

from exceptions_portal.celery import task_named
from policies.models import Policy
from requests.models import ExceptionRequest
from requests.services.timers import sla_checks_schedule

# Grants come in bursts (a busy policy is granted many times a second), and one review check counts every grant
# of the policy committed before it runs. So a check queued by this process runs REVIEW_CHECK_DELAY after it was
# queued, and the grants this process commits until then join it instead of queueing their own. The margin:
# the worker runs it by its own clock, which may be a little ahead of this one. The nightly sweep is the
# backstop of every check (policies.insights.review).
REVIEW_CHECK_DELAY = 1.0
REVIEW_CHECK_CLOCK_MARGIN = 0.25
# policy id -> when (time.time()) the check this process queued for it runs
_review_check_runs_at: dict[int, float] = {}


def check_review_on_commit(policy_id: int) -> None:
    """A grant may make the policy's pattern repeat: check it once the grant is committed (with the check this
    process has queued for the policy, when it runs after this commit)."""
    transaction.on_commit(lambda: _queue_review_check(policy_id))


def review_checks_forget() -> None:
    """The queued checks are gone (the broker was emptied): the next grant of each policy queues its own."""
    _review_check_runs_at.clear()


def _queue_review_check(policy_id: int) -> None:
    task = task_named("policies.tasks.check_policy_review")
    if task.app.conf.task_always_eager:
        task.delay(policy_id)  # runs here and now: there is no queued check to join
        return
    now = time.time()
    if _review_check_runs_at.get(policy_id, 0.0) > now + REVIEW_CHECK_CLOCK_MARGIN:
        return  # the check queued for this policy runs after this commit, and counts this grant
    _review_check_runs_at[policy_id] = now + REVIEW_CHECK_DELAY
    task.apply_async((policy_id,), countdown=REVIEW_CHECK_DELAY)


def policy_version(policy: Policy) -> int | None:
    if hasattr(policy, "latest_history_id"):  # read with the policy's rules (policy_with_rules)
        return policy.latest_history_id
    return policy.history.order_by("-history_id").values_list("history_id", flat=True).first()


def check_sla_on_time(request: ExceptionRequest, *, now: datetime) -> None:
    """A deadline or reminder set or moved to before the next sweep gets a precise check at that moment."""
    remind_at = request.remind_at if request.reminder_sent_at is None else None
    sla_checks_schedule([request.due_at, remind_at], now=now)
