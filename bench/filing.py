"""Filing throughput: the portal's filing POST against a bare Django INSERT, side by side, on gunicorn + PostgreSQL.

Usage (from the project root; needs PostgreSQL, Redis for the portal's on-commit tasks, and Debian's ``wrk``):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/filing.py                  # 3 alternating rounds of 8 s per target
    ... bench/filing.py --rounds 1 --duration 4           # a quick look

Four targets, each served by its own gunicorn (2 sync workers, DEBUG off) on the same bench database:

- ``bare anonymous``: ``bench/bare`` (the smallest Django project), a view doing one INSERT, no session;
- ``bare login+CSRF``: the same view behind ``login_required`` and the CSRF check, with the rep's session;
- ``portal granted``: ``POST /requests/new/`` as the rep, tier 1 (granted at once), a fresh customer each time;
- ``portal pending``: the same with an amount that needs an approver (pending at level 1).

wrk (2 threads, 8 connections, ``--duration`` s) runs the targets in turn, ``--rounds`` times (alternating,
so that a change in the machine's load hits every target alike); the script prints requests/s, p50/p99
latency, the SQL statements of one filing (counted in-process with the same settings), the ratios to the
bare INSERT, and checks that the rows filed equal the requests wrk counted (up to the 8 requests still in
flight when wrk stops). It prints figures, it asserts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from decimal import Decimal  # noqa: E402

from bench._common import BenchDatabase, engine_name, progress, setup_django  # noqa: E402

PORTAL_PORT, BARE_PORT = 8140, 8141
CSRF_SECRET = "benchcsrfsecretbenchcsrfsecret12"  # 32 characters: Django accepts it unmasked as the token
BARE_BACKEND = "django.contrib.auth.backends.ModelBackend"  # the bare project's (Django's default)

FIELDS = {
    "customer_name": "Wrk Customer",
    "sentiment": "unhappy",
    "cause": "our_mistake",
    "situation": "Jacket returned 40 days after delivery; the tracking email never arrived.",
    "resolution_requested": "Full refund of the jacket.",
    "business_days": "0",
    "alternative_offered": "Store credit for the full amount.",
    "corrective_action": "Check the shipping-notice emails are sent for every carrier.",
    "csrfmiddlewaretoken": CSRF_SECRET,
}

LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = "{tag}-" .. tid .. "-"
end
request = function()
  counter = counter + 1
  local body = "customer_ref=" .. prefix .. counter .. "&{body}"
  return wrk.format("POST", "{path}", {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "{cookie}",
  }}, body)
end
"""


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    path: str
    amount: str
    logged_in: bool


