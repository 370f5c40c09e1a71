"""How fast the SLA sweep escalates, and how late a breach is escalated by a real worker and beat.

Usage (from the project root):

    .venv/bin/python bench/sla.py                    # one sla_sweep() over 100,000 overdue requests (SQLite)
    .venv/bin/python bench/sla.py --count 20000      # fewer requests; --quick is 2,000
    .venv/bin/python bench/sla.py --latency          # worker + beat: breach-to-escalation latency
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/sla.py --latency      # PostgreSQL (database portal_bench) and Redis

Sweep mode seeds N requests pending at level 1 of 50 policies (two managers at level 1, a director at
level 2), all past their deadline by up to an hour, and times one ``sla_sweep()`` call: every request is
escalated to level 2 once, with its history row, its Escalation row and four notifications.

Latency mode starts ``celery -A exceptions_portal worker`` and ``celery -A exceptions_portal beat``
(SLA_SWEEP_SECONDS, default 30), files 200 requests whose deadlines fall over the next 10 minutes,
waits until all are escalated, and prints how long after its deadline each was escalated. Both
subprocesses are stopped (their whole process group) whatever happens.

The script prints figures, it asserts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as `python bench/sla.py`, Python puts bench/ first on sys.path, where bench/queue.py would shadow
# the standard library's `queue` module for Celery and kombu. Put the project root there instead.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

from bench._common import (  # noqa: E402
    BenchDatabase,
    QueryCounter,
    analyze,
    bulk_insert,
    engine_name,
    minutes,
    now_utc,
    pending_request,
    progress,
    seed_cast,
    setup_django,
)

SLA_MINUTES = 120


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, help="overdue requests for the sweep (default 100,000)")
    parser.add_argument(
        "--quick", action="store_true", help="2,000 requests; with --latency: 20 requests over 60 s, 10 s sweeps"
    )
    parser.add_argument("--batch-size", type=int, help="rows per sweep batch (default: SLA_SWEEP_BATCH_SIZE, 500)")
    parser.add_argument("--policies", type=int, default=50, help="policies the requests are spread over (default 50)")
    parser.add_argument("--profile", action="store_true", help="run the sweep under cProfile and print the top calls")
    parser.add_argument(
        "--latency", action="store_true", help="measure breach-to-escalation latency with worker + beat"
    )
    parser.add_argument("--requests", type=int, help="requests for --latency (default 200)")
    parser.add_argument("--interval", type=int, help="SLA_SWEEP_SECONDS for --latency (default: env or 30)")
    parser.add_argument("--lead", type=float, default=5.0, help="seconds until the first deadline (default 5)")
    parser.add_argument("--spread", type=float, help="seconds the deadlines are spread over (default 600)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and VAR_DIR afterwards")
    args = parser.parse_args()
    args.count = args.count or (2_000 if args.quick else 100_000)
    args.requests = args.requests or (20 if args.quick else 200)
    args.interval = args.interval or (10 if args.quick else int(os.environ.get("SLA_SWEEP_SECONDS") or 30))
    args.spread = args.spread if args.spread is not None else (60.0 if args.quick else 600.0)
    return args


def main() -> None:
    args = parse_args()
    # The sweep queues its notification emails on commit; in eager mode this process would send
    # hundreds of thousands of them inside the timing.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["SLA_SWEEP_SECONDS"] = str(args.interval)
    # A `kill` of the benchmark must still stop the worker and beat and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    database = setup_django(label="bench-sla", keep=args.keep)
    try:
        if args.latency:
            run_latency(args, database)
        else:
            run_sweep(args)
    finally:
        database.cleanup()


def overdue_requests(*, cast, count: int, rng: random.Random, start: int = 0, due_from=None, spread=None):
    """Pending at level 1, already reminded. By default past due by up to an hour: the new level-2
    deadline (breach + SLA) and reminder are then in the future, so one sweep escalates each exactly once."""
    now = now_utc()
    for i in range(count):
        # Spread evenly from due_from when given, so that deadlines fall across a whole sweep interval.
        step = i / max(count - 1, 1)
        due_at = now - timedelta(seconds=rng.uniform(1, 3600)) if due_from is None else due_from + spread * step
        filed_at = due_at - minutes(SLA_MINUTES)
        remind_at = filed_at + minutes(SLA_MINUTES * 0.75)
        yield pending_request(
            number=start + i,
            cast=cast,
            rng=rng,
            filed_at=filed_at,
            due_at=due_at,
            remind_at=remind_at,
            reminder_sent_at=remind_at,
        )


def table_counts() -> dict[str, int]:
    from requests.models import Escalation, ExceptionRequest, Notification

    return {
        "history": ExceptionRequest.history.count(),
        "notifications": Notification.objects.count(),
        "escalations": Escalation.objects.count(),
    }


def purge_broker() -> int:
    """Drop the queued email tasks from a real broker (a filesystem one goes with VAR_DIR)."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return 0
    from exceptions_portal.celery import app

    return app.control.purge() or 0


