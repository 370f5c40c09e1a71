"""Small helpers several service modules share (not re-exported: callers use the services)."""

from __future__ import annotations

from datetime import datetime

from exceptions_portal.celery import enqueue_coalesced_on_commit
from policies.models import Policy
from requests.models import ExceptionRequest
from requests.services.timers import sla_checks_schedule

# A grant may make its policy's pattern repeat, and grants come in bursts: one check counts every grant of the
# policy committed before it runs, so the grants this process commits within a second join one check. The
# nightly sweep is the backstop of every check (policies.insights.review).
REVIEW_CHECK_DELAY = 1.0


def check_review_on_commit(policy_id: int) -> None:
    """Check the policy's pattern once the grant is committed (with the check this process queued, when it
    runs after this commit)."""
    enqueue_coalesced_on_commit("policies.tasks.check_policy_review", policy_id, delay=REVIEW_CHECK_DELAY)


def policy_version(policy: Policy) -> int | None:
    if hasattr(policy, "latest_history_id"):  # read with the policy's rules (policy_with_rules)
        return policy.latest_history_id
    return policy.history.order_by("-history_id").values_list("history_id", flat=True).first()


def check_sla_on_time(request: ExceptionRequest, *, now: datetime) -> None:
    """A deadline or reminder set or moved to before the next sweep gets a precise check at that moment."""
    remind_at = request.remind_at if request.reminder_sent_at is None else None
    sla_checks_schedule([request.due_at, remind_at], now=now)
