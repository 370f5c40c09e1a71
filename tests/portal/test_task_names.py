"""Celery task names are pinned: beat, queued messages and the services call tasks by these names.

Services never import task modules (tasks import services, see `exceptions_portal/celery.py`); they enqueue
with `enqueue_on_commit("<name>", ...)`, so a renamed or moved task must keep its `name=`, and this list says
which names exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from celery.exceptions import NotRegistered
from django.conf import settings

from exceptions_portal.celery import task_named

ROOT = Path(__file__).resolve().parents[2]
TASK_NAMES = [
    "requests.tasks.enforce_sla",
    "requests.tasks.send_notification_emails",
    "requests.tasks.send_new_emails",
    "requests.tasks.send_notification_email",
    "requests.tasks.resend_unsent_emails",
    "policies.tasks.check_policy_review",
    "policies.tasks.nightly_review_sweep",
    "policies.tasks.weekly_digest",
    "requests.tasks.deliver_webhook",
    "requests.tasks.deliver_webhooks",
    "requests.tasks.retry_webhook_deliveries",
    "requests.tasks.sla_check",
    "requests.tasks.send_digests",
    "requests.tasks.stand_ins_started",
    "requests.tasks.roll_up_requests",
]
# Modules whose tasks moved and kept their names (issue 17: the insights' tasks into policies/insights/).
MOVED = {"policies.tasks": "policies.insights.tasks"}


def enqueued_names() -> set[str]:
    """Every literal task name passed to enqueue_on_commit in the project's code."""
    names = set()
    for path in [*ROOT.glob("policies/**/*.py"), *ROOT.glob("requests/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            called = getattr(node.func, "id", "") if isinstance(node, ast.Call) else ""
            literal = bool(node.args) and isinstance(node.args[0], ast.Constant) if called else False
            if (
                called in ("enqueue_on_commit", "enqueue_coalesced_on_commit", "celery_enqueue_on_commit", "task_named")
                and literal
            ):
                names.add(node.args[0].value)
    return names


@pytest.mark.parametrize("name", TASK_NAMES)
def test_each_task_is_registered_under_its_pinned_name(name) -> None:
    task = task_named(name)
    assert task.name == name
    module, _, function = name.rpartition(".")
    assert task.run.__module__ == MOVED.get(module, module)
    assert task.run.__name__ == function


def test_beat_and_the_services_only_name_tasks_that_exist() -> None:
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    enqueued = enqueued_names()
    assert enqueued >= {
        "requests.tasks.send_notification_emails",
        "requests.tasks.send_new_emails",
        "policies.tasks.check_policy_review",
    }
    assert scheduled | enqueued <= set(TASK_NAMES)


def test_an_unknown_task_name_is_refused() -> None:
    with pytest.raises(NotRegistered):
        task_named("requests.tasks.no_such_task")
