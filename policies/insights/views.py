"""The analysis page, its CSV exports, and marking a flagged policy as reviewed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from exceptions_portal import roles
from policies.insights import figures
from policies.insights.exports import EXPORTERS, csv_chunks
from policies.insights.forms import AnalysisFilterForm, ResolveFlagForm
from policies.insights.percentiles import decision_times
from policies.insights.periods import Period
from policies.insights.review import PolicyError, policy_review_resolve
from policies.models import ReviewFlag
from requests.models import Cause, ExceptionRequest


@permission_required(roles.ANALYSIS_PERMISSION, raise_exception=True)
@require_GET
def analysis_page(request: HttpRequest) -> HttpResponse:
    form = AnalysisFilterForm(request.GET or None)
    period = form.period_or_default()
    export = request.GET.get("export")
    if export:
        return _export(export, period)
    weeks, trend = figures.weekly_trend(period)
    # One pass over the decisions for the percentiles of every table.
    times = decision_times(period)
    overview = figures.overview(period, times=times)
    reps, approvers = figures.people(period, times=times)
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
        "totals": overview["totals"],
        "by_problem_type": overview["by_problem_type"],
        "by_policy": overview["by_policy"],
        "weeks": weeks,
        "trend": trend,
        "top_policies": overview["top_policies"],
        "customers": figures.frequent_customers(period),
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


def _export(identifier: str, period: Period) -> HttpResponse:
    exporter = EXPORTERS.get(identifier)
    if exporter is None:
        return HttpResponse(
            f"Unknown export “{identifier}”. Choose one of: {', '.join(EXPORTERS)}.",
            status=400,
            content_type="text/plain",
        )
    response = StreamingHttpResponse(csv_chunks(exporter.rows(period)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{exporter.filename(period)}"'
    return response


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
