"""The Celery app. Tasks live in ``<app>/tasks.py`` (found by autodiscovery) and ``policies/insights/tasks.py``
(settings ``CELERY_IMPORTS``); the schedule is in settings.

One rule keeps services and tasks free of import cycles: a task module imports the services it calls, and a
service never imports a task module; it enqueues a task by its pinned name (``name=`` on every task, also what
beat and queued messages carry) with ``enqueue_on_commit``.
"""

import os
import threading

from celery import Celery
from celery.app.task import Task
from django.db import transaction
from kombu.transport import TRANSPORT_ALIASES

# The embedded default's broker writes messages atomically (see broker.py).
TRANSPORT_ALIASES["filesystem"] = "exceptions_portal.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exceptions_portal.settings")

app = Celery("exceptions_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# One thread at a time imports the tasks modules: a second thread would otherwise look a task up while the
# first is still registering them, and get NotRegistered (four filings at once in a fresh process).
_import_lock = threading.Lock()


def task_named(name: str) -> Task:
    """The registered task called ``name``; raises ``celery.exceptions.NotRegistered`` for an unknown name."""
    if name not in app.tasks:
        # Outside a worker, autodiscovery is lazy: import every app's tasks module once.
        with _import_lock:
            if name not in app.tasks:
                app.loader.import_default_modules()
    return app.tasks[name]


def enqueue_on_commit(name: str, *args: object) -> None:
    """Enqueue the task called ``name`` with ``args`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task_named(name).delay(*args))
