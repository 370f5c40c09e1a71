"""How the approver's queue page scales: median render time and SQL queries at 100 and 100,000 requests, four shapes.

Usage (from the project root):

    .venv/bin/python bench/queue.py                      # SQLite, 100 / 100,000
    .venv/bin/python bench/queue.py --quick              # 100 / 1,000, fewer repetitions
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/queue.py
                                                         # PostgreSQL, in a separate database portal_bench

Every request is pending at level 1 of one of 50 policies, where manager1 approves, so (all but one of) them
are in manager1's queue: the "full" shape. Three more approvers see the other shapes: "2 %" approves level 1
of one policy of the 50, "single" a level that holds one request, "empty" a level that holds none. For each
size and shape the script renders the first page (GET /requests/queue/ through the test client) a few times
after warm-ups and prints the median, the SQL query count and the ratio to the smallest size. It prints
figures, it asserts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as `python bench/queue.py`, Python puts bench/ first on sys.path, and this very file would then
# shadow the standard library's `queue` module for everything imported later (Celery, kombu,
# concurrent.futures). Put the project root there instead, before any other import.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

from bench._common import (  # noqa: E402
    analyze,
    bulk_insert,
    engine_name,
    median_ms,
    minutes,
    now_utc,
    pending_request,
    progress,
    seed_cast,
    setup_django,
)

DEFAULT_SIZES = [100, 100_000]
QUICK_SIZES = [100, 1_000]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: sorted({int(n.replace("_", "")) for n in text.split(",") if n.strip()}),
        help="comma-separated numbers of pending requests (default 100,100000)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 100,1000 with 5 repetitions after 1 warm-up")
    parser.add_argument("--repeat", type=int, help="timed renders per size (default 15)")
    parser.add_argument("--warmup", type=int, help="untimed renders before timing (default 2)")
    parser.add_argument("--policies", type=int, default=50, help="policies the requests are spread over (default 50)")
    parser.add_argument("--explain", action="store_true", help="print the plans of the queue's queries at each size")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and VAR_DIR afterwards")
    args = parser.parse_args()
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.repeat = args.repeat or (5 if args.quick else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    return args


def add_requests(*, cast, start: int, stop: int, rng: random.Random) -> None:
    """Requests number ``start`` .. ``stop - 1``: pending at level 1, due over the next week."""
    from requests.models import ExceptionRequest

    now = now_utc()

    def rows():
        for number in range(start, stop):
            filed_at = now - minutes(rng.uniform(0, 60))
            due_at = now + minutes(rng.uniform(1, 7 * 24 * 60))
            yield pending_request(
                number=number,
                cast=cast,
                rng=rng,
                filed_at=filed_at,
                due_at=due_at,
                remind_at=due_at - minutes(30),
            )

    bulk_insert(rows(), model=ExceptionRequest, on_chunk=lambda n: progress(f"  ... {start + n:,} rows"))


def explain_queue(user) -> None:
    """The plans of the page's two expensive queries: the paginator's count and the first page."""
    from django.db import connection

    from requests.pagination import CappedPaginator
    from requests.selectors import approver_queue
    from requests.views import PAGE_SIZE, QUEUE_LOOK_AHEAD

    queue = approver_queue(user=user)
    paginator = CappedPaginator(queue.counted, PAGE_SIZE, look_ahead=QUEUE_LOOK_AHEAD, in_order=queue.in_order)
    paginator.get_page(1)
    rows = queue.in_order(paginator.count)
    options = {"analyze": True} if connection.vendor == "postgresql" else {}
    print("\n  EXPLAIN first page:\n    " + rows[:PAGE_SIZE].explain(**options).replace("\n", "\n    "))
    print("  EXPLAIN count:\n    " + paginator.rows_to_count().values("pk").explain(**options).replace("\n", "\n    "))


def main() -> None:
    args = parse_args()
    database = setup_django(label="bench-queue", keep=args.keep)
    try:
        run(args)
    finally:
        database.cleanup()


def shape_approvers(cast) -> dict:
    """An approver per queue shape: manager1 sees (nearly) every request, the others a policy's or a level's."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from exceptions_portal import roles
    from policies.models import ApproverLevel

    approvers = Group.objects.get(name=roles.APPROVERS)
    people = {"full": cast.manager1}
    # Requests go round the policies, so one policy of 50 holds 2 % of them; level 3 of the second
    # policy holds the single request the script moves there; level 4 of the third holds nothing.
    for shape, policy_id, level in [
        ("2 %", cast.policy_ids[0], 1),
        ("single", cast.policy_ids[1], 3),
        ("empty", cast.policy_ids[2], 4),
    ]:
        user = get_user_model().objects.create(username=f"bench-{shape.replace(' %', 'pc')}")
        user.groups.add(approvers)
        ApproverLevel.objects.create(policy_id=policy_id, level=level, user=user, money_authority=Decimal("250"))
        people[shape] = user
    return people


