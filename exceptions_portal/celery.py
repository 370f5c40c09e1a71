"""The Celery app. Tasks live in ``<app>/tasks.py`` (found by autodiscovery) and ``policies/insights/tasks.py``
(settings ``CELERY_IMPORTS``); the schedule is in settings.

One rule keeps services and tasks free of import cycles: a task module imports the services it calls, and a
service never imports a task module; it enqueues a task by its pinned name (``name=`` on every task, also what
beat and queued messages carry) with ``enqueue_on_commit``.
"""

import os
import threading
import time

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


# Tasks that act on everything committed before they run, not on a list in their arguments (a policy's review
# check counts all its grants, the email flush sends every notification not yet sent), come in bursts: a task
# this process queued runs a moment after it was queued, and what this process commits until then joins it
# instead of queueing its own. The margin: the worker runs it by its own clock, which may be a little ahead.
COALESCE_CLOCK_MARGIN = 0.25
# (task name, arguments) -> when (time.time()) the task this process queued runs
_coalesced_runs_at: dict[tuple[str, tuple], float] = {}


def enqueue_coalesced_on_commit(name: str, *args: object, delay: float) -> None:
    """Once the current transaction commits, enqueue the task called ``name`` with ``args`` to run ``delay``
    seconds later, unless the one this process queued with the same arguments still runs after this commit.
    Eager mode (tests) runs it at once. A task lost with its broker is the task's backstop's (a periodic job)."""
    transaction.on_commit(lambda: _enqueue_coalesced(name, args, delay))


def coalesced_forget() -> None:
    """The queued tasks are gone (the broker was emptied): the next commit queues its own."""
    _coalesced_runs_at.clear()


def _enqueue_coalesced(name: str, args: tuple, delay: float) -> None:
    now = time.time()
    if _coalesced_runs_at.get((name, args), 0.0) > now + COALESCE_CLOCK_MARGIN:
        return  # the task queued for these arguments runs after this commit, and sees it
    task = task_named(name)
    if task.app.conf.task_always_eager:
        task.delay(*args)  # runs here and now: there is no queued task to join (nor is one ever noted)
        return
    task.apply_async(args, countdown=delay)
    _coalesced_runs_at[(name, args)] = now + delay
