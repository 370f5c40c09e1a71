"""How the analysis page scales: render time, SQL queries and the slowest queries at 100,000 requests.

Usage (from the project root):

    .venv/bin/python bench/analysis.py                              # SQLite, 100,000 requests
    .venv/bin/python bench/analysis.py --count 10000 --repeat 3     # smaller and quicker
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/analysis.py [--count 1000000]
                                                                    # PostgreSQL, database portal_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/analysis.py --reuse
                                                                    # measure portal_bench again, as kept

The script works on its own throwaway database, never on the developer's (``bench/_common.py``): a SQLite
file in a fresh directory under ``$VAR_DIR`` (or the system's temporary directory), or on PostgreSQL a
separate database ``<name>_bench`` created and dropped through the server's ``postgres`` database.

It seeds 50 policies over 7 problem types (four tiers, two approval levels each), reps, approvers, a policy
admin, 2,000 customers and ``--count`` exception requests filed over the last 365 days with a mix of tiers,
causes, statuses, decision times and SLA breaches (with their escalation trail), and a few review flags.
It runs the analysis' catch-up job (the beat's ``requests.tasks.roll_up_requests``) until every final
request is in the daily rollups and prints its speed (requests/s). ``--reuse`` skips the seeding and
measures a database an earlier ``--keep`` run left, rolling up whatever is not rolled up yet. Then, logged
in as the policy admin, it renders GET /policies/analysis/?period=365 through the test client and prints
the median render time, the SQL query count, the slowest queries, and the time of the CSV export of the
requests, then exports again in a process of its own (DEBUG off) and prints that process's peak RSS
before and after the export (constant memory: the rows stream through a server-side cursor). On PostgreSQL
the requests are written by COPY (``--count 1000000`` seeds in minutes). It prints figures, it asserts
nothing. The people, policies and requests are its own (tiers, reps, decisions and breaches that the other
benchmarks do not need); the database set-up is shared.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as `python bench/analysis.py`, Python puts bench/ first on sys.path, where bench/queue.py would
# shadow the standard library's `queue` module for everything imported later (Celery, kombu). Put the
# project root there instead, before any other import.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from itertools import accumulate  # noqa: E402
from typing import Any  # noqa: E402

from bench._common import engine_name, progress, setup_django  # noqa: E402

PAGE_URL = "/policies/analysis/?period=365"
EXPORT_URL = "/policies/analysis/?period=365&export=requests"
TARGET_SECONDS = 1.0
# DEBUG on unless set: it records every query, which is what the per-query timings come from (it also
# adds a little overhead to every query). bench/_common.py sets the other defaults.
DEBUG_DEFAULT = "true"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="exception requests to seed (default 100,000)")
    parser.add_argument("--policies", type=int, default=50, help="policies (default 50)")
    parser.add_argument("--customers", type=int, default=2_000, help="customers (default 2,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed renders of the page after 1 warm-up (default 5)")
    parser.add_argument("--export-repeat", type=int, default=1, help="timed CSV exports (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data (default 7)")
    parser.add_argument("--explain", action="store_true", help="print the plan of the slowest query")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and its directory afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the bench database an earlier --keep run left (PostgreSQL: <name>_bench; SQLite: the "
        "DATABASE_URL=sqlite:///… file) with its rows: no seeding, nothing dropped (implies --keep)",
    )
    args = parser.parse_args()
    if args.count < 1 or args.policies < 1 or args.customers < 1 or args.repeat < 1 or args.export_repeat < 1:
        parser.error("--count, --policies, --customers, --repeat and --export-repeat must be at least 1")
    return args


# --- The data ---------------------------------------------------------------------------------------

PROBLEM_TYPES = [
    "Late delivery",
    "Damaged item",
    "Returns",
    "Billing",
    "Subscription",
    "Warranty",
    "Loyalty programme",
]
SLA_CHOICES = [60, 120, 240, 480]
# (tier_level, tier_kind, beyond_all_tiers, weight): what routing decided for the filed requests.
ROUTES = [
    (1, "", False, 35),
    (2, "reward", False, 13),
    (2, "save", False, 22),
    (3, "", False, 25),
    (None, "", True, 5),
]
ROUTE_CUM_WEIGHTS = list(accumulate(route[3] for route in ROUTES))
SENTIMENTS = {
    (1, ""): ["neutral", "unhappy"],
    (2, "reward"): ["amazed", "happy"],
    (2, "save"): ["unhappy", "deeply_unhappy"],
    (3, ""): ["unhappy", "deeply_unhappy"],
    (None, ""): ["deeply_unhappy"],
}
AMOUNT_RANGES = {  # in pence
    (1, ""): (0, 2_500),
    (2, "reward"): (500, 10_000),
    (2, "save"): (1_000, 10_000),
    (3, ""): (5_000, 100_000),
    (None, ""): (50_000, 500_000),
}
CAUSES = [("our_mistake", 40), ("beyond_control", 30), ("loyalty", 15), ("extra_value", 15)]
CAUSE_VALUES = [cause for cause, _ in CAUSES]
CAUSE_CUM_WEIGHTS = list(accumulate(weight for _, weight in CAUSES))
SITUATIONS = [
    "Parcel arrived eight days late; the customer missed the event it was for.",
    "The kettle arrived with a cracked lid; photos attached by the customer.",
    "Return asked for 40 days after delivery; the tracking email never arrived.",
    "Charged twice for the same order after a card timeout.",
    "Annual renewal taken although the customer cancelled in the app.",
]
BREACH_SHARE = 0.10  # of the requests that went to an approver
TOP_LEVEL_BREACH_SHARE = 0.2  # of the breached ones, breached at level 2 as well
# Of the requests that went to an approver, the share still open: filed within the last three SLAs, so
# about a third is pending at its first level, the rest escalated or alerted by the SLA sweep.
OPEN_SHARE = 0.015
OPEN_WINDOW_SLAS = 3


@dataclass
class Cast:
    reps: list[Any]
    manager1: Any
    manager2: Any
    director: Any
    admin: Any
    policies: list[Any]
    customer_ids: list[int]
    policy_cum_weights: list[float] = field(default_factory=list)


def seed_cast(*, policies: int, customers: int, rng: random.Random) -> Cast:
    """People with the portal's roles, policies with tiers and approvers, customers. bulk_create: no history rows."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from exceptions_portal import roles
    from policies.models import ApproverLevel, ExceptionTier, Policy, ProblemType, RepRight
    from requests.models import Customer

    User = get_user_model()
    with transaction.atomic():
        groups = {g.name: g for g in Group.objects.all()}

        def person(username: str, group: str, **extra: Any) -> Any:
            user = User.objects.create(
                username=username,
                first_name=username.rstrip("0123456789").capitalize(),
                last_name="Bench",
                email=f"{username}@example.com",
                **extra,
            )
            user.groups.add(groups[group])
            return user

        reps = [person(f"rep{n:02d}", roles.REPS) for n in range(1, 21)]
        manager1 = person("manager1", roles.APPROVERS)
        manager2 = person("manager2", roles.APPROVERS)
        director = person("director", roles.APPROVERS)
        admin = person("policyadmin", roles.POLICY_ADMINS, is_staff=True)

        problem_types = ProblemType.objects.bulk_create(
            ProblemType(name=name, slug=name.lower().replace(" ", "-")) for name in PROBLEM_TYPES
        )
        created = Policy.objects.bulk_create(
            Policy(
                name=f"{problem_types[n % len(problem_types)].name} policy {n:02d}",
                slug=f"bench-policy-{n:02d}",
                problem_type=problem_types[n % len(problem_types)],
                statement="Items can be returned within 30 days of delivery.",
                rationale="Returned items must be resold as new.",
                owner=admin,
                sla_minutes=rng.choice(SLA_CHOICES),
            )
            for n in range(1, policies + 1)
        )
        ExceptionTier.objects.bulk_create(
            ExceptionTier(
                policy=policy,
                level=level,
                kind=kind,
                description=f"Tier {level} {kind}".strip(),
                sentiments=SENTIMENTS[(level, kind)],
                money_cap=Decimal(cap),
                max_business_days=days,
                supplier_exceptions_allowed=supplier,
            )
            for policy in created
            for level, kind, cap, days, supplier in [
                (1, "", "25", 5, 0),
                (2, "reward", "100", 10, 0),
                (2, "save", "100", 10, 1),
                (3, "", "1000", 30, 2),
            ]
        )
        ApproverLevel.objects.bulk_create(
            ApproverLevel(policy=policy, level=level, user=user, money_authority=Decimal(authority))
            for policy in created
            for level, user, authority in [(1, manager1, "250"), (1, manager2, "2500"), (2, director, "50000")]
        )
        RepRight.objects.bulk_create(RepRight(policy=policy, group=groups[roles.REPS]) for policy in created[::2])
        customer_rows = Customer.objects.bulk_create(
            (
                Customer(external_ref=f"BENCH-C{n:06d}", ref_key=f"bench-c{n:06d}", name=f"Customer {n}")
                for n in range(1, customers + 1)
            ),
            batch_size=2000,
        )
    # A few policies get most of the exceptions, as in real life (Zipf-like weights).
    cum_weights = list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(created))))
    return Cast(
        reps=reps,
        manager1=manager1,
        manager2=manager2,
        director=director,
        admin=admin,
        policies=list(created),
        customer_ids=[c.pk for c in customer_rows],
        policy_cum_weights=cum_weights,
    )


