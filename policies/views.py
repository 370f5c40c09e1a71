"""The analysis page, its CSV exports, and marking a flagged policy as reviewed."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from exceptions_portal import roles
from policies import analysis, charts
from policies.forms import AnalysisFilterForm, ResolveFlagForm
from policies.models import ReviewFlag, Sentiment
from policies.services import PolicyError, policy_review_resolve
from requests.models import Cause, ExceptionRequest, Status, tier_label


@permission_required(roles.ANALYSIS_PERMISSION, raise_exception=True)
@require_GET
def analysis_page(request: HttpRequest) -> HttpResponse:
    form = AnalysisFilterForm(request.GET or None)
    period = form.period_or_default()
    export = request.GET.get("export")
    if export:
        return _export(export, period)
    weeks, trend = analysis.weekly_trend(period)
    # One pass over the decisions for the percentiles of every table.
    times = analysis.decision_times(period)
    figures = analysis.overview(period, times=times)
    reps, approvers = analysis.people(period, times=times)
    top = figures["top_policies"]
    flags = list(ReviewFlag.objects.filter(resolved_at__isnull=True).select_related("policy").order_by("-raised_at"))
    behind = {
        r.pk: r
        for r in ExceptionRequest.objects.filter(pk__in=[pk for f in flags for pk in f.request_ids]).only(
            "pk", "reference"
        )
    }
    for flag in flags:
        flag.requests = [behind[pk] for pk in flag.request_ids if pk in behind]
    query = request.GET.copy()
    query.pop("export", None)
    context = {
        "form": form,
        "period": period,
        "totals": figures["totals"],
        "by_problem_type": figures["by_problem_type"],
        "by_policy": figures["by_policy"],
        "weeks": weeks,
        "trend": trend,
        "trend_chart": charts.line_chart(weeks, trend),
        "top_policies": top,
        "top_chart": charts.bar_chart([(row["policy__name"], row["n"]) for row in top], width=480, label_width=190),
        "customers": analysis.frequent_customers(period),
        "reps": reps,
        "approvers": approvers,
        "flags": flags,
        "causes": list(Cause),
        "can_resolve": request.user.has_perm("policies.change_policy"),
        "resolve_form": ResolveFlagForm(),
        "query": query.urlencode(),
        "active_nav": "analysis",
    }
    return render(request, "policies/analysis.html", context)


def _money(value: Decimal | None) -> str:
    # SQLite returns sums as floats-in-decimals (30.6000000000000): exports always show cents.
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


def _csv_chunks(rows: Iterable[Iterable[object]], *, rows_per_chunk: int = 1000) -> Iterator[str]:
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


def _summary_rows(rows: list[dict], label: str):
    causes = [c for c in Cause]
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
            _money(row["money_granted"]),
            analysis.format_duration(row.get("median")),
            analysis.format_duration(row.get("p90")),
            "" if row["sla_kept_pct"] is None else row["sla_kept_pct"],
            "; ".join(f"level {level}: {n}" for level, n in sorted(row["breaches"].items())),
        ]


def _export(name: str, period: analysis.Period) -> HttpResponse:
    tables = {
        "problem_types": lambda: _summary_rows(analysis.summary(period, by="problem_type"), "problem type"),
        "policies": lambda: _summary_rows(analysis.summary(period, by="policy"), "policy"),
        "customers": lambda: (
            [["customer reference", "customer", "filed", "granted", "policies"]]
            + [
                [r["customer__external_ref"], r["customer__name"], r["filed"], r["granted"], r["policies"]]
                for r in analysis.frequent_customers(period, limit=1000)
            ]
        ),
        "reps": lambda: (
            [["rep", "granted at once", "money granted"]]
            + [[r["name"], r["granted"], _money(r["money"])] for r in analysis.reps_granting(period, limit=1000)]
        ),
        "approvers": lambda: (
            [["approver", "decided", "approved", "denied", "within SLA", "median time to decision", "90th percentile"]]
            + [
                [
                    r["name"],
                    r["decided"],
                    r["approved"],
                    r["denied"],
                    r["on_time"],
                    analysis.format_duration(r.get("median")),
                    analysis.format_duration(r.get("p90")),
                ]
                for r in analysis.approver_decision_times(period)
            ]
        ),
        "requests": lambda: _request_rows(period),
    }
    if name not in tables:
        return HttpResponse(
            f"Unknown export “{name}”. Choose one of: {', '.join(tables)}.", status=400, content_type="text/plain"
        )
    filename = f"exceptions-{name}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response = StreamingHttpResponse(_csv_chunks(tables[name]()), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _request_rows(period: analysis.Period):
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
    # Unpacked in the order of analysis.REQUEST_COLUMNS: a dict a row cost a tenth of the export.
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
    ) in analysis.request_rows(period).iterator(chunk_size=2000):
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
            _money(amount),
            business_days,
            statuses.get(status, status),
            approval_level or "",
            breached_level or "",
            decided_at.isoformat() if decided_at else "",
            decided_by_username or "",
        ]


@permission_required("policies.change_policy", raise_exception=True)
@require_POST
def flag_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    form = ResolveFlagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what the review changed and write a short note (at most 2,000 characters).")
        return redirect("policies:analysis")
    try:
        flag = policy_review_resolve(flag_id=pk, admin=request.user, **form.cleaned_data)
    except PolicyError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"“{flag.policy.name}” marked as reviewed: {flag.get_resolution_display().lower()}.")
    return redirect("policies:analysis")
