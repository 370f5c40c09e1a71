"""Celery tasks for learning from exceptions. Each is idempotent and safe to run twice.

Names are pinned (``name=``) as in ``requests/tasks.py``; tasks import services, never the other way round.
"""

from __future__ import annotations

from celery import shared_task

from policies import services


@shared_task(name="policies.tasks.check_policy_review", acks_late=True, soft_time_limit=60, time_limit=90)
def check_policy_review(policy_id: int) -> bool:
    """Right after a grant or an approval (enqueued on commit)."""
    return services.policy_review_check(policy_id=policy_id).raised


@shared_task(name="policies.tasks.nightly_review_sweep", acks_late=True, soft_time_limit=600, time_limit=660)
def nightly_review_sweep() -> int:
    return services.review_sweep()


@shared_task(name="policies.tasks.weekly_digest", acks_late=True, soft_time_limit=600, time_limit=660)
def weekly_digest() -> int:
    return services.weekly_digest_send()
