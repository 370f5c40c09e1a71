"""Queue Celery tasks by name once the transaction commits.

Services and notifications enqueue work here instead of importing the task modules, which import the
services: the cycle ``services → tasks → services`` is broken, and a task is looked up in Celery's
registry only when it is queued.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from celery import current_app
from django.db import transaction


def task(task_name: str):
    """The registered task ``module.name``; its module is imported on first use (Celery's autodiscovery
    is lazy outside a worker)."""
    if task_name not in current_app.tasks:
        import_module(task_name.rsplit(".", 1)[0])
    return current_app.tasks[task_name]


def enqueue_on_commit(task_name: str, *args: Any) -> None:
    """``task_name.delay(*args)`` after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task(task_name).delay(*args))
