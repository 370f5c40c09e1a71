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

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable
from simple_history.utils import bulk_create_with_history

from exceptions_portal.celery import app
from policies.models import Policy
from requests.models import Escalation, ExceptionRequest, Notification, Status
from requests.services import exception_request_file
from requests.tasks import enforce_sla
from tests.conftest import IN_CI, facts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Beat's interval in the subprocesses. Short so that the suite stays quick; the
# latency bound below is stated in terms of it.
SWEEP_SECONDS = 5
# The bound: a breach is escalated within one sweep interval plus 10 s of its deadline.
ESCALATION_SLACK = timedelta(seconds=SWEEP_SECONDS + 10)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
# What a level-1 breach tells: manager_low and manager_high (level 1), director (level 2), the rep.
ESCALATED_NOTIFICATIONS_PER_REQUEST = 4


class CeleryProcess:
    """One `celery` subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path, ready_line: re.Pattern) -> None:
        self.name = name
        self.log_path = log_path
        self.ready_line = ready_line
        self.stop_signal = signal.SIGQUIT if args[0] == "worker" else signal.SIGTERM
        self._log_file = log_path.open("wb")
        # Its own session, so that the whole group (the worker and its pool children)
        # can be signalled at once and none outlives the test.
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "exceptions_portal", *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: a crash, no warm shutdown, no acks."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)

    def terminate(self) -> None:
        # The main process only, which stops its pool children itself. A worker gets a cold
        # shutdown (SIGQUIT): the test is over, a task still emailing notifications need not finish.
        if self.alive:
            self.popen.send_signal(self.stop_signal)

    def stop(self) -> None:
        try:
            self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT)
        # Pool children left behind by a main process that died first.
        self.signal_group(signal.SIGKILL)
        self._log_file.close()


class CeleryProcesses:
    """Starts worker and beat subprocesses for one test; the fixture stops every one of them."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.started: list[CeleryProcess] = []

    def worker(self, name: str, **extra_env: str) -> CeleryProcess:
        args = ["worker", "--loglevel=INFO", "--concurrency=1", "-n", f"{name}@%h"]
        # As in the Procfile: the filesystem broker has no use for gossip, mingle or heartbeats.
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return self._start(name, args, extra_env, ready_line=re.compile(rf"{name}@\S+ ready\."))

    def beat(self, **extra_env: str) -> CeleryProcess:
        schedule = self.tmp_path / "celerybeat-schedule"
        args = ["beat", "--loglevel=INFO", f"--schedule={schedule}"]
        return self._start("beat", args, extra_env, ready_line=re.compile(r"beat: Starting\.\.\."))

    def _start(self, name: str, args: list[str], extra_env: dict[str, str], *, ready_line: re.Pattern) -> CeleryProcess:
        log_path = self.tmp_path / f"{len(self.started)}-{name}.log"
        process = CeleryProcess(name, args, {**self.env, **extra_env}, log_path, ready_line)
        self.started.append(process)
        return process

    def wait_ready(self) -> None:
        """Wait for every process started so far; they boot side by side."""
        for process in self.started:
            wait_until(
                lambda p=process: p.ready_line.search(p.log()) is not None,
                timeout=READY_TIMEOUT,
                what=f"{process.name} to start",
                watch=[process],
            )

    def logs(self) -> str:
        return "\n".join(process.log() for process in self.started)

    def report(self) -> None:
        for process in self.started:
            lines = process.log().splitlines()
            print(f"\n----- {process.name} (exit {process.popen.returncode}), last {min(len(lines), 150)} lines -----")
            print("\n".join(lines[-150:]))

    def stop_all(self) -> None:
        for process in self.started:
            process.terminate()
        for process in self.started:
            process.stop()


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    watch: Sequence[CeleryProcess] = (),
) -> None:
    """Poll ``condition``; fail at once if a watched process died, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process in watch:
            if not process.alive:
                pytest.fail(f"{process.name} exited ({process.popen.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def subprocess_database_url() -> str:
    """The test database as a DATABASE_URL; during a test, settings_dict already names it."""
    db = connection.settings_dict
    name = db["NAME"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        if not name or ":memory:" in str(name) or "mode=memory" in str(name):
            pytest.fail(f"the SQLite test database must be a file that a worker can open, not {name!r}")
        return f"sqlite:///{Path(name).resolve()}"
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail(f"no DATABASE_URL scheme known for {db['ENGINE']}")
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    # A socket directory as the host is written percent-encoded.
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(name, safe='')}"


def purge_broker() -> None:
    """Drop messages left by earlier runs (a killed worker's sweep, emails for rows long flushed)."""
    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1)
        app.control.purge(connection=broker)
        channel = broker.default_channel
        # Redis keeps a killed worker's unacknowledged message aside and redelivers it after
        # the visibility timeout (an hour), which could land in the middle of a later run.
        if broker.transport.driver_type == "redis":
            channel.client.delete(channel.unacked_key, channel.unacked_index_key)


@pytest.fixture
def celery_processes(transactional_db, tmp_path: Path) -> Iterator[CeleryProcesses]:
    try:
        purge_broker()
    except (BrokerUnavailable, OSError) as exc:
        message = f"broker {settings.CELERY_BROKER_URL} unavailable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exceptions_portal.settings",
        "DATABASE_URL": subprocess_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        # The filesystem broker's folders are under VAR_DIR: the same for both sides.
        "VAR_DIR": str(settings.VAR_DIR),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "SLA_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "EMAIL_URL": "memorymail://",
        "PYTHONUNBUFFERED": "1",
    }
    processes = CeleryProcesses(tmp_path, env)
    try:
        yield processes
    finally:
        # Stopped before the transactional teardown flushes the tables under them.
        processes.stop_all()
        # Shown by pytest only when the test failed.
        processes.report()
        with contextlib.suppress(BrokerUnavailable, OSError):
            purge_broker()


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
    per_kind = Counter(
        (row["kind"], row["n"]) for row in Notification.objects.values("request_id", "kind").annotate(n=Count("id"))
    )
    assert per_kind == {(Notification.Kind.ESCALATED, ESCALATED_NOTIFICATIONS_PER_REQUEST): len(request_ids)}
    to_rep = Counter(Notification.objects.filter(user=rep).values_list("request_id", "kind"))
    assert to_rep == {(pk, Notification.Kind.ESCALATED): 1 for pk in request_ids}


def test_breach_is_escalated_by_worker_and_beat_within_one_sweep(celery_processes, rep, policy):
    policy.sla_minutes = 1
    policy.save()
    celery_processes.worker("sla")
    beat = celery_processes.beat()
    celery_processes.wait_ready()

    request = exception_request_file(rep=rep, facts=facts(policy, customer_ref="W-1", amount=Decimal("300")))
    due_at: datetime = request.due_at
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

    wait_until(lambda: all(map(finished, sweep_ids)), timeout=90, what="the six sweeps", watch=workers)
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
