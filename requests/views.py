"""Views: form → service → redirect. Domain errors become form errors or messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.paginator import Paginator
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exceptions_portal import formatting, roles
from exceptions_portal.people import display_name
from policies.models import Policy
from policies.routing import money
from requests import decision_links, selectors, services, sla
from requests import notifications as notices
from requests.authority import approver_standing, portal_today
from requests.forms import (
    AllRequestsForm,
    AnswerForm,
    AskForm,
    CustomerMessageForm,
    DecisionForm,
    DelegationForm,
    EmailDecisionForm,
    ExceptionRequestForm,
    MyRequestsFilterForm,
    PreferenceForm,
    PreviewForm,
    QueueFilterForm,
    WithdrawForm,
)
from requests.models import WITHDRAWABLE_STATUSES, Delegation, ExceptionRequest, Notification, Status
from requests.pagination import CappedPaginator

PAGE_SIZE = 25
# Requests waiting for the rep's answer shown (marked) above the queue.
QUEUE_WAITING_SHOWN = 50
# How far past the page shown the queue counts: "page 1 of at least 41" beyond that.
QUEUE_LOOK_AHEAD = 1000


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to where it works."""
    user = request.user
    if roles.can_decide(user):
        return redirect("requests:queue")
    if roles.can_file(user):
        return redirect("requests:mine")
    if roles.can_use_admin(user):
        return redirect("admin:index")
    return render(request, "portal/no_role.html", status=403)