def make_request(*, number: int, cast: Cast, rng: random.Random, now: datetime) -> tuple[Any, list[dict]]:
    """One exception request as filing, deciding and the SLA sweep would have left it, and its escalations."""
    from requests.models import ExceptionRequest, Status

    policy = rng.choices(cast.policies, cum_weights=cast.policy_cum_weights)[0]
    sla = timedelta(minutes=policy.sla_minutes)
    filed_at = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
    level, kind, beyond, _ = rng.choices(ROUTES, cum_weights=ROUTE_CUM_WEIGHTS)[0]
    low, high = AMOUNT_RANGES[(level, kind)]
    amount = Decimal(rng.randrange(low, high + 1)) / 100
    rep = rng.choice(cast.reps)
    request = ExceptionRequest(
        reference=f"EX-BENCH-{number:07d}",
        customer_id=rng.choice(cast.customer_ids),
        policy=policy,
        rep=rep,
        sentiment=rng.choice(SENTIMENTS[(level, kind)]),
        cause=rng.choices(CAUSE_VALUES, cum_weights=CAUSE_CUM_WEIGHTS)[0],
        situation=rng.choice(SITUATIONS),
        resolution_requested="Refund or a voucher for the inconvenience.",
        amount=amount,
        business_days=rng.randrange(0, 10),
        supplier_exception=rng.random() < 0.05,
        alternative_offered="Store credit for the full amount.",
        corrective_action="Raised with the carrier's account manager.",
        tier_level=level,
        tier_kind=kind,
        beyond_all_tiers=beyond,
        is_repeat=rng.random() < 0.08,
        routing_reasons=["Bench data."],
        filed_at=filed_at,
    )
    # Tier 1 is the rep's own; tier 2 too when the rep has the right (about 55%). The rest go to an approver.
    if level == 1 or (level == 2 and rng.random() < 0.55):
        # As exception_request_file: a rep's grant is decided the moment it is filed.
        request.status = Status.GRANTED
        request.decided_at = filed_at
        request.decided_by = rep
        return request, []

    start_level = 2 if beyond or amount > Decimal("2500") else 1
    request.approval_level = start_level
    request.level_started_at = filed_at
    request.due_at = filed_at + sla
    request.remind_at = filed_at + sla * 0.75
    escalations: list[dict] = []

    if rng.random() < OPEN_SHARE:
        # The sweep escalates whatever passed its deadline: an open request's state follows from its age.
        filed_at = request.filed_at = request.level_started_at = now - sla * rng.uniform(0, OPEN_WINDOW_SLAS)
        request.status = Status.PENDING
        at, due = start_level, filed_at + sla
        while due <= now:
            escalations.append({"from_level": at, "to_level": 2 if at == 1 else None, "breached_at": due})
            request.breached_level = at
            request.status = Status.ESCALATED
            if at == 2:
                request.alerted_at = due
                break
            at, request.level_started_at, due = 2, due, due + sla
            escalations[-1]["new_due_at"] = due
        request.approval_level, request.due_at = at, due
        request.remind_at = request.level_started_at + sla * 0.75
        return request, escalations

    breached = rng.random() < BREACH_SHARE
    if not breached:
        # Decided within the SLA: a few minutes to most of it, skewed towards quick decisions.
        took = timedelta(minutes=min(rng.lognormvariate(math.log(35), 0.9), policy.sla_minutes * 0.98 + 1))
        took = max(took, timedelta(minutes=2))
        decider_level = start_level
    else:
        breached_at = filed_at + sla
        top = start_level == 2 or rng.random() < TOP_LEVEL_BREACH_SHARE
        if start_level == 1:
            escalations.append(
                {"from_level": 1, "to_level": 2, "breached_at": breached_at, "new_due_at": breached_at + sla}
            )
            request.level_started_at = breached_at
            request.due_at = breached_at + sla
            request.remind_at = breached_at + sla * 0.75
        if top:
            top_breach = request.due_at
            escalations.append({"from_level": 2, "to_level": None, "breached_at": top_breach})
            request.breached_level = 2
            request.alerted_at = top_breach
            took = (top_breach - filed_at) + timedelta(minutes=rng.uniform(5, 6 * 60))
        else:
            request.breached_level = 1
            took = (breached_at - filed_at) + timedelta(minutes=rng.uniform(5, policy.sla_minutes * 0.95))
        decider_level = 2
    request.approval_level = decider_level
    request.decided_at = filed_at + took
    if decider_level == 2:
        request.decided_by = cast.director
        request.approver_authority = Decimal("50000")
    elif amount <= Decimal("250") and rng.random() < 0.6:
        request.decided_by = cast.manager1
        request.approver_authority = Decimal("250")
    else:
        request.decided_by = cast.manager2
        request.approver_authority = Decimal("2500")
    request.status = Status.APPROVED if rng.random() < 0.65 else Status.DENIED
    request.decision_note = "Bench decision."
    return request, escalations


