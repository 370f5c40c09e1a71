"""Real Celery workers and beat as subprocesses of a test, on the test's database and broker.

Shared by the worker integration tests and the browser tests: each process runs in its own
process group, writes a log file, and is always stopped (SIGKILL as the last resort) before the
transactional teardown flushes the tables under it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu.exceptions import OperationalError as BrokerUnavailable

from exceptions_portal.celery import app, coalesced_forget
from tests.conftest import IN_CI

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


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

    def worker(self, name: str, *, pool: str | None = None, **extra_env: str) -> CeleryProcess:
        args = ["worker", "--loglevel=INFO", "--concurrency=1", "-n", f"{name}@%h"]
        if pool:
            args.append(f"--pool={pool}")
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
    if connection.vendor == "sqlite":
        if not name or ":memory:" in str(name) or "mode=memory" in str(name):
            pytest.fail(f"the SQLite test database must be a file that a worker can open, not {name!r}")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor != "postgresql":
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
    # The review checks and email flushes this process queued are gone with the messages: the next commit
    # queues its own.
    coalesced_forget()


@contextlib.contextmanager
def celery_subprocesses(tmp_path: Path, *, sweep_seconds: int) -> Iterator[CeleryProcesses]:
    """Purge the broker, then start processes on demand; stop, report and purge at the end.
    A broker that cannot be reached fails the test under CI and skips it elsewhere."""
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
        "SLA_SWEEP_SECONDS": str(sweep_seconds),
        "EMAIL_URL": "memorymail://",
        "PYTHONUNBUFFERED": "1",
    }
    # Set for Playwright's event loop in the browser tests; the worker has no such loop.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    processes = CeleryProcesses(tmp_path, env)
    try:
        yield processes
    finally:
        processes.stop_all()
        # Shown by pytest only when the test failed.
        processes.report()
        with contextlib.suppress(BrokerUnavailable, OSError):
            purge_broker()
