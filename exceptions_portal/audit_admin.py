"""The audit trail in Django admin: shown, never rewritten.

django-simple-history's ``history_form_view`` saves any POST after checking only the
view-history permission (upstream issue #1362), and ``SIMPLE_HISTORY_REVERT_DISABLED`` only
hides the button. Every model admin with history in this project uses
``AppendOnlyHistoryAdmin``: a version is rendered as a read-only table, anything but GET is
refused with 405, and an id that is not a number is a 404 rather than a 500.

The history list and a version read like the portal's request history: the same
``history_value`` and ``history_user_name`` (exceptions_portal.history) show every value, so a user
field shows a name (never "Deleted user (pk=None)"), a choice its label, a time the portal's
format in the active zone (TIME_ZONE unless the reader's browser set one), without microseconds.
"""

from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from exceptions_portal import formatting
from exceptions_portal.history import history_user_name, history_value

APPEND_ONLY_MESSAGE = (
    "The audit trail is append-only: an earlier version can be read here, never saved. "
    "Make a change on the record itself (where it may be changed), and the history records it as a new entry."
)
SAFE_METHODS = ("GET", "HEAD")


class PortalHistoryContextHelper(HistoricalRecordContextHelper):
    """The "Changes" column of the admin history list, each value shown as the portal shows it."""

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if isinstance(field, models.ManyToManyField):
            return super().prepare_delta_change_value(change, value)
        return history_value(field, value)


class AppendOnlyHistoryAdmin(SimpleHistoryAdmin):
    def get_historical_record_context_helper(self, request, historical_record) -> HistoricalRecordContextHelper:
        return PortalHistoryContextHelper(self.model, historical_record)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=False) -> None:
        # Foreign keys as their ids: history_value names them (a user by name), where the objects would
        # turn an empty one into "Deleted user (pk=None)".
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs=False)
        for record in historical_records:
            record.shown_user = history_user_name(record.history_user)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        self._object_pk(object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            response = render(
                request,
                "admin/audit_refused.html",
                {**self.admin_site.each_context(request), "message": APPEND_ONLY_MESSAGE, "opts": self.model._meta},
                status=405,
            )
            response["Allow"] = ", ".join(SAFE_METHODS)
            return response
        pk = self._object_pk(object_id)
        if not version_id.isdigit():
            raise Http404("No such version.")
        history_model = self.model._meta.simple_history_manager_attribute
        record = (
            getattr(self.model, history_model)
            .filter(**{self.model._meta.pk.attname: pk, "history_id": int(version_id)})
            .select_related("history_user")
            .first()
        )
        if record is None:
            raise Http404("No such version.")
        instance = record.instance
        if not self.has_view_history_or_change_history_permission(request, instance):
            raise PermissionDenied
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"{opts.verbose_name.capitalize()} “{instance}” as it stood on "
            f"{formatting.local(record.history_date, formatting.TEXT_DATE_TIME)}",
            "opts": opts,
            "original": instance,
            "record": record,
            "rows": version_rows(record, self.model),
            "shown_user": history_user_name(record.history_user),
            "history_url": reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_history", args=[instance.pk]
            ),
            "message": APPEND_ONLY_MESSAGE,
            **(extra_context or {}),
        }
        return render(request, "admin/audit_version.html", context)

    def _object_pk(self, object_id: str) -> object:
        try:
            return self.model._meta.pk.to_python(unquote(object_id))
        except (ValidationError, ValueError, TypeError):
            raise Http404("No such record.") from None


def version_rows(record: models.Model, model: type[models.Model]) -> list[tuple[str, str]]:
    """Label and value of every field of one history row, as people read them."""
    rows = []
    for field in model._meta.concrete_fields:
        if not hasattr(record, field.attname):
            continue  # a field the history does not keep (excluded_fields)
        rows.append((str(field.verbose_name).capitalize(), history_value(field, getattr(record, field.attname))))
    return rows