def _copy_rows(model: Any, objects: list[Any]) -> None:
    """PostgreSQL's COPY FROM STDIN for model instances (ids included): ten times bulk_create's pace."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for obj in objects:
            copy.write_row(
                [
                    f.get_db_prep_save(f.pre_save(obj, add=True), connection)
                    if not f.is_relation
                    else getattr(obj, f.attname)
                    for f in fields
                ]
            )


def seed_requests_by_copy(*, count: int, cast: Cast, rng: random.Random, now: datetime, chunk: int = 20_000) -> int:
    """PostgreSQL: the same rows as seed_requests, written by COPY with ids taken up front."""
    from django.db import connection, transaction

    from requests.models import Escalation, ExceptionRequest

    escalation_count, escalation_id = 0, 0
    with transaction.atomic():
        for start in range(0, count, chunk):
            built = [
                make_request(number=n, cast=cast, rng=rng, now=now) for n in range(start, min(count, start + chunk))
            ]
            escalations = []
            for offset, (request, steps) in enumerate(built):
                request.pk = start + offset + 1
                for step in steps:
                    escalation_id += 1
                    escalations.append(Escalation(pk=escalation_id, request_id=request.pk, **step))
            _copy_rows(ExceptionRequest, [request for request, _ in built])
            _copy_rows(Escalation, escalations)
            escalation_count += len(escalations)
            progress(f"  ... {min(count, start + chunk):,} requests (COPY)")
        with connection.cursor() as cursor:
            for model, last in ((ExceptionRequest, count), (Escalation, escalation_id)):
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [model._meta.db_table, max(last, 1)]
                )
    return escalation_count


def seed_requests(*, count: int, cast: Cast, rng: random.Random, now: datetime, chunk: int = 5_000) -> int:
    """Insert ``count`` requests and their escalation rows in chunks; returns how many escalations."""
    from django.db import connection, transaction

    from requests.models import Escalation, ExceptionRequest

    if connection.vendor == "postgresql":
        return seed_requests_by_copy(count=count, cast=cast, rng=rng, now=now)

    escalation_count = 0
    with transaction.atomic():
        for start in range(0, count, chunk):
            built = [
                make_request(number=n, cast=cast, rng=rng, now=now) for n in range(start, min(count, start + chunk))
            ]
            # bulk_create sets the primary keys (RETURNING on both engines), which the escalations need.
            ExceptionRequest.objects.bulk_create([request for request, _ in built], batch_size=1000)
            escalations = [Escalation(request_id=request.pk, **step) for request, steps in built for step in steps]
            Escalation.objects.bulk_create(escalations, batch_size=1000)
            escalation_count += len(escalations)
            progress(f"  ... {min(count, start + chunk):,} requests")
    return escalation_count


def seed_flags(*, cast: Cast, now: datetime, rng: random.Random) -> int:
    """A few review flags, open and resolved, each pointing at granted requests of its policy and cause."""
    from policies.models import ReviewFlag
    from requests.models import GRANTED_STATUSES, ExceptionRequest

    flags = []
    for index, policy in enumerate(cast.policies[:6]):
        cause = CAUSES[index % len(CAUSES)][0]
        ids = list(
            ExceptionRequest.objects.filter(
                policy=policy, cause=cause, status__in=GRANTED_STATUSES, filed_at__gte=now - timedelta(days=90)
            )
            .order_by("-filed_at")
            .values_list("pk", flat=True)[: rng.randint(2, 5)]
        )
        resolved = index >= 4
        flags.append(
            ReviewFlag(
                policy=policy,
                cause=cause,
                reason=f"{len(ids)} granted exceptions with the same cause within 90 days.",
                request_ids=ids,
                raised_at=now - timedelta(days=rng.randint(1, 60)),
                owner_notified_at=now - timedelta(days=1),
                resolved_at=now if resolved else None,
                resolved_by=cast.admin if resolved else None,
                resolution=ReviewFlag.Resolution.KEPT if resolved else "",
                resolution_note="Reviewed in the bench." if resolved else "",
            )
        )
    ReviewFlag.objects.bulk_create(flags)
    return len(flags)


def vacuum_analyze() -> None:
    """On PostgreSQL, what autovacuum does after a bulk load: statistics and the visibility map.

    SQLite is left alone: Django never runs ANALYZE there, so neither would a deployment.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def catch_up() -> None:
    """Run the analysis' catch-up job (what beat runs every minute) until every final request is rolled up,
    and print how fast it went; then refresh the statistics (the flag changed on every row)."""
    from requests.models import ExceptionRequest
    from requests.services import requests_roll_up

    waiting = ExceptionRequest.objects.filter(rolled_up=False).count()
    progress(f"Rolling up ({waiting:,} requests not rolled up) ...")
    started = time.perf_counter()
    marked = requests_roll_up()
    seconds = time.perf_counter() - started
    print(f"Rolled up {marked:,} requests in {seconds:.1f} s ({marked / max(seconds, 1e-9):,.0f} requests/s)")
    vacuum_analyze()


