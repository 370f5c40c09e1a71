"""Webhooks in Django admin: policy admins register endpoints, read the delivery log and replay deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from requests import webhooks
from requests.api_models import WebhookDelivery, WebhookEndpoint, WebhookEvent


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Where events are POSTed (http or https).")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "format", "events", "policy", "problem_type", "owner", "active", "secret"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhooks.check_url(url)
        except webhooks.WebhookUrlRefused as refused:
            raise forms.ValidationError(str(refused)) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "format", "policy", "problem_type", "active", "consecutive_failures"]
    list_filter = ["active", "format"]
    readonly_fields = ["consecutive_failures", "disabled_reason", "created_at"]
    list_select_related = ["policy", "problem_type"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        reenabled = change and "active" in form.changed_data and obj.active
        if reenabled:
            obj.consecutive_failures = 0
            obj.disabled_reason = ""
        super().save_model(request, obj, form, change)
        if reenabled:
            pending = list(
                obj.deliveries.filter(status=WebhookDelivery.Status.PENDING).order_by("pk").values_list("pk", flat=True)
            )
            with transaction.atomic():
                webhooks.enqueue_on_commit(pending)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "endpoint",
        "request",
        "status",
        "response_code",
        "latency_ms",
        "attempts",
        "webhook_id",
    ]
    list_filter = ["status", "event", "endpoint"]
    list_select_related = ["endpoint", "request"]
    search_fields = ["webhook_id", "request__reference"]
    date_hierarchy = "created_at"
    actions = ["replay"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Replay the selected deliveries (same webhook-id)", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhooks.webhook_delivery_replay(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)
