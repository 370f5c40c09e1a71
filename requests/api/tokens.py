"""Personal API tokens: created (shown once), listed and revoked by their user on a portal page."""

from __future__ import annotations

from datetime import date, datetime, time

from django import forms
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from requests.api_models import ApiToken, token_hash
from requests.services import ExceptionRequestError, InvalidInput, NotYours, TokenRefused

MAX_ACTIVE_TOKENS = 20


def api_token_create(*, user: AbstractBaseUser, name: str, expires_on: date | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it with the raw secret, which is never stored and never shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("Name the token after what will use it, e.g. “Zendesk app”.")
    now = timezone.now()
    if expires_on is not None and expires_on <= timezone.localdate(now):
        raise InvalidInput("The expiry date must be in the future.")
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=now).count()
    if active >= MAX_ACTIVE_TOKENS:
        raise TokenRefused(f"You have {active} active tokens: revoke one you no longer use first.")
    raw = ApiToken.new_raw()
    expires_at = timezone.make_aware(datetime.combine(expires_on, time.min)) if expires_on is not None else None
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:10], key_hash=token_hash(raw), expires_at=expires_at
    )
    return token, raw


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens: it stops working at once. The row stays, so the list shows it."""
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotYours("That token is not yours.")
    if not revoked:
        raise TokenRefused(f"“{token.name}” was already revoked.")
    return token


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “Zendesk app”.")
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The token stops working at the start of that day.",
    )


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST if "name" in request.POST else None)
    created_raw = None
    if request.method == "POST":
        if "revoke" in request.POST:
            try:
                token = api_token_revoke(user=request.user, token_id=int(request.POST["revoke"]))
            except (ValueError, ExceptionRequestError) as error:
                messages.error(request, str(error) if isinstance(error, ExceptionRequestError) else "Unknown token.")
            else:
                messages.success(request, f"“{token.name}” revoked: it no longer works.")
            return redirect("api_tokens")
        if form.is_valid():
            try:
                _, created_raw = api_token_create(
                    user=request.user, name=form.cleaned_data["name"], expires_on=form.cleaned_data["expires_on"]
                )
            except ExceptionRequestError as error:
                form.add_error(None, str(error))
            else:
                form = ApiTokenForm()
    context = {
        "form": form,
        "created_raw": created_raw,
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at"),
        "now": timezone.now(),
        "active_nav": "api_tokens",
    }
    # The page that shows a new token must not be cached anywhere.
    response = render(request, "requests/api_tokens.html", context)
    response["Cache-Control"] = "no-store"
    return response
