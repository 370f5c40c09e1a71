"""Requests in Django admin: read-only. Every change goes through services, so that
routing, the SLA and the audit trail are never bypassed."""

from __future__ import annotations

from django.contrib import admin

from exceptions_portal.audit_admin import AppendOnlyHistoryAdmin
from requests.models import Customer, Delegation, ExceptionRequest


class ReadOnlyAdmin(AppendOnlyHistoryAdmin):
    # No bulk action (delete_selected, or one added later by accident) changes a request, customer or
    # out-of-office: they change only through the services.
    actions = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExceptionRequest)
class ExceptionRequestAdmin(ReadOnlyAdmin):
    list_display = ["reference", "customer", "policy", "rep", "status", "tier_level", "amount", "filed_at", "due_at"]
    list_filter = ["status", "tier_level", "cause", "policy__problem_type", "policy"]
    list_select_related = ["customer", "policy", "rep"]
    search_fields = ["reference", "customer__name", "customer__external_ref"]
    date_hierarchy = "filed_at"


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["external_ref", "name", "created_at"]
    search_fields = ["external_ref", "name"]


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyAdmin):
    list_display = ["approver", "delegate", "starts_on", "ends_on"]
    list_select_related = ["approver", "delegate"]


from requests import webhook_admin  # noqa: E402, F401  (registers the webhook admin)