def run_sweep(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection

    from requests.escalation import sla_sweep
    from requests.models import ExceptionRequest, Status

    engine = engine_name()
    batch_size = args.batch_size or settings.SLA_SWEEP_BATCH_SIZE
    broker = settings.CELERY_BROKER_URL.split("://")[0]
    print(f"SLA sweep benchmark on {engine} (database {connection.settings_dict['NAME']}, broker {broker})")

    rng = random.Random(42)
    cast = seed_cast(policies=args.policies, sla_minutes=SLA_MINUTES)
    started = time.perf_counter()
    progress(f"Seeding {args.count:,} overdue requests ...")
    bulk_insert(
        overdue_requests(cast=cast, count=args.count, rng=rng),
        model=ExceptionRequest,
        on_chunk=lambda n: progress(f"  ... {n:,} rows"),
    )
    analyze()
    print(
        f"Seeded {args.count:,} overdue requests over {args.policies} policies in {time.perf_counter() - started:.1f} s"
    )

    before = table_counts()
    counter = QueryCounter()
    profiler = cProfile.Profile() if args.profile else None
    progress("Sweeping ...")
    with connection.execute_wrapper(counter):
        cpu_started = time.process_time()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = sla_sweep(batch_size=batch_size)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    after = table_counts()
    escalated = ExceptionRequest.objects.filter(status=Status.ESCALATED, approval_level=2).count()
    purged = purge_broker()

    batches = -(-len(report.escalated) // batch_size)
    history = after["history"] - before["history"]
    notifications = after["notifications"] - before["notifications"]
    escalation_rows = after["escalations"] - before["escalations"]
    rate = len(report.escalated) / elapsed if elapsed else 0.0
    print(f"Sweep report: {report}; {escalated:,} requests now escalated to level 2")
    print(
        f"{counter.count:,} SQL statements in {batches:,} batches of {batch_size} "
        f"({counter.count / max(batches, 1):.0f} per batch, {elapsed / max(batches, 1) * 1000:.0f} ms per batch)"
    )
    print(
        f"Time split: {counter.seconds:.1f} s inside cursor.execute (database and driver), "
        f"{elapsed - counter.seconds:.1f} s outside it (Django building objects and SQL); "
        f"this process used {cpu:.1f} s of CPU"
    )
    if purged:
        print(f"Purged {purged} queued email task(s) from the broker.")
    if profiler:
        print("\nTop calls by cumulative time (profiled run, slower than unprofiled):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)

    print(f"\n### SLA sweep, one `sla_sweep()` call ({engine})\n")
    print(
        "| Engine | Overdue requests | Batch size | Sweep time (s) | Escalations/s | History rows written "
        "| Notifications created | Escalation rows | SQL statements | In SQL (s) | Outside SQL (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {engine} | {args.count:,} | {batch_size} | {elapsed:.1f} | {rate:,.0f} | {history:,} "
        f"| {notifications:,} | {escalation_rows:,} | {counter.count:,} | {counter.seconds:.1f} | {elapsed - counter.seconds:.1f} |"
    )
    print(f"\nTarget: 100,000 escalations with history in under 60 s on PostgreSQL ({len(report.escalated):,} here).")


# Latency mode ---------------------------------------------------------------------------------


def start(name: str, command: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    # Its own session, so that stopping it ends the prefork children too (the whole process group).
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    progress(f"Started {name} (pid {process.pid}), log {log_path}")
    return process


def stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            progress(f"{name} did not stop on SIGTERM within 15 s: SIGKILL")
    # Children that outlived their parent (prefork pool processes) are in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        progress(f"{name} (pid {process.pid}) could not be reaped")
    progress(f"Stopped {name} (pid {process.pid}, exit {process.returncode})")


def wait_for_log(process: subprocess.Popen, log_path: Path, marker: str, *, name: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if marker in log_path.read_text(errors="replace"):
            return time.monotonic() - started
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    raise SystemExit(f"{name} not ready (exit {process.poll()}); last lines of {log_path}:\n{tail}")


def run_latency(args: argparse.Namespace, database: BenchDatabase) -> None:
    from django.conf import settings

    from requests.escalation import sla_checks_schedule, upcoming_moments
    from requests.models import Escalation, ExceptionRequest, Status

    engine = engine_name()
    broker_url = settings.CELERY_BROKER_URL
    broker = broker_url.split("://")[0]
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "VAR_DIR": str(database.var_dir),
        "CELERY_BROKER_URL": broker_url,
        "SLA_SWEEP_SECONDS": str(args.interval),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    print(f"SLA latency benchmark on {engine}, broker {broker}, sweep every {args.interval} s")

    rng = random.Random(42)
    cast = seed_cast(policies=args.policies, sla_minutes=SLA_MINUTES)
    purge_broker()
    celery = [sys.executable, "-m", "celery", "-A", "exceptions_portal"]
    worker_log, beat_log = database.var_dir / "worker.log", database.var_dir / "beat.log"
    processes: list[tuple[str, subprocess.Popen]] = []
    try:
        processes.append(
            (
                "worker",
                start(
                    "worker",
                    [
                        *celery,
                        "worker",
                        "--loglevel=INFO",
                        "--concurrency=2",
                        "--without-gossip",
                        "--without-mingle",
                        f"--hostname=bench-{os.getpid()}@%h",
                    ],
                    env=env,
                    log_path=worker_log,
                ),
            )
        )
        processes.append(
            (
                "beat",
                start(
                    "beat",
                    [*celery, "beat", "--loglevel=INFO", f"--schedule={database.var_dir / 'celerybeat-schedule'}"],
                    env=env,
                    log_path=beat_log,
                ),
            )
        )
        ready = wait_for_log(processes[0][1], worker_log, " ready.", name="worker", timeout=90)
        wait_for_log(processes[1][1], beat_log, "beat: Starting", name="beat", timeout=90)
        print(f"Worker ready after {ready:.1f} s")

        due_from = now_utc() + timedelta(seconds=args.lead)
        requests = list(
            overdue_requests(
                cast=cast, count=args.requests, rng=rng, due_from=due_from, spread=timedelta(seconds=args.spread)
            )
        )
        ExceptionRequest.objects.bulk_create(requests)
        # What filing does for a deadline before the next sweep (services._common.check_sla_on_time); the others
        # get their timer from the sweep before them.
        sla_checks_schedule(upcoming_moments(ExceptionRequest.objects.all(), now=now_utc()), now=now_utc())
        due = dict(ExceptionRequest.objects.values_list("pk", "due_at"))
        print(
            f"Filed {len(due)} requests due between +{args.lead:.0f} s and +{args.lead + args.spread:.0f} s; "
            "waiting for the sweeps ..."
        )

        seen: dict[int, float] = {}
        deadline = time.monotonic() + args.lead + args.spread + 2 * args.interval + 60
        while len(seen) < len(due) and time.monotonic() < deadline:
            for pk in ExceptionRequest.objects.filter(pk__in=due, status=Status.ESCALATED).values_list("pk", flat=True):
                seen.setdefault(pk, time.time())
            for name, process in processes:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited ({process.returncode}); see {database.var_dir}")
            time.sleep(0.1)
    finally:
        for name, process in reversed(processes):
            stop(process, name)
        purge_broker()

    # history_date is the sweep's own clock (the moment its batch started); Escalation.created_at is
    # when the escalation row was written, just before the transaction committed.
    swept: dict[int, float] = {}
    for record in (
        ExceptionRequest.history.filter(id__in=due, history_type="~", history_change_reason__startswith="SLA breach")
        .order_by("history_date")
        .values("id", "history_date")
    ):
        swept.setdefault(record["id"], (record["history_date"] - due[record["id"]]).total_seconds())
    written = {
        row["request_id"]: (row["created_at"] - due[row["request_id"]]).total_seconds()
        for row in Escalation.objects.filter(request_id__in=due).values("request_id", "created_at")
    }
    observed = {pk: seen[pk] - due[pk].timestamp() for pk in seen}
    sweeps = sorted({round(v + due[pk].timestamp(), 1) for pk, v in swept.items()})

    def summary(values: dict[int, float]) -> str:
        if not values:
            return "— | — | —"
        ordered = sorted(values.values())
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        return f"{statistics.median(ordered):.2f} | {p99:.2f} | {ordered[-1]:.2f}"

    print(f"Escalated {len(swept)} of {len(due)}; {len(sweeps)} distinct sweep start(s)")
    print(f"\n### SLA escalation latency, worker + beat ({engine}, {broker} broker)\n")
    print(
        f"{len(due)} requests due over {args.spread:.0f} s, sweep every {args.interval} s, seconds after the deadline:\n"
    )
    print("| measured at | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    print(f"| sweep started (history_date) | {summary(swept)} |")
    print(f"| escalation written, just before commit (Escalation.created_at) | {summary(written)} |")
    print(f"| seen committed by a poller (every 0.1 s) | {summary(observed)} |")
    p99 = sorted(written.values())[min(len(written) - 1, math.ceil(0.99 * len(written)) - 1)] if written else None
    met = bool(written) and len(written) == len(due) and p99 is not None and p99 <= 2.0
    escalations = Escalation.objects.filter(request_id__in=due).count()
    print(
        f"\nEscalation rows: {escalations} for {len(due)} requests (exactly one each: "
        f"{'yes' if escalations == len(due) == len(written) else 'NO'}). "
        f"Target: p99 deadline → escalation committed ≤ 2 s: {'met' if met else 'not met'}."
    )


if __name__ == "__main__":
    main()