@permission_required(roles.FILE_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    form = ExceptionRequestForm(request.POST or None, initial=_initial_from_query(request))
    if request.method == "POST" and form.is_valid():
        try:
            filed, first_time = _file_once(request, form)
        except services.FilingRefused as refused:
            for reason in refused.reasons:
                form.add_error(None, reason)
            form.add_error(None, "Nothing was saved.")
        except services.CustomerNameConflict as conflict:
            form.add_error("customer_name", str(conflict))
        except services.ExceptionRequestError as error:
            form.add_error(None, str(error))
        else:
            if not first_time:
                messages.info(request, f"This form was already filed as {filed.reference}: it was not filed again.")
            elif filed.status == "granted":
                messages.success(request, f"{filed.reference} granted: you may give the customer this exception now.")
            else:
                due = formatting.local(filed.due_at, formatting.TEXT_TIME_ON_DAY)
                messages.info(request, f"{filed.reference} is pending: an approver will decide by {due}.")
            return redirect("requests:detail", pk=filed.pk)
    context = {
        "form": form,
        "active_nav": "new",
        "tier_caps": _tier_caps(),
        "preview_fields": PreviewForm.ROUTING_FIELDS,
    }
    if form.errors:
        context["error_summary"] = _error_summary(form)
    return render(request, "requests/new.html", context)


def _tier_caps() -> dict[str, list[dict]]:
    """Each active policy's tiers as the form's script shows them beside the amount and the days."""
    policies = Policy.objects.filter(active=True).prefetch_related("tiers")
    return {
        str(policy.pk): [
            {
                "label": str(tier),
                "cap": money(tier.money_cap),
                "capValue": str(tier.money_cap),
                "days": tier.max_business_days,
            }
            for tier in sorted(policy.tiers.all(), key=lambda t: (t.level, t.kind))
        ]
        for policy in policies
    }


def _error_summary(form) -> list[dict]:
    """The form's errors, each with the field it is about (for the summary's links), the form's own last."""
    summary = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        for error in errors:
            if field is None:
                summary.append({"id": "", "label": "", "error": error})
            else:
                # A radio group has no id of its own: the link goes to its first option.
                target = form[name].id_for_label or form[name].subwidgets[0].id_for_label
                summary.append(
                    {"id": target, "label": field.label or name.replace("_", " ").capitalize(), "error": error}
                )
    return sorted(summary, key=lambda row: row["id"] == "")


def _file_once(request: HttpRequest, form: ExceptionRequestForm) -> tuple[ExceptionRequest, bool]:
    """File the form, once per one-time token (a form posted without one, from an old page, files as before)."""
    token = form.cleaned_data.get("filing_token")
    facts = form.filing_facts()
    if token is None:
        return services.exception_request_file(rep=request.user, facts=facts), True
    return services.exception_request_file_once(rep=request.user, facts=facts, filing_token=token)


@permission_required(roles.FILE_PERMISSION, raise_exception=True)
@require_POST
def customer_hint(request: HttpRequest) -> HttpResponse:
    """Whose reference this is, as the rep types it (htmx): the known customer and their exceptions.
    POSTed so that the customer's reference and name never reach a URL (access logs, proxies)."""
    reference = request.POST.get("customer_ref", "")[:64]
    name = request.POST.get("customer_name", "")[:200]
    known = selectors.known_customer(reference=reference) if reference.strip() else None
    conflict = services.customer_name_conflict(known.customer, name) if known else None
    return render(
        request, "requests/_customer_hint.html", {"known": known, "conflict": conflict, "reference": reference}
    )


def _initial_from_query(request: HttpRequest) -> dict:
    policy = request.GET.get("policy", "")
    return {"policy": policy} if policy.isdigit() else {}


@permission_required(roles.FILE_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def request_preview(request: HttpRequest) -> HttpResponse:
    """The routing preview (htmx): what filing would decide with the form as it stands.

    The page POSTs only ``PreviewForm.ROUTING_FIELDS`` (never free text, nor anything in the
    URL, which access logs and proxies keep); GET is still answered for links and scripts."""
    data = request.POST if request.method == "POST" else request.GET
    if not data.get("policy"):
        # The form was just opened (htmx asks on load): the panel explains itself.
        return render(request, "requests/_preview.html", {"blank": True})
    form = PreviewForm(data)
    context: dict = {"ready": False}
    if form.is_valid():
        try:
            decision, due = services.exception_request_preview(rep=request.user, facts=form.filing_facts())
        except services.ExceptionRequestError as error:
            context["problem"] = str(error)
        else:
            context.update(ready=True, decision=decision, due_at=due, policy=form.cleaned_data["policy"])
    else:
        context["missing"], context["wrong"] = form.routing_problems()
    return render(request, "requests/_preview.html", context)


@permission_required(roles.FILE_PERMISSION, raise_exception=True)
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    filters = MyRequestsFilterForm(request.GET or None)
    criteria = {name: value for name, value in filters.cleaned_data.items() if value} if filters.is_valid() else {}
    rows = selectors.my_requests(user=request.user, **criteria)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": filters,
        "filtered": bool(criteria),
        "query": query.urlencode(),
        "waiting": selectors.my_requests(user=request.user, status=Status.WAITING_FOR_REP).count(),
        "waiting_status": Status.WAITING_FOR_REP,
        "active_nav": "mine",
        "now": timezone.now(),
    }
    return render(request, "requests/mine.html", context)


@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception_request = selectors.get_request_for_user(user=request.user, pk=pk)
    # Opening a request reads its notifications (a GET writing only the reader's own read marks).
    notices.notifications_mark_read(user=request.user, request_id=exception_request.pk)
    return _detail_page(request, exception_request)


# What a refused form on the request page says first, above its reasons.
REFUSED_HEADINGS = {
    "decision_form": "Nothing was decided",
    "ask_form": "The question was not sent",
    "answer_form": "Nothing was sent",
    "withdraw_form": "Nothing was withdrawn",
    "message_form": "The message was not saved",
}


def _detail_page(
    request: HttpRequest,
    exception_request: ExceptionRequest,
    *,
    refused: tuple[str, Form] | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    """The request page. After a refused POST, that form comes back bound (what was typed stays, with why it was
    refused, the service's ``refusal`` first) in place of a blank one."""
    earlier = selectors.customer_exceptions(customer_id=exception_request.customer_id, exclude_pk=exception_request.pk)
    context = {
        "req": exception_request,
        "earlier": earlier[:50],
        "openable": selectors.openable_request_ids(user=request.user, rows=earlier),
        "history": selectors.request_history_entries(exception_request=exception_request),
        "attachments": list(exception_request.attachments.select_related("uploaded_by")),
        "may_attach": selectors.may_attach(user=request.user, exception_request=exception_request),
        "attachments_removable": exception_request.status in selectors.REMOVABLE_STATUSES,
        "attachment_max_mb": settings.ATTACHMENT_MAX_MB,
        "attachment_max_count": settings.ATTACHMENT_MAX_COUNT,
        "now": timezone.now(),
        "is_filing_rep": exception_request.rep_id == request.user.pk,
        "thread": exception_request.thread.select_related("author"),
        "decision_form": DecisionForm(),
        "ask_form": AskForm(),
        "withdraw_form": WithdrawForm(),
        "answer_form": AnswerForm(
            initial={"amount": exception_request.amount, "business_days": exception_request.business_days}
        ),
        "can_withdraw": exception_request.rep_id == request.user.pk
        and exception_request.status in WITHDRAWABLE_STATUSES,
    }
    if exception_request.due_at:
        context["time_left"] = sla.format_time_left(sla.time_left(now=context["now"], due_at=exception_request.due_at))
    if context["is_filing_rep"] and exception_request.is_decided and not exception_request.message_sent_at:
        context["message_form"] = CustomerMessageForm(initial={"text": exception_request.customer_message})
    context.update(selectors.decision_context(user=request.user, exception_request=exception_request))
    if refused is not None:
        name, form = refused
        context[name] = form
        context["refused_heading"] = REFUSED_HEADINGS[name]
        context["error_summary"] = ([{"id": "", "label": "", "error": refusal}] if refusal else []) + _error_summary(
            form
        )
    return render(request, "requests/detail.html", context, status=status)


def _act_on_form(
    request: HttpRequest,
    pk: int,
    name: str,
    form: Form,
    action: Callable[[dict], object],
    success: str | Callable[[Any], str],
    *,
    then: str = "",
) -> HttpResponse:
    """A form on the request page through its service. Done: a message and a redirect (POST/redirect/GET).
    Refused, by the form (400) or by a rule (409): the request page again, with the form as it was typed."""
    if form.is_valid():
        try:
            done = action(form.cleaned_data)
        except services.ExceptionRequestError as error:
            refusal, status = str(error), 409
        else:
            messages.success(request, success if isinstance(success, str) else success(done))
            return redirect(then or reverse("requests:detail", args=[pk]))
    else:
        refusal, status = "", 400
    exception_request = selectors.get_request_for_user(user=request.user, pk=pk)
    return _detail_page(request, exception_request, refused=(name, form), refusal=refusal, status=status)


@require_POST
def request_message(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_to_outsider(request, pk)
    send = "send" in request.POST
    return _act_on_form(
        request,
        pk,
        "message_form",
        CustomerMessageForm(request.POST),
        lambda data: services.customer_message_save(request_id=pk, rep=request.user, text=data["text"], send=send),
        "Message marked as sent." if send else "Draft saved.",
    )


@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    rows = Notification.objects.filter(user=request.user).select_related("request").order_by("-created_at")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "requests/notifications.html", {"page": page, "active_nav": "notifications"})


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    notices.notifications_mark_read(user=request.user)
    messages.success(request, "All notifications marked as read.")
    return redirect("requests:notifications")


@permission_required(roles.DECIDE_PERMISSION, raise_exception=True)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The approver's queue: assigned to them, their groups or whom they stand in for; oldest deadline first."""
    filters = QueueFilterForm(request.GET or None)
    standing = approver_standing(user=request.user)
    queue = selectors.approver_queue(user=request.user, standing=standing)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    now = timezone.now()

    def in_order(size: int):
        return selectors.queue_filtered(queue.in_order(size), **chosen, user=request.user, now=now)

    counted = selectors.queue_filtered(queue.counted, **chosen, user=request.user, now=now)
    paginator = CappedPaginator(counted, PAGE_SIZE, look_ahead=QUEUE_LOOK_AHEAD, in_order=in_order)
    page = paginator.get_page(request.GET.get("page"))
    # The authority each decision would apply, by the rule the decision itself uses: rows above it are
    # flagged ("needs 2,500: you hold 250"), not hidden; they may still deny.
    selectors.authorities_for(standing=standing, rows=page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    waiting = list(selectors.waiting_for_rep_at_my_levels(user=request.user, standing=standing)[:QUEUE_WAITING_SHOWN])
    return render(
        request,
        "requests/queue.html",
        {
            "page": page,
            "filters": filters,
            "active_nav": "queue",
            "now": timezone.now(),
            "query": query.urlencode(),
            "filtered": any(value for key, value in request.GET.items() if key != "page"),
            "waiting": waiting,
        },
    )


@permission_required(roles.DECIDE_PERMISSION, raise_exception=True)
@require_POST
def queue_claim(request: HttpRequest) -> HttpResponse:
    """Bulk claim or release from the queue's checkboxes: each request through the claim service."""
    release = request.POST.get("action") == "release"
    ids = [int(pk) for pk in request.POST.getlist("request") if pk.isdigit()][:PAGE_SIZE]
    if not ids:
        messages.error(request, "Tick the requests to claim or release first.")
    done, refused = [], []
    for pk in ids:
        try:
            claimed = services.exception_request_claim(request_id=pk, approver=request.user, release=release)
        except services.ExceptionRequestError as error:
            refused.append(str(error))
        else:
            done.append(claimed.reference)
    if done:
        messages.success(request, f"{'Released' if release else 'Claimed'}: {', '.join(done)}.")
    for reason in refused:
        messages.error(request, reason)
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/requests/queue/") else "requests:queue")


@permission_required(roles.VIEW_PERMISSION, raise_exception=True)
@require_GET
def all_requests(request: HttpRequest) -> HttpResponse:
    """Every request the person may see (reps: their own; approvers: what is or was at their levels and
    what they decided; policy admins: all), searched by reference, customer reference or name."""
    form = AllRequestsForm(request.GET or None)
    rows = selectors.all_requests(user=request.user, **(form.cleaned_data if form.is_valid() else {}))
    page = CappedPaginator(rows, PAGE_SIZE, look_ahead=QUEUE_LOOK_AHEAD).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "requests/all.html",
        {
            "page": page,
            "form": form,
            "active_nav": "all",
            "now": timezone.now(),
            "query": query.urlencode(),
            "filtered": any(value for key, value in request.GET.items() if key != "page"),
        },
    )


def _act_on_request(request: HttpRequest, pk: int, action: Callable[[], object], success: str) -> HttpResponse:
    """Call a service; its refusal becomes an error message, and the user lands back on the request."""
    try:
        action()
    except services.ExceptionRequestError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success)
    return redirect("requests:detail", pk=pk)


def _refuse_to_outsider(request: HttpRequest, pk: int) -> None:
    """404 for what the user may not see, before any form is read."""
    selectors.get_request_for_user(user=request.user, pk=pk)


@permission_required(roles.DECIDE_PERMISSION, raise_exception=True)
@require_POST
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """A refused decision (a denial without its alternative, above authority, already decided) shows the request
    again with the reason and with what was typed; a decision made goes back to the queue."""
    _refuse_to_outsider(request, pk)
    return _act_on_form(
        request,
        pk,
        "decision_form",
        DecisionForm(request.POST),
        lambda data: services.exception_request_decide(
            request_id=pk,
            approver=request.user,
            approve=data["decision"] == "approve",
            note=data["note"],
            alternative=data["alternative"],
        ),
        lambda decided: f"{decided.reference} {decided.get_status_display().lower()}. The rep was notified.",
        then=reverse("requests:queue"),
    )


@permission_required(roles.DECIDE_PERMISSION, raise_exception=True)
@require_POST
def request_claim(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_to_outsider(request, pk)
    release = request.POST.get("action") == "release"
    return _act_on_request(
        request,
        pk,
        lambda: services.exception_request_claim(request_id=pk, approver=request.user, release=release),
        "Released: colleagues may pick it up." if release else "Claimed: colleagues see you are on it.",
    )


@permission_required(roles.DECIDE_PERMISSION, raise_exception=True)
@require_POST
def request_ask(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_to_outsider(request, pk)
    return _act_on_form(
        request,
        pk,
        "ask_form",
        AskForm(request.POST),
        lambda data: services.exception_request_ask(request_id=pk, approver=request.user, question=data["question"]),
        "Question sent. The SLA clock is paused until the rep answers.",
    )


@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_to_outsider(request, pk)
    return _act_on_form(
        request,
        pk,
        "withdraw_form",
        WithdrawForm(request.POST),
        lambda data: services.exception_request_withdraw(request_id=pk, rep=request.user, reason=data["reason"]),
        "Withdrawn: it left the approvers' queue, and they were told.",
    )


@require_POST
def request_answer(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_to_outsider(request, pk)
    return _act_on_form(
        request,
        pk,
        "answer_form",
        AnswerForm(request.POST),
        lambda data: services.exception_request_answer(
            request_id=pk,
            rep=request.user,
            answer=data["answer"],
            amount=data["amount"],
            business_days=data["business_days"],
        ),
        "Answer sent: the request is back in the approver's queue.",
    )


@permission_required(roles.DECIDE_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def delegation(request: HttpRequest) -> HttpResponse:
    """Out of office: name a delegate for a date range, or end one."""
    form = DelegationForm(request.POST if "delegate" in request.POST else None, user=request.user)
    if request.method == "POST":
        if "end" in request.POST:
            try:
                services.delegation_end(delegation_id=int(request.POST["end"]), approver=request.user)
            except (ValueError, services.ExceptionRequestError) as error:
                messages.error(
                    request,
                    str(error) if isinstance(error, services.ExceptionRequestError) else "Unknown out-of-office.",
                )
            else:
                messages.success(request, "Out-of-office ended.")
            return redirect("requests:delegation")
        if form.is_valid():
            try:
                services.delegation_create(approver=request.user, **form.cleaned_data)
            except services.ExceptionRequestError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, "Out-of-office saved: your delegate sees your queue while it runs.")
                return redirect("requests:delegation")
    today = portal_today()
    context = {
        "form": form,
        "mine": Delegation.objects.filter(approver=request.user, ends_on__gte=today).select_related("delegate"),
        "for_me": Delegation.objects.filter(delegate=request.user, ends_on__gte=today).select_related("approver"),
        "active_nav": "queue",
    }
    return render(request, "requests/delegation.html", context)


@permission_required(roles.VIEW_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """How the person is emailed: every notification, or a digest every 15 / 30 / 60 minutes."""
    preference = notices.preference_for(request.user)
    # Offer the browser's time zone (the tz cookie, see BrowserTimezoneMiddleware) until one is saved.
    browser_zone = timezone.get_current_timezone_name() if preference.pk is None else ""
    form = PreferenceForm(
        request.POST or None,
        initial={
            "digest_minutes": preference.digest_minutes,
            "time_zone": preference.time_zone or (browser_zone if browser_zone != settings.TIME_ZONE else ""),
        },
    )
    if request.method == "POST" and form.is_valid():
        notices.preference_save(user=request.user, **form.cleaned_data)
        messages.success(request, "Saved: this is how you are emailed from now on.")
        return redirect("requests:preferences")
    return render(request, "requests/preferences.html", {"form": form, "active_nav": "notifications"})


@login_not_required
@require_http_methods(["GET", "POST"])
def email_decide(request: HttpRequest, token: str) -> HttpResponse:
    """The confirm page of an email's Approve / Deny link. GET shows and changes nothing (mail scanners
    follow links); POST decides, through the same service and rules as the portal. Works from the token
    alone, without a session, for that one request; above the step-up amount it asks for the password."""
    check = decision_links.link_check(token)
    problem = check.problem
    approver = check.approver
    if approver is not None and request.user.is_authenticated and request.user.pk != approver.pk:
        problem = (
            f"This link was sent to {display_name(approver)}, and you are logged in "
            f"as {display_name(request.user)}: open the request in the portal."
        )
    action = request.GET.get("action", "")
    initial = {"decision": action} if action in decision_links.ACTIONS else {}
    req = check.request
    step_up = req is not None and decision_links.needs_password(req)
    form = EmailDecisionForm(
        request.POST if request.method == "POST" and not problem else None, initial=initial, step_up=step_up
    )
    if request.method == "POST" and not problem and form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        # A leaked email must not let anyone guess the approver's password without limit.
        attempt = decision_links.password_attempt_reserve(approver) if approve and step_up else None
        if approve and step_up and attempt is None:
            form.add_error(
                "password",
                "Too many wrong passwords: log in to the portal and decide this request there. Nothing was decided.",
            )
        elif attempt is not None and not approver.check_password(form.cleaned_data["password"]):
            form.add_error("password", "That is not your password. Nothing was decided.")
        else:
            if attempt is not None:
                decision_links.password_attempt_release(attempt)
            try:
                decided = services.exception_request_decide(
                    request_id=req.pk,
                    approver=approver,
                    approve=approve,
                    note=form.cleaned_data["note"],
                    alternative=form.cleaned_data["alternative"],
                    expected_level=check.level,
                )
            except services.ExceptionRequestError as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request, f"{decided.reference} {decided.get_status_display().lower()}. The rep was notified."
                )
                return redirect(request.get_full_path())
    context = {
        "check": check,
        "problem": problem,
        "req": req,
        "form": form,
        "authority": notices._authority_for(approver, req) if req is not None and approver else None,
        "approver": approver,
    }
    status = 400 if req is None else 200
    return render(request, "requests/email_decide.html", context, status=status)


@require_POST
def attachment_add(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_to_outsider(request, pk)
    uploads = request.FILES.getlist("file")
    if not uploads:
        messages.error(request, "Choose a file to attach.")
        return redirect("requests:detail", pk=pk)
    for upload in uploads:
        try:
            attachment = services.attachment_add(request_id=pk, user=request.user, upload=upload)
        except services.ExceptionRequestError as error:
            messages.error(request, f"Not attached: {error}")
        else:
            messages.success(request, f"Attached “{attachment.name}”.")
    return redirect(f"{reverse('requests:detail', args=[pk])}#attachments-heading")


@require_POST
def attachment_remove(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponse:
    selectors.get_attachment_for_user(user=request.user, request_pk=pk, pk=attachment_pk)
    try:
        name = services.attachment_remove(attachment_id=attachment_pk, user=request.user)
    except services.ExceptionRequestError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Removed “{name}”.")
    return redirect(f"{reverse('requests:detail', args=[pk])}#attachments-heading")


@require_GET
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int, thumbnail: bool = False) -> HttpResponse:
    """The file itself, only to who may see the request, always as a download of the checked type."""
    attachment = selectors.get_attachment_for_user(user=request.user, request_pk=pk, pk=attachment_pk)
    stored = attachment.thumbnail if thumbnail else attachment.file
    if not stored:
        raise Http404("No thumbnail for this attachment.")
    try:
        handle = stored.open("rb")
    except FileNotFoundError as missing:
        raise Http404("The stored file is missing.") from missing
    name = attachment.name.rpartition(".")[0] + "-thumbnail.png" if thumbnail else attachment.name
    response = FileResponse(
        handle, as_attachment=True, filename=name, content_type="image/png" if thumbnail else attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A customer's whole story: every exception request under every policy, and how often they ask."""
    customer = selectors.get_customer_for_user(user=request.user, pk=pk)
    rows = selectors.customer_exceptions(customer_id=customer.pk)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    counts = {
        days: selectors.customer_requests_filed(
            customer_id=customer.pk, first_day=today - timedelta(days=days - 1), last_day=today
        )
        for days in (90, 365)
    }
    context = {
        "customer": customer,
        "page": page,
        "openable": selectors.openable_request_ids(user=request.user, rows=rows),
        "counts": counts,
        "frequent": selectors.is_frequent_asker(counts[90]),
        "frequent_min": selectors.FREQUENT_ASKER_MIN_REQUESTS,
        "now": timezone.now(),
    }
    return render(request, "requests/customer.html", context)


class PortalLogoutView(auth_views.LogoutView):
    """Log out on POST (the navigation's button) and say so; a GET (a bookmarked or typed link) asks first."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("login")
        return render(request, "registration/logout_confirm.html")

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, "You have logged out. Close the browser on a shared computer.")
        return response
