"""Learning from exceptions: figures per problem type and per policy, trends, frequent askers.

Every figure comes from database aggregation (values/annotate, window functions
for percentiles), so the page issues a bounded number of queries whatever the
number of requests. The functions are selectors: they read, never write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Ceil, Coalesce, Concat, RowNumber, TruncWeek
from django.utils import timezone

from policies.models import Policy
from requests.models import Cause, Customer, Escalation, ExceptionRequest, Status

GRANTED = Q(status__in=[Status.GRANTED, Status.APPROVED])
DECIDED_BY_APPROVER = Q(status__in=[Status.APPROVED, Status.DENIED])
STILL_OPEN = Q(status__in=[Status.PENDING, Status.ESCALATED, Status.WAITING_FOR_REP])
WENT_TO_APPROVER = Q(approval_level__isnull=False)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    problem_type_id: int | None = None

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def format_duration(value: timedelta | None) -> str:
    """A time to decision as people read it: "45 min", "2 h 05 min", "3 d 4 h"."""
    if not isinstance(value, timedelta):
        return ""  # no decision in the group (templates pass "" for a missing key)
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def requests_in(period: Period) -> QuerySet[ExceptionRequest]:
    rows = ExceptionRequest.objects.filter(filed_at__gte=period.start_at, filed_at__lt=period.end_at)
    if period.problem_type_id:
        rows = rows.filter(policy__problem_type_id=period.problem_type_id)
    # No default ordering: it would add a sort of every row to each aggregate.
    return rows.order_by()


def _figures() -> dict:
    """The counts every summary row carries, as aggregate expressions."""
    return {
        "filed": Count("pk"),
        "granted_by_rep": Count("pk", filter=Q(status=Status.GRANTED)),
        "approved": Count("pk", filter=Q(status=Status.APPROVED)),
        "denied": Count("pk", filter=Q(status=Status.DENIED)),
        "pending": Count("pk", filter=STILL_OPEN),
        "money_granted": Coalesce(
            Sum("amount", filter=GRANTED), Value(Decimal("0")), output_field=ExceptionRequest._meta.get_field("amount")
        ),
        "went_to_approver": Count("pk", filter=WENT_TO_APPROVER),
        "sla_kept": Count("pk", filter=WENT_TO_APPROVER & Q(breached_level__isnull=True)),
        "tier1": Count("pk", filter=Q(tier_level=1, beyond_all_tiers=False)),
        "tier2_reward": Count("pk", filter=Q(tier_level=2, tier_kind="reward")),
        "tier2_save": Count("pk", filter=Q(tier_level=2, tier_kind="save")),
        "tier3": Count("pk", filter=Q(tier_level=3)),
        "beyond": Count("pk", filter=Q(beyond_all_tiers=True)),
        **{f"cause_{c.value}": Count("pk", filter=Q(cause=c.value)) for c in Cause},
    }


def _with_rates(row: dict) -> dict:
    kept, sent = row["sla_kept"], row["went_to_approver"]
    # No request went to an approver: there is no SLA to keep, so no percentage (not 0%, not 100%).
    row["sla_kept_pct"] = round(100 * kept / sent, 1) if sent else None
    return row


def _decision_time() -> ExpressionWrapper:
    return ExpressionWrapper(F("decided_at") - F("filed_at"), output_field=DurationField())


class PercentileDisc(Aggregate):
    """PostgreSQL's nearest-rank percentile: one pass per group, no window and no second query."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, fraction: float) -> None:
        super().__init__(expression, fraction=fraction, output_field=DurationField())