def move_single(cast) -> None:
    from requests.models import ExceptionRequest

    ExceptionRequest.objects.filter(approval_level=3).update(approval_level=1)
    first = ExceptionRequest.objects.filter(policy_id=cast.policy_ids[1]).order_by("pk").values("pk")[:1]
    ExceptionRequest.objects.filter(pk__in=first).update(approval_level=3)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from requests.selectors import queue_for

    # The test client's host; not added through setup_test_environment(), which would also
    # instrument every template render and slow the figures down.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    engine = engine_name()
    print(f"Queue page benchmark on {engine} (database {connection.settings_dict['NAME']})")
    print(f"sizes {args.sizes}, {args.repeat} timed renders after {args.warmup} warm-up(s), {args.policies} policies\n")

    rng = random.Random(42)
    cast = seed_cast(policies=args.policies)
    people = shape_approvers(cast)
    clients = {}
    for shape, user in people.items():
        clients[shape] = Client()
        clients[shape].force_login(user)

    results: list[dict] = []
    inserted = 0
    for size in args.sizes:
        started = time.perf_counter()
        progress(f"Seeding up to {size:,} pending requests ...")
        add_requests(cast=cast, start=inserted, stop=size, rng=rng)
        move_single(cast)
        inserted = size
        analyze()
        seeded = time.perf_counter() - started
        for shape, client in clients.items():
            in_queue = queue_for(user=people[shape]).count()
            for _ in range(args.warmup):
                client.get("/requests/queue/")
            timings: list[float] = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get("/requests/queue/")
                timings.append(time.perf_counter() - started)
            with CaptureQueriesContext(connection) as captured:
                response = client.get("/requests/queue/")
            slowest = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:2]
            results.append(
                {
                    "shape": shape,
                    "size": size,
                    "in_queue": in_queue,
                    "median": median_ms(timings),
                    "min": min(timings) * 1000,
                    "max": max(timings) * 1000,
                    "queries": len(captured.captured_queries),
                    "sql_ms": sum(float(q["time"]) for q in captured.captured_queries) * 1000,
                    "status": response.status_code,
                }
            )
            print(
                f"{size:>9,} requests, {shape:>6} queue ({in_queue:,} in it, seeded in {seeded:.1f} s): "
                f"median {median_ms(timings):.1f} ms (min {min(timings) * 1000:.1f}, max {max(timings) * 1000:.1f}), "
                f"{len(captured.captured_queries)} queries, HTTP {response.status_code}"
            )
            for query in slowest:
                print(f"    {float(query['time']) * 1000:7.1f} ms  {query['sql'][:150]}")
            if args.explain:
                explain_queue(people[shape])

    print(f"\n### Approver queue, first page ({engine})\n")
    print(
        "| Engine | Queue shape | Pending requests | In the queue | Median render (ms) | Min–max (ms) | SQL queries "
        "| SQL time of one render (ms) | × smallest |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for shape in people:
        rows = [row for row in results if row["shape"] == shape]
        base = rows[0]["median"]
        for row in rows:
            worst = max(worst, row["median"] / base)
            print(
                f"| {engine} | {shape} | {row['size']:,} | {row['in_queue']:,} | {row['median']:.1f} "
                f"| {row['min']:.1f}–{row['max']:.1f} | {row['queries']} | {row['sql_ms']:.0f} "
                f"| {row['median'] / base:.2f}× |"
            )
    print(
        f"\nWorst ratio to the smallest size over the four shapes: {worst:.2f}× (target: within 2×). "
        f"Median of {args.repeat} renders after {args.warmup} warm-up(s), Django test client, one process."
    )


if __name__ == "__main__":
    main()
