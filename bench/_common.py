"""What the benchmarks share: a throwaway database, Django set up on it, and seeded people and policies.

Every benchmark runs on its own database so that it never touches the developer's data:

- SQLite (no ``DATABASE_URL``, or a ``sqlite://`` one): a file in a fresh temporary directory;
- PostgreSQL (``DATABASE_URL=postgres://.../<name>``): a separate database ``<name>_bench`` on the
  same server, dropped and created again through the server's ``postgres`` database.

``VAR_DIR`` (the SQLite file, the filesystem broker, the beat schedule) points to a fresh directory
created inside ``$VAR_DIR`` when it is set, or in the system's temporary directory. Both go away at
the end unless ``--keep`` is given.

The scripts import this module as ``bench._common`` after replacing ``bench/`` on ``sys.path`` with
the project root (see the top of ``bench/queue.py``).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent

# What the test suite sets too: without them, DEBUG off would redirect every request to HTTPS
# and look for a collectstatic manifest that a checkout does not have.
ENV_DEFAULTS = {
    "DJANGO_SETTINGS_MODULE": "exceptions_portal.settings",
    "DEBUG": "false",
    "SECRET_KEY": "insecure-bench-only-key-never-used-outside-the-benchmarks",
    "SECURE_SSL_REDIRECT": "false",
    "STATIC_MANIFEST": "false",
    "EMAIL_URL": "dummymail://",
    "LOG_LEVEL": "WARNING",
}

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "postgis"}


@dataclass
class BenchDatabase:
    """Where a benchmark runs, and how to leave nothing behind."""

    engine: str  # "sqlite" or "postgresql"
    url: str  # the bench database's DATABASE_URL, also handed to worker/beat subprocesses
    var_dir: Path
    admin_url: str | None = None  # the server's ``postgres`` database, to drop the bench one
    bench_name: str | None = None
    keep: bool = False
    reused: bool = False  # an earlier run's database: kept as found, only this run's directory goes

    def cleanup(self) -> None:
        from django.db import connections

        connections.close_all()
        if self.reused:
            shutil.rmtree(self.var_dir, ignore_errors=True)
            print(f"\nKept: DATABASE_URL={self.url}")
            return
        if self.keep:
            print(f"\nKept: DATABASE_URL={self.url} VAR_DIR={self.var_dir}")
            return
        if self.engine == "postgresql":
            _drop_postgres_database(self.admin_url, self.bench_name)
        shutil.rmtree(self.var_dir, ignore_errors=True)


def setup_django(*, label: str, keep: bool = False, reuse: bool = False) -> BenchDatabase:
    """Point Django to a fresh throwaway database, set it up, and migrate it. Call before any model import.

    With ``reuse``, the bench database an earlier run kept (``--keep``) is used as it is, migrated, and kept
    again: on PostgreSQL ``<name>_bench``, on SQLite the file ``DATABASE_URL=sqlite:///…`` names."""
    for name, value in ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    parent = Path(os.environ.get("VAR_DIR") or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    var_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=parent))
    os.environ["VAR_DIR"] = str(var_dir)

    original = os.environ.get("DATABASE_URL", "")
    scheme = urlsplit(original).scheme if original else "sqlite"
    if reuse and scheme == "sqlite" and not original:
        raise SystemExit("--reuse on SQLite needs DATABASE_URL=sqlite:///<the kept bench.sqlite3>")
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(original)
        name = parts.path.lstrip("/") or "portal"
        bench_name = name if reuse and name.endswith("_bench") else f"{name}_bench"
        admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        if not reuse:
            _create_postgres_database(admin_url, bench_name)
        database = BenchDatabase(
            engine="postgresql",
            url=urlunsplit(parts._replace(path=f"/{bench_name}")),
            var_dir=var_dir,
            admin_url=admin_url,
            bench_name=bench_name,
            keep=keep or reuse,
            reused=reuse,
        )
    elif scheme == "sqlite" and reuse:
        database = BenchDatabase(engine="sqlite", url=original, var_dir=var_dir, keep=True, reused=True)
    elif scheme == "sqlite":
        database = BenchDatabase(
            engine="sqlite", url=f"sqlite:///{var_dir / 'bench.sqlite3'}", var_dir=var_dir, keep=keep
        )
    else:
        raise SystemExit(f"DATABASE_URL scheme {scheme!r}: the benchmarks know SQLite and PostgreSQL only")
    os.environ["DATABASE_URL"] = database.url

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.DEBUG:
        print("Note: DEBUG is on; Django keeps every query in memory, which slows the figures down.")
    call_command("migrate", verbosity=0, interactive=False)
    return database


def _create_postgres_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        # FORCE ends connections a killed earlier run may have left open.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_postgres_database(admin_url: str | None, name: str | None) -> None:
    import psycopg
    from psycopg import sql

    if not admin_url or not name:
        return
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def engine_name() -> str:
    """The database engine and its version, as a table shows it."""
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor == "postgresql":
        version = connection.pg_version  # e.g. 150020
        return f"PostgreSQL {version // 10000}.{version % 100}"
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    return connection.vendor