def decision_time_percentiles(
    rows: QuerySet[ExceptionRequest], group: str | None
) -> dict[object, dict[str, timedelta]]:
    """Median and 90th percentile of time to an approver's decision, per group, by nearest rank
    (the value at rank ceil(p * n)). Groups without a decision are left out."""
    decided = rows.filter(DECIDED_BY_APPROVER, decided_at__isnull=False)
    keys = [group] if group else []
    if connection.vendor == "postgresql":
        figures = {
            "median": PercentileDisc(_decision_time(), fraction=0.5),
            "p90": PercentileDisc(_decision_time(), fraction=0.9),
        }
        if not keys:
            found = decided.aggregate(**figures)
            return {None: found} if found["median"] is not None else {}
        return {
            row[group]: {"median": row["median"], "p90": row["p90"]}
            for row in decided.values(group).annotate(**figures)
        }
    # Elsewhere (SQLite): rank each decision within its group with window functions and keep
    # the row at rank ceil(p * n), one query per percentile.
    partition = [F(group)] if group else None
    ranked = decided.annotate(
        duration=_decision_time(),
        rank=Window(RowNumber(), partition_by=partition, order_by=[_decision_time().asc(), F("pk").asc()]),
        group_size=Window(Count("pk"), partition_by=partition),
    )
    result: dict[object, dict[str, timedelta]] = {}
    for label, share in (("median", 0.5), ("p90", 0.9)):
        for row in ranked.filter(rank=Ceil(F("group_size") * share)).values(*keys, "duration"):
            result.setdefault(row[group] if group else None, {})[label] = row["duration"]
    return result


COUNTED = [*_figures().keys()]


