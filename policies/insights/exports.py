"""The analysis page's CSV exports: one exporter per file, each a name and a rows generator (as pretix's
``base/exporters``), and the CSV writing they share, safe against spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from exceptions_portal.formatting import format_duration
from policies.insights import figures
from policies.insights.periods import Period, requests_in
from policies.models import Sentiment
from requests.models import Cause, Status, tier_label

Rows = Iterable[Iterable[object]]


@dataclass(frozen=True)
class Exporter:
    identifier: str  # the ``export=`` value of the page's links, and part of the file name
    rows: Callable[[Period], Rows]  # the header row first

    def filename(self, period: Period) -> str:
        return f"exceptions-{self.identifier}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"


def _cents(value: Decimal | None) -> str:
    # SQLite returns sums as floats-in-decimals (30.6000000000000): exports always show cents, and no
    # thousands separators, so that a spreadsheet reads a number.
    return f"{Decimal(value or 0):.2f}"


# A cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Where a spreadsheet may start a new cell when it ignores (or is told to ignore) the quotes: the
# list separators of the locales (comma, semicolon, tab, pipe) and line breaks. A trigger right
# after one (spaces between allowed) is a formula in the next cell: "Acme;=1+2" in a ";" locale.
_TRIGGER_AFTER_SEPARATOR = re.compile(r"([,;\t|\r\n][ ]*)([=+\-@])")


def neutralise_cell(value: str) -> str:
    """The text with every formula start made literal by a leading apostrophe (OWASP's advice):
    at the start of the cell and after any separator inside it."""
    value = _TRIGGER_AFTER_SEPARATOR.sub(r"\1'\2", value)
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _safe(row: Iterable[object]) -> list[object]:
    """Neutralise spreadsheet formulas in exported text (CSV injection)."""
    return [neutralise_cell(value) if isinstance(value, str) else value for value in row]


def csv_chunks(rows: Rows, *, rows_per_chunk: int = 1000) -> Iterator[str]:
    """The rows as CSV text, a chunk of rows at a time: one chunk a row made the response encode
    100,000 small strings for the requests export."""
    buffer = io.StringIO()
    # Every text cell quoted, so that no separator inside one splits it; numbers stay numbers.
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC)
    for rows_written, row in enumerate(rows, 1):
        writer.writerow(_safe(row))
        if rows_written % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _summary_rows(rows: list[dict], label: str) -> Rows:
    causes = list(Cause)
    yield [
        label,
        "filed",
        "granted by reps",
        "approved",
        "denied",
        "pending",
        "tier 1",
        "tier 2 reward",
        "tier 2 save",
        "tier 3",
        "beyond all tiers",
        *[f"cause: {c.label}" for c in causes],
        "money granted",
        "median time to decision",
        "90th percentile time to decision",
        "SLA kept %",
        "breaches per level",
    ]
    for row in rows:
        yield [
            row["name"],
            row["filed"],
            row["granted_by_rep"],
            row["approved"],
            row["denied"],
            row["pending"],
            row["tier1"],
            row["tier2_reward"],
            row["tier2_save"],
            row["tier3"],
            row["beyond"],
            *[row[f"cause_{c.value}"] for c in causes],
            _cents(row["money_granted"]),
            format_duration(row.get("median")),
            format_duration(row.get("p90")),
            "" if row["sla_kept_pct"] is None else row["sla_kept_pct"],
            "; ".join(f"level {level}: {n}" for level, n in sorted(row["breaches"].items())),
        ]


def problem_type_rows(period: Period) -> Rows:
    return _summary_rows(figures.summary(period, by="problem_type"), "problem type")


def policy_rows(period: Period) -> Rows:
    return _summary_rows(figures.summary(period, by="policy"), "policy")


def customer_rows(period: Period) -> Rows:
    yield ["customer reference", "customer", "filed", "granted", "policies"]
    for r in figures.frequent_customers(period, limit=1000):
        yield [r["customer__external_ref"], r["customer__name"], r["filed"], r["granted"], r["policies"]]


def rep_rows(period: Period) -> Rows:
    yield ["rep", "granted at once", "money granted"]
    for r in figures.reps_granting(period, limit=1000):
        yield [r["name"], r["granted"], _cents(r["money"])]


def approver_rows(period: Period) -> Rows:
    yield ["approver", "decided", "approved", "denied", "within SLA", "median time to decision", "90th percentile"]
    for r in figures.approver_decision_times(period):
        yield [
            r["name"],
            r["decided"],
            r["approved"],
            r["denied"],
            r["on_time"],
            format_duration(r.get("median")),
            format_duration(r.get("p90")),
        ]


REQUEST_COLUMNS = (
    "reference", "filed_at", "customer__external_ref", "customer__name", "policy__name", "policy__problem_type__name",
    "rep__username", "sentiment", "cause", "tier_level", "tier_kind", "beyond_all_tiers", "amount", "business_days",
    "status", "approval_level", "breached_level", "decided_at", "decided_by__username",
)  # fmt: skip


def request_values(period: Period) -> QuerySet:
    """The filtered list of requests as plain tuples (REQUEST_COLUMNS): no model instances, so 100,000
    rows stream in seconds."""
    return requests_in(period).order_by("filed_at", "pk").values_list(*REQUEST_COLUMNS)


def request_rows(period: Period) -> Rows:
    yield [
        "reference",
        "filed at",
        "customer reference",
        "customer",
        "policy",
        "problem type",
        "rep",
        "sentiment",
        "cause",
        "tier",
        "amount",
        "business days",
        "status",
        "approval level",
        "breached at level",
        "decided at",
        "decided by",
    ]
    sentiments, causes, statuses = dict(Sentiment.choices), dict(Cause.choices), dict(Status.choices)
    tiers: dict[tuple, str] = {}
    # Unpacked in the order of REQUEST_COLUMNS: a dict a row cost a tenth of the export.
    for (
        reference,
        filed_at,
        customer_ref,
        customer_name,
        policy_name,
        problem_type_name,
        rep_username,
        sentiment,
        cause,
        tier_level,
        tier_kind,
        beyond_all_tiers,
        amount,
        business_days,
        status,
        approval_level,
        breached_level,
        decided_at,
        decided_by_username,
    ) in request_values(period).iterator(chunk_size=2000):
        tier = (tier_level, tier_kind, beyond_all_tiers)
        if tier not in tiers:
            tiers[tier] = tier_label(*tier)
        yield [
            reference,
            filed_at.isoformat(),
            customer_ref,
            customer_name,
            policy_name,
            problem_type_name,
            rep_username,
            sentiments.get(sentiment, sentiment),
            causes.get(cause, cause),
            tiers[tier],
            _cents(amount),
            business_days,
            statuses.get(status, status),
            approval_level or "",
            breached_level or "",
            decided_at.isoformat() if decided_at else "",
            decided_by_username or "",
        ]


EXPORTERS = {
    exporter.identifier: exporter
    for exporter in (
        Exporter("problem_types", problem_type_rows),
        Exporter("policies", policy_rows),
        Exporter("customers", customer_rows),
        Exporter("reps", rep_rows),
        Exporter("approvers", approver_rows),
        Exporter("requests", request_rows),
    )
}