# --- Measuring ----------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    status: int
    size: int
    queries: list[dict]  # {"sql", "time"} as Django records them


def timed_get(client: Any, url: str) -> Run:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url)
        # A streamed export is only produced while it is read: consuming it is part of its time.
        size = sum(map(len, response.streaming_content)) if response.streaming else len(response.content)
        response.close()
        seconds = time.perf_counter() - started
    return Run(seconds, response.status_code, size, list(captured.captured_queries))


def slowest_queries(runs: list[Run], limit: int = 5) -> list[tuple[float, str]]:
    """The slowest queries of the page, each timed as its median over the runs (the page issues the same list)."""
    by_position: dict[int, list[float]] = {}
    sql: dict[int, str] = {}
    for run in runs:
        for position, query in enumerate(run.queries):
            by_position.setdefault(position, []).append(float(query["time"]))
            sql.setdefault(position, query["sql"])
    medians = [(statistics.median(times), sql[position]) for position, times in by_position.items()]
    return sorted(medians, key=lambda item: item[0], reverse=True)[:limit]


EXPORT_RSS_SCRIPT = """
import os, sys, time
sys.path.insert(0, os.environ["BENCH_ROOT"])
import django
django.setup()
from django.conf import settings
settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
settings.DEBUG = False  # DEBUG would keep every query in memory
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username=os.environ["BENCH_ADMIN"]))
client.get("/")  # the connection and the session, outside the export's figure
def peak_kib():
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would start at this benchmark's own size.
    with open(f"/proc/{os.getpid()}/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
before = peak_kib()
started = time.perf_counter()
response = client.get(os.environ["BENCH_URL"])
size = sum(map(len, response.streaming_content))
seconds = time.perf_counter() - started
print(before, peak_kib(), size, seconds)
"""