def analyze() -> None:
    """Refresh the planner's statistics on PostgreSQL, as autovacuum would after a bulk load.

    SQLite is left alone: Django never runs ANALYZE there, so neither would a deployment.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


@dataclass
class Cast:
    """The seeded people and policies: managers at level 1 of every policy, a director at level 2."""

    rep: Any
    manager1: Any
    manager2: Any
    director: Any
    admin: Any
    policy_ids: list[int]
    customer_ids: list[int] = field(default_factory=list)


def seed_cast(*, policies: int = 50, customers: int = 2000, sla_minutes: int = 120) -> Cast:
    """People with the portal's roles, ``policies`` policies with two approval levels, and customers.

    Mirrors ``seed_demo``: manager1 (authority 250) and manager2 (2,500) at level 1, the director
    (50,000) at level 2. Built with bulk_create: no history rows, which no benchmark reads.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from exceptions_portal import roles
    from policies.models import ApproverLevel, Policy, ProblemType
    from requests.models import Customer

    User = get_user_model()
    with transaction.atomic():
        groups = {g.name: g for g in Group.objects.all()}
        people = {}
        for username, group in [
            ("rep1", roles.REPS),
            ("manager1", roles.APPROVERS),
            ("manager2", roles.APPROVERS),
            ("director", roles.APPROVERS),
            ("admin", roles.POLICY_ADMINS),
        ]:
            user = User.objects.create(
                username=username,
                first_name=username.capitalize(),
                last_name="Bench",
                email=f"{username}@example.com",
            )
            user.groups.add(groups[group])
            people[username] = user
        problem_types = ProblemType.objects.bulk_create(
            ProblemType(name=f"Problem {n}", slug=f"problem-{n}") for n in range(1, 8)
        )
        created = Policy.objects.bulk_create(
            Policy(
                name=f"Bench policy {n:02d}",
                slug=f"bench-policy-{n:02d}",
                problem_type=problem_types[n % len(problem_types)],
                statement="Items can be returned within 30 days of delivery.",
                rationale="Returned items must be resold as new.",
                owner=people["admin"],
                sla_minutes=sla_minutes,
            )
            for n in range(1, policies + 1)
        )
        ApproverLevel.objects.bulk_create(
            ApproverLevel(policy=policy, level=level, user=people[username], money_authority=Decimal(authority))
            for policy in created
            for level, username, authority in [
                (1, "manager1", "250"),
                (1, "manager2", "2500"),
                (2, "director", "50000"),
            ]
        )
        customer_rows = Customer.objects.bulk_create(
            (
                Customer(external_ref=f"BENCH-C{n:06d}", ref_key=f"bench-c{n:06d}", name=f"Customer {n}")
                for n in range(1, customers + 1)
            ),
            batch_size=2000,
        )
    return Cast(
        rep=people["rep1"],
        manager1=people["manager1"],
        manager2=people["manager2"],
        director=people["director"],
        admin=people["admin"],
        policy_ids=[p.pk for p in created],
        customer_ids=[c.pk for c in customer_rows],
    )


def pending_request(
    *,
    number: int,
    cast: Cast,
    rng: random.Random,
    filed_at: datetime,
    due_at: datetime,
    remind_at: datetime,
    reminder_sent_at: datetime | None = None,
    level: int = 1,
) -> Any:
    """One pending request at ``level``, with every field the filing service would set."""
    from requests.models import ExceptionRequest, Status

    return ExceptionRequest(
        reference=f"EX-BENCH-{number:07d}",
        customer_id=rng.choice(cast.customer_ids),
        policy_id=cast.policy_ids[number % len(cast.policy_ids)],
        rep_id=cast.rep.pk,
        sentiment="unhappy",
        cause="our_mistake",
        situation="Jacket returned 40 days after delivery; the tracking email never arrived.",
        resolution_requested="Full refund of the jacket.",
        amount=Decimal(rng.randrange(1000, 200000)) / 100,
        business_days=rng.randrange(0, 30),
        supplier_exception=False,
        alternative_offered="Store credit for the full amount.",
        corrective_action="Check the shipping-notice emails are sent for every carrier.",
        tier_level=3,
        tier_kind="",
        beyond_all_tiers=False,
        is_repeat=False,
        routing_reasons=["Above the rep's tier-2 limits: tier 3 needs approval.", "Due by the SLA."],
        status=Status.PENDING,
        filed_at=filed_at,
        approval_level=level,
        due_at=due_at,
        level_started_at=filed_at,
        remind_at=remind_at,
        reminder_sent_at=reminder_sent_at,
    )


def bulk_insert(
    rows: Iterator[Any], *, model: Any, chunk: int = 5000, on_chunk: Callable[[int], None] | None = None
) -> int:
    """Insert rows in chunks inside one transaction; returns how many."""
    from django.db import transaction

    total = 0
    buffer: list[Any] = []
    with transaction.atomic():
        for row in rows:
            buffer.append(row)
            if len(buffer) >= chunk:
                model.objects.bulk_create(buffer, batch_size=1000)
                total += len(buffer)
                buffer.clear()
                if on_chunk:
                    on_chunk(total)
        if buffer:
            model.objects.bulk_create(buffer, batch_size=1000)
            total += len(buffer)
    return total


class QueryCounter:
    """Counts SQL statements and the time spent waiting for them, through a connection's execute
    wrapper, without keeping the statements (cheap enough for tens of thousands)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def now_utc() -> datetime:
    from django.utils import timezone

    return timezone.now()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