def overview(period: Period) -> dict:
    """Totals, per problem type, per policy and the top policies, from one aggregate per policy:
    counts and sums add up, so the coarser tables are built from the policy rows. Percentiles do
    not add up and get their own query per grouping."""
    rows = requests_in(period)
    by_policy = list(
        rows.values("policy", "policy__name", "policy__problem_type", "policy__problem_type__name").annotate(
            **_figures()
        )
    )
    breaches: dict[int, dict[int, int]] = {}
    for row in (
        Escalation.objects.filter(request__in=rows.values("pk"))
        .values("request__policy", "from_level")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        breaches.setdefault(row["request__policy"], {})[row["from_level"]] = row["n"]

    totals = _empty_row()
    types: dict[int, dict] = {}
    for row in by_policy:
        row["breaches"] = breaches.get(row["policy"], {})
        ptype = types.setdefault(
            row["policy__problem_type"], _empty_row(row["policy__problem_type"], row["policy__problem_type__name"])
        )
        for target in (ptype, totals):
            _add(target, row)
        row["key"], row["name"] = row.pop("policy"), row.pop("policy__name")
        del row["policy__problem_type"], row["policy__problem_type__name"]

    for table, group in ((by_policy, "policy"), (list(types.values()), "policy__problem_type")):
        times = decision_time_percentiles(rows, group)
        for row in table:
            row.update(times.get(row["key"], {}))
            _with_rates(row)
    totals.update(decision_time_percentiles(rows, None).get(None, {}))
    _with_rates(totals)

    def ordered(table: list[dict]) -> list[dict]:
        return sorted(table, key=lambda r: (-r["filed"], r["name"]))

    by_policy = ordered(by_policy)
    return {
        "totals": totals,
        "by_problem_type": ordered(list(types.values())),
        "by_policy": by_policy,
        "top_policies": [{"policy__name": r["name"], "n": r["filed"]} for r in by_policy[:10]],
    }


def _empty_row(key: object = None, name: str = "") -> dict:
    return {"key": key, "name": name, **dict.fromkeys(COUNTED, 0), "money_granted": Decimal("0"), "breaches": {}}


def _add(into: dict, row: dict) -> None:
    for name in COUNTED:
        into[name] += row[name]
    for level, n in row["breaches"].items():
        into["breaches"][level] = into["breaches"].get(level, 0) + n


def summary(period: Period, *, by: str) -> list[dict]:
    """One row per problem type (``by="problem_type"``) or per policy (``by="policy"``)."""
    return overview(period)["by_problem_type" if by == "problem_type" else "by_policy"]


def totals(period: Period) -> dict:
    figures = overview(period)["totals"]
    del figures["key"], figures["name"]
    return figures


def weekly_trend(period: Period) -> tuple[list[date], list[dict]]:
    """Exceptions filed per week and problem type: (weeks, [{name, counts: [..per week..]}])."""
    # Grouped by policy (a column of the request itself, no join); problem types are summed below.
    rows = requests_in(period).annotate(week=TruncWeek("filed_at")).values("week", "policy").annotate(n=Count("pk"))
    type_of = dict(Policy.objects.values_list("pk", "problem_type__name"))
    first = period.start - timedelta(days=period.start.weekday())
    weeks = [first + timedelta(weeks=i) for i in range((period.end - first).days // 7 + 1)]
    series: dict[str, dict[date, int]] = {}
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        by_week = series.setdefault(type_of[row["policy"]], {})
        by_week[week] = by_week.get(week, 0) + row["n"]
    return weeks, [
        {"name": name, "counts": [by_week.get(w, 0) for w in weeks]} for name, by_week in sorted(series.items())
    ]


def frequent_customers(period: Period, limit: int = 10) -> list[dict]:
    # Grouped by id (not by the text columns) so the sort stays small; names are fetched for the top rows only.
    rows = list(
        requests_in(period)
        .values("customer")
        .annotate(filed=Count("pk"), granted=Count("pk", filter=GRANTED), policies=Count("policy", distinct=True))
        .filter(filed__gte=2)
        .order_by("-filed", "customer")[:limit]
    )
    names = {c.pk: c for c in Customer.objects.filter(pk__in=[r["customer"] for r in rows])}
    for row in rows:
        customer = names[row.pop("customer")]
        row["customer__external_ref"], row["customer__name"] = customer.external_ref, customer.name
    return sorted(rows, key=lambda r: (-r["filed"], r["customer__name"]))


def reps_granting(period: Period, limit: int = 10) -> list[dict]:
    rows = (
        requests_in(period)
        .filter(status=Status.GRANTED)
        .values("rep__username")
        .annotate(
            name=Concat("rep__first_name", Value(" "), "rep__last_name", output_field=CharField()),
            granted=Count("pk"),
            money=Sum("amount"),
        )
        .order_by("-granted", "rep__username")[:limit]
    )
    return [{**row, "name": row["name"].strip() or row["rep__username"]} for row in rows]


def approver_decision_times(period: Period) -> list[dict]:
    rows = requests_in(period).filter(DECIDED_BY_APPROVER)
    table = list(
        rows.values("decided_by", "decided_by__username", "decided_by__first_name", "decided_by__last_name")
        .annotate(
            decided=Count("pk"),
            approved=Count("pk", filter=Q(status=Status.APPROVED)),
            denied=Count("pk", filter=Q(status=Status.DENIED)),
            on_time=Count("pk", filter=Q(breached_level__isnull=True)),
        )
        .order_by("-decided")
    )
    times = decision_time_percentiles(rows, "decided_by")
    for row in table:
        full = f"{row.pop('decided_by__first_name')} {row.pop('decided_by__last_name')}".strip()
        row["name"] = full or row["decided_by__username"]
        row.update(times.get(row["decided_by"], {}))
    return table


def top_policies(period: Period, limit: int = 10) -> list[dict]:
    return overview(period)["top_policies"][:limit]


REQUEST_COLUMNS = (
    "reference", "filed_at", "customer__external_ref", "customer__name", "policy__name", "policy__problem_type__name",
    "rep__username", "sentiment", "cause", "tier_level", "tier_kind", "beyond_all_tiers", "amount", "business_days",
    "status", "approval_level", "breached_level", "decided_at", "decided_by__username",
)  # fmt: skip


def request_rows(period: Period) -> QuerySet:
    """The filtered list of requests as plain tuples (REQUEST_COLUMNS), for the CSV export: no
    model instances, so 100,000 rows stream in seconds."""
    return requests_in(period).order_by("filed_at", "pk").values_list(*REQUEST_COLUMNS)
