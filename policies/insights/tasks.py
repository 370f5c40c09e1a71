"""Celery tasks for learning from exceptions. Each is idempotent and safe to run twice.

Names are pinned (``name=``) as in ``requests/tasks.py``, and kept from when this module was ``policies.tasks``:
beat and queued messages carry them. Tasks import services, never the other way round; the requests enqueue
``policies.tasks.check_policy_review`` by name. Registered through ``CELERY_IMPORTS`` (settings): this is not an
app's own ``tasks`` module, which autodiscovery would find.
"""

from __future__ import annotations

from celery import shared_task

from policies.insights import digest, review


@shared_task(name="policies.tasks.check_policy_review", acks_late=True, soft_time_limit=60, time_limit=90)
def check_policy_review(policy_id: int) -> bool:
    """Right after a grant or an approval (enqueued on commit)."""
    return review.policy_review_check(policy_id=policy_id).raised


@shared_task(name="policies.tasks.nightly_review_sweep", acks_late=True, soft_time_limit=600, time_limit=660)
def nightly_review_sweep() -> int:
    return review.review_sweep()


@shared_task(name="policies.tasks.weekly_digest", acks_late=True, soft_time_limit=600, time_limit=660)
def weekly_digest() -> int:
    return digest.weekly_digest_send()