TARGETS = [
    Target("bare anonymous", BARE_PORT, "/anonymous/", "20.00", False),
    Target("bare login+CSRF", BARE_PORT, "/login/", "20.00", True),
    Target("portal granted", PORTAL_PORT, "/requests/new/", "20.00", True),
    Target("portal pending", PORTAL_PORT, "/requests/new/", "300.00", True),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of untimed load per target first (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and VAR_DIR afterwards")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    database = setup_django(label="bench-filing", keep=args.keep)
    try:
        from django.db import connection

        if connection.vendor != "postgresql":
            raise SystemExit("bench/filing.py measures gunicorn + PostgreSQL: set DATABASE_URL=postgres://...")
        run(args, database)
    finally:
        database.cleanup()


def seed() -> tuple:
    """A rep, one policy with the test suite's tiers, level-1 approvers who may approve 300.00."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from exceptions_portal import roles
    from policies.models import ApproverLevel, ExceptionTier, Policy, ProblemType

    User = get_user_model()
    rep = User.objects.create(username="rep1", first_name="Rep", last_name="Bench")
    rep.groups.add(Group.objects.get(name=roles.REPS))
    manager = User.objects.create(username="manager1", first_name="Manager", last_name="Bench")
    manager.groups.add(Group.objects.get(name=roles.APPROVERS))
    problem_type = ProblemType.objects.create(name="Returns", slug="returns")
    policy = Policy(
        name="Return window",
        slug="return-window",
        problem_type=problem_type,
        statement="Items can be returned within 30 days.",
        rationale="Returned items must be resold as new.",
        sla_minutes=120,
    )
    policy._history_user = rep
    policy.save()
    tiers = [
        (1, "", ["amazed", "happy", "neutral", "unhappy", "deeply_unhappy"], "50.00", 5, 0),
        (2, "reward", ["amazed", "happy"], "250.00", 15, 0),
        (2, "save", ["neutral", "unhappy"], "250.00", 15, 1),
        (3, "", ["unhappy", "deeply_unhappy"], "1500.00", 60, 1),
    ]
    for level, kind, sentiments, cap, days, supplier in tiers:
        ExceptionTier.objects.create(
            policy=policy,
            level=level,
            kind=kind,
            description=f"tier {level} {kind}",
            sentiments=sentiments,
            money_cap=Decimal(cap),
            max_business_days=days,
            supplier_exceptions_allowed=supplier,
        )
    ApproverLevel.objects.create(policy=policy, level=1, user=manager, money_authority=Decimal("2500"))
    return rep, policy


def session_cookie(rep, *, backend: str | None = None) -> str:
    """The rep signed in: through the portal's backend, or ``backend`` (the bare project lists Django's own)."""
    from django.test import Client

    client = Client()
    client.force_login(rep, backend=backend)
    return f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}"


def body(target: Target, policy_id: int) -> str:
    from urllib.parse import urlencode

    return urlencode({**FIELDS, "policy": str(policy_id), "amount": target.amount})


COUNT_SCRIPT = """
import os, sys
sys.path.insert(0, os.environ["BENCH_ROOT"])
import django
django.setup()
from django.conf import settings
settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(enforce_csrf_checks=True)
for part in filter(None, os.environ["BENCH_COOKIE"].split("; ")):
    name, value = part.split("=", 1)
    client.cookies[name] = value
# The second filing of the process is counted: the first also reads what a worker keeps (the policy's rules).
for ref in (os.environ["BENCH_TAG"] + "-first", os.environ["BENCH_TAG"] + "-second"):
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            os.environ["BENCH_PATH"],
            data=f"customer_ref={ref}&" + os.environ["BENCH_BODY"],
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 302, (response.status_code, response.content[:3000])
print(len(captured.captured_queries))
"""


def statements_per_filing(target: Target, *, policy_id: int, cookie: str, database: BenchDatabase) -> int:
    """One POST, in a process with the target's settings, its SQL statements counted."""
    env = {
        **_env(target, database),
        "BENCH_ROOT": str(ROOT),
        "BENCH_COOKIE": cookie if target.logged_in else "",
        "BENCH_PATH": target.path,
        "BENCH_BODY": body(target, policy_id),
        "BENCH_TAG": f"count-{target.port}-{target.amount}-{int(target.logged_in)}",
    }
    result = subprocess.run(
        [sys.executable, "-c", COUNT_SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if result.returncode:
        raise SystemExit(f"counting statements for {target.name} failed:\n{result.stderr[-3000:]}")
    return int(result.stdout.strip().splitlines()[-1])


def _env(target: Target, database: BenchDatabase) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database.url, "VAR_DIR": str(database.var_dir), "DEBUG": "false"}
    if target.port == BARE_PORT:
        env["DJANGO_SETTINGS_MODULE"] = "bench.bare.settings"
    return env


def start_gunicorn(target: Target, database: BenchDatabase) -> subprocess.Popen:
    module = "bench.bare.wsgi" if target.port == BARE_PORT else "exceptions_portal.wsgi"
    log = (database.var_dir / f"gunicorn-{target.port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", module, "--workers", "2", "--bind", f"127.0.0.1:{target.port}"],
        cwd=ROOT,
        env=_env(target, database),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{target.port}/", timeout=1)
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            time.sleep(0.2)
            continue
        break
    else:
        raise SystemExit(f"gunicorn on port {target.port} did not start; see {database.var_dir}")
    progress(f"gunicorn {module} on port {target.port} (pid {process.pid})")
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def rows_filed(target: Target) -> int:
    from django.db import connection

    table = "bench_bare_filing" if target.port == BARE_PORT else "requests_exceptionrequest"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def wrk(target: Target, *, script: Path, duration: int) -> dict:
    output = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{duration}s", "--latency", "-s", str(script), f"http://127.0.0.1:{target.port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "requests": requests,
        "rate": rate,
        "p50": latency("50"),
        "p99": latency("99"),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors.group(1) if errors else "",
    }


def run(args: argparse.Namespace, database: BenchDatabase) -> None:
    from django.db import connection

    from bench.bare.views import CREATE_TABLE

    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
    rep, policy = seed()
    cookies = {PORTAL_PORT: session_cookie(rep), BARE_PORT: session_cookie(rep, backend=BARE_BACKEND)}
    engine = engine_name()
    print(f"Filing benchmark on {engine}, gunicorn 2 sync workers, wrk 2 threads 8 connections {args.duration} s")

    statements = {
        target.name: statements_per_filing(target, policy_id=policy.pk, cookie=cookies[target.port], database=database)
        for target in TARGETS
    }
    servers = [start_gunicorn(TARGETS[0], database), start_gunicorn(TARGETS[2], database)]
    results: dict[str, list[dict]] = {target.name: [] for target in TARGETS}
    try:
        for round_number in range(0 if args.warmup else 1, args.rounds + 1):
            for target in TARGETS:
                tag = f"r{round_number}-{target.name.split()[-1].replace('+', '')}"
                script = database.var_dir / f"{tag}.lua"
                script.write_text(
                    LUA.format(
                        tag=tag,
                        body=body(target, policy.pk),
                        path=target.path,
                        cookie=cookies[target.port] if target.logged_in else "",
                    )
                )
                before = rows_filed(target)
                figures = wrk(target, script=script, duration=args.warmup if round_number == 0 else args.duration)
                # The requests still in flight when wrk stopped: let them finish before counting rows.
                time.sleep(max(0.5, 2 * figures["p99"] / 1000))
                if round_number == 0:
                    continue  # warm-up: each gunicorn worker has imported and connected
                figures["rows"] = rows_filed(target) - before
                results[target.name].append(figures)
                progress(
                    f"round {round_number} {target.name:>16}: {figures['rate']:8.1f} req/s, p50 {figures['p50']:.1f} ms, "
                    f"p99 {figures['p99']:.1f} ms, {figures['requests']} requests, {figures['rows']} rows, "
                    f"{figures['bad']} non-2xx/3xx {figures['errors']}"
                )
    finally:
        for server in servers:
            stop(server)
        from exceptions_portal.celery import app

        # The grants queued a review check each (on commit): nobody consumes them here.
        purged = app.control.purge()
        progress(f"Purged {purged} queued task(s) from the broker")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    anonymous, logged_in = median("bare anonymous", "rate"), median("bare login+CSRF", "rate")
    print(f"\n### Filing throughput ({engine}, gunicorn 2 sync workers, wrk -t2 -c8 -d{args.duration}s)\n")
    print(
        "| target | req/s (median of rounds) | rounds | p50 (ms) | p99 (ms) | SQL statements per filing "
        "| × bare anonymous | × bare login+CSRF | rows filed / requests counted |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for target in TARGETS:
        rate = median(target.name, "rate")
        rounds = ", ".join(f"{r['rate']:.0f}" for r in results[target.name])
        rows = sum(r["rows"] for r in results[target.name])
        counted = sum(r["requests"] for r in results[target.name])
        bad = sum(r["bad"] for r in results[target.name])
        print(
            f"| {target.name} | {rate:,.0f} | {rounds} | {median(target.name, 'p50'):.1f} "
            f"| {median(target.name, 'p99'):.1f} | {statements[target.name]} | {rate / anonymous:.2f}× "
            f"| {rate / logged_in:.2f}× | {rows:,} / {counted:,}{f' ({bad} non-2xx/3xx)' if bad else ''} |"
        )
    print(
        "\nRows filed / requests counted: rows added to the table during the runs against the responses wrk "
        "counted; wrk stops each run with up to 8 requests in flight, which the server still files. "
        "Targets: portal ≥ 0.25× bare anonymous and ≥ 0.5× bare login+CSRF, granted and pending."
    )


if __name__ == "__main__":
    main()