def export_peak_rss(username: str) -> tuple[float, float, int, float]:
    """The CSV export in a process of its own: its peak RSS before and after (MiB), bytes, seconds."""
    import subprocess

    env = {**os.environ, "BENCH_ROOT": str(ROOT), "BENCH_ADMIN": username, "BENCH_URL": EXPORT_URL}
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_RSS_SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise SystemExit(f"the export process failed:\n{result.stderr[-3000:]}")
    before, after, size, seconds = result.stdout.split()[-4:]
    return int(before) / 1024, int(after) / 1024, int(size), float(seconds)


def load_average() -> str:
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def short_sql(sql: str, width: int = 400) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def explain(sql: str) -> str:
    from django.db import connection

    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())


def main() -> None:
    args = parse_args()
    os.environ.setdefault("DEBUG", DEBUG_DEFAULT)
    database = setup_django(label="bench-analysis", keep=args.keep, reuse=args.reuse)
    try:
        run(args)
    finally:
        database.cleanup()


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from policies.insights.forms import AnalysisFilterForm
    from policies.insights.periods import requests_in
    from requests.models import Escalation, ExceptionRequest

    # The test client's host; not through setup_test_environment(), which would instrument every
    # template render and slow the figures down.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    engine = engine_name()
    print(f"Analysis page benchmark on {engine} (database {connection.settings_dict['NAME']})")
    print(
        ("an earlier run's requests" if args.reuse else f"{args.count:,} requests")
        + f", {args.policies} policies, {args.customers:,} customers; "
        f"{args.repeat} timed renders after 1 warm-up; DEBUG={settings.DEBUG}\n"
    )

    rng = random.Random(args.seed)
    now = timezone.now()
    if args.reuse:
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.get(username="policyadmin")
        print(f"Reusing the database's {ExceptionRequest.objects.count():,} requests (--count ignored)")
    else:
        started = time.perf_counter()
        progress("Seeding people, policies and customers ...")
        cast = seed_cast(policies=args.policies, customers=args.customers, rng=rng)
        admin = cast.admin
        progress(f"Seeding {args.count:,} requests ...")
        escalations = seed_requests(count=args.count, cast=cast, rng=rng, now=now)
        flags = seed_flags(cast=cast, now=now, rng=rng)
        vacuum_analyze()
        print(
            f"Seeded in {time.perf_counter() - started:.1f} s ({escalations:,} escalation rows, {flags} review flags)"
        )
    catch_up()

    period = AnalysisFilterForm({"period": "365"}).period_or_default()
    in_period = requests_in(period).count()
    statuses = Counter(ExceptionRequest.objects.values_list("status", flat=True))
    went = ExceptionRequest.objects.filter(approval_level__isnull=False).count()
    breached = ExceptionRequest.objects.filter(breached_level__isnull=False).count()
    count = ExceptionRequest.objects.count()
    print(f"{count:,} requests ({in_period:,} in the 365-day period)")
    print("  statuses: " + ", ".join(f"{name} {n:,}" for name, n in statuses.most_common()))
    print(
        f"  went to an approver {went:,}, breached {breached:,} ({100 * breached / max(went, 1):.1f}%), "
        f"{Escalation.objects.count():,} escalation rows\n"
    )

    client = Client()
    client.force_login(admin)
    load_at_start = load_average()
    warmup = timed_get(client, PAGE_URL)
    if warmup.status != 200:
        raise SystemExit(f"GET {PAGE_URL} answered HTTP {warmup.status}: check the policy admin's permissions")
    runs = [timed_get(client, PAGE_URL) for _ in range(args.repeat)]
    times = [r.seconds for r in runs]
    page_median = statistics.median(times)
    queries = len(runs[-1].queries)
    sql_median = statistics.median(sum(float(q["time"]) for q in r.queries) for r in runs)
    print(f"GET {PAGE_URL}  (HTTP {runs[-1].status}, {runs[-1].size / 1024:.0f} KiB)")
    print(
        f"  median {page_median * 1000:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, "
        f"warm-up {warmup.seconds * 1000:.0f}); {queries} SQL queries taking {sql_median * 1000:.0f} ms of it; "
        f"target < {TARGET_SECONDS * 1000:.0f} ms: {'met' if page_median < TARGET_SECONDS else 'NOT met'}"
    )
    print("  slowest queries (median over the timed renders):")
    slowest = slowest_queries(runs)
    for seconds, sql in slowest:
        print(f"    {seconds * 1000:8.1f} ms  {short_sql(sql)}")
    if args.explain and slowest:
        print("\n  plan of the slowest query:\n    " + explain(slowest[0][1]).replace("\n", "\n    "))

    exports = [timed_get(client, EXPORT_URL) for _ in range(args.export_repeat)]
    export_median = statistics.median(r.seconds for r in exports)
    export = exports[-1]
    print(f"\nGET {EXPORT_URL}  (HTTP {export.status}, {export.size / 1024 / 1024:.1f} MiB streamed)")
    print(
        f"  {'median ' if len(exports) > 1 else ''}{export_median:.2f} s for {in_period:,} rows; "
        f"{len(export.queries)} SQL queries"
    )
    for seconds, sql in slowest_queries(exports, limit=3):
        print(f"    {seconds * 1000:8.1f} ms  {short_sql(sql, 200)}")

    rss_before, rss_peak, rss_size, rss_seconds = export_peak_rss(admin.username)
    print(
        f"  in a process of its own (DEBUG off): {rss_seconds:.2f} s, {rss_size / 1024 / 1024:.1f} MiB; peak RSS "
        f"{rss_peak:.0f} MiB ({rss_before:.0f} MiB before the export)"
    )

    print(f"\n### Analysis page, last 365 days ({engine})\n")
    print("| Engine | Requests | Median page time | SQL queries | CSV export (requests) | export's peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| {engine} | {count:,} | {page_median * 1000:.0f} ms | {queries} | "
        f"{export_median:.2f} s ({in_period:,} rows) | {rss_peak:.0f} MiB ({rss_before:.0f} before) |"
    )
    print(
        f"\nMedian of {args.repeat} renders after 1 warm-up, Django test client in one process, DEBUG on, "
        f"logged in as a policy admin; {os.cpu_count()} CPU(s), load average {load_at_start} before the "
        f"renders and {load_average()} after (other work on the machine inflates every figure)."
    )


if __name__ == "__main__":
    main()
