"""Django admin for policy admins: a policy with its tiers, controls, rights and approvers on one page."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from simple_history.utils import update_change_reason

from exceptions_portal.audit_admin import AppendOnlyHistoryAdmin
from exceptions_portal.people import display_name
from policies.models import (
    ApproverLevel,
    BusinessCalendar,
    Control,
    ExceptionTier,
    Holiday,
    Policy,
    ProblemType,
    RepRight,
    Sentiment,
    tier_limit_errors,
)

admin.site.site_header = "Policy-exceptions portal: administration"
admin.site.site_title = "Exceptions portal admin"
admin.site.index_title = "Policies, tiers, limits and rights"

WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]


class ExceptionTierForm(forms.ModelForm):
    sentiments = forms.MultipleChoiceField(
        choices=Sentiment.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Customer sentiments this tier is meant for.",
    )

    class Meta:
        model = ExceptionTier
        fields = [
            "policy",
            "level",
            "kind",
            "description",
            "sentiments",
            "money_cap",
            "max_business_days",
            "supplier_exceptions_allowed",
        ]


class StandaloneTierForm(ExceptionTierForm):
    """A tier edited on its own page: its limits are checked against its policy's other tiers."""

    def _post_clean(self) -> None:
        super()._post_clean()  # copies the submitted values onto self.instance
        if self.errors or not self.instance.policy_id:
            return
        siblings = list(ExceptionTier.objects.filter(policy_id=self.instance.policy_id).exclude(pk=self.instance.pk))
        for error in tier_limit_errors([*siblings, self.instance]):
            self.add_error(None, error)


class ExceptionTierFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return  # each form shows its own errors first
        tiers = [form.instance for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        errors = tier_limit_errors(tiers)
        if errors:
            raise ValidationError(errors)


class ExceptionTierInline(admin.StackedInline):
    # Stacked: a tier has too many limits for one table row at laptop width.
    model = ExceptionTier
    form = ExceptionTierForm
    formset = ExceptionTierFormSet
    extra = 0
    min_num = 1


class LabelledTabularInline(admin.TabularInline):
    """A table of inline rows whose inputs have names for screen readers: a column header is not a label.

    Each input is named by its column and row ("Level, row 2"), and the delete box by its row.
    """

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        verbose = str(self.verbose_name)

        class Labelled(formset):
            def add_fields(self, form, index) -> None:
                super().add_fields(form, index)
                row = "new row" if index is None else f"row {index + 1}"
                for name, field in form.fields.items():
                    if name == "DELETE":
                        field.widget.attrs["aria-label"] = f"Delete {verbose}, {row}"
                    elif not field.widget.is_hidden:
                        # A foreign key's select sits inside the admin's "add another" wrapper.
                        widget = getattr(field.widget, "widget", field.widget)
                        widget.attrs["aria-label"] = f"{capfirst(str(field.label or name))}, {verbose} {row}"

        return Labelled


class ControlInline(LabelledTabularInline):
    model = Control
    extra = 0


class NoDuplicateRowsFormSet(forms.BaseInlineFormSet):
    """Refuses two rows that the database's conditional unique constraints would refuse with an
    IntegrityError (Django's formsets check only unconditional ones): a clear form error instead."""

    def row_key(self, data: dict) -> tuple | None:
        raise NotImplementedError

    def duplicate_message(self, data: dict) -> str:
        raise NotImplementedError

    def clean(self) -> None:
        super().clean()
        seen: set[tuple] = set()
        errors: list[str] = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue
            key = self.row_key(data)
            if key is None:
                continue
            if key in seen:
                errors.append(self.duplicate_message(data))
            seen.add(key)
        if errors:
            raise ValidationError(errors)


def _holder(data: dict) -> tuple[str, int] | None:
    if data.get("user") is not None:
        return ("user", data["user"].pk)
    if data.get("group") is not None:
        return ("group", data["group"].pk)
    return None


def _holder_name(data: dict) -> str:
    if data.get("user") is not None:
        return display_name(data["user"])
    return f"{data['group'].name} (group)"


class RepRightFormSet(NoDuplicateRowsFormSet):
    def row_key(self, data: dict) -> tuple | None:
        return _holder(data)

    def duplicate_message(self, data: dict) -> str:
        return f"{_holder_name(data)} has this right twice: remove one of the rows."


class ApproverLevelFormSet(NoDuplicateRowsFormSet):
    def row_key(self, data: dict) -> tuple | None:
        holder = _holder(data)
        return None if holder is None or data.get("level") is None else (data["level"], *holder)

    def duplicate_message(self, data: dict) -> str:
        return (
            f"{_holder_name(data)} is listed twice at level {data['level']}: keep one row (with the higher authority)."
        )


class RepRightInline(LabelledTabularInline):
    model = RepRight
    formset = RepRightFormSet
    extra = 0
    verbose_name = "rep right: may grant tier 2 without approval"
    verbose_name_plural = "rep rights: may grant tier 2 without approval"


class ApproverLevelInline(LabelledTabularInline):
    model = ApproverLevel
    formset = ApproverLevelFormSet
    extra = 0
    verbose_name = "approver"
    verbose_name_plural = "approvers (level 1 decides first; higher levels receive escalations)"


def _shown(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if value in (None, ""):
        return "—"
    return str(value)


def _inline_changes(formset) -> list[str]:
    """Human lines for what an inline formset added, changed or removed."""
    lines: list[str] = []
    for inline_form in formset.forms:
        if not inline_form.has_changed() and inline_form not in formset.deleted_forms:
            continue
        name = str(inline_form.instance)
        if inline_form in formset.deleted_forms:
            if inline_form.instance.pk or inline_form.initial:
                lines.append(f"removed {name}")
        elif inline_form.initial and inline_form.instance.pk:
            for field in inline_form.changed_data:
                label = inline_form.fields[field].label or field
                old = _shown(inline_form.initial.get(field))
                new = _shown(inline_form.cleaned_data.get(field))
                lines.append(f"{name}: {str(label).lower()} {old} → {new}")
        else:
            lines.append(f"added {name}")
    return lines


@admin.register(Policy)
class PolicyAdmin(AppendOnlyHistoryAdmin):
    list_display = ["name", "problem_type", "owner", "active", "sla_minutes", "needs_review"]
    list_filter = ["problem_type", "active", "needs_review"]
    list_select_related = ["problem_type", "owner"]
    search_fields = ["name", "statement", "rationale"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ExceptionTierInline, ControlInline, RepRightInline, ApproverLevelInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "problem_type", "owner", "active"]}),
        ("What the customer hears", {"fields": ["statement", "rationale"]}),
        ("Approval clock", {"fields": ["sla_minutes", "calendar"]}),
        ("Review", {"fields": ["review_threshold", "review_window_days", "needs_review", "review_reason"]}),
    ]

    def save_related(self, request, form, formsets, change) -> None:
        """Record the inline changes (tiers, controls, rights, approvers) in the policy's own
        history too, so that its History page answers "who changed this policy's limits?"."""
        super().save_related(request, form, formsets, change)
        changes = [line for formset in formsets for line in _inline_changes(formset)]
        if change and changes:
            update_change_reason(form.instance, "; ".join(changes)[:1000])

    def has_delete_permission(self, request, obj=None) -> bool:
        # A policy with requests is protected by the database anyway; deactivate instead.
        return False


@admin.register(ProblemType)
class ProblemTypeAdmin(AppendOnlyHistoryAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ExceptionTier)
class ExceptionTierAdmin(AppendOnlyHistoryAdmin):
    form = StandaloneTierForm
    list_display = ["policy", "level", "kind", "money_cap", "max_business_days", "supplier_exceptions_allowed"]
    list_filter = ["level", "kind", "policy__problem_type"]
    list_select_related = ["policy"]
    search_fields = ["policy__name", "description"]


@admin.register(Control)
class ControlAdmin(AppendOnlyHistoryAdmin):
    list_display = ["name", "policy"]
    list_select_related = ["policy"]
    search_fields = ["name", "policy__name"]


@admin.register(RepRight)
class RepRightAdmin(AppendOnlyHistoryAdmin):
    list_display = ["policy", "user", "group"]
    list_select_related = ["policy", "user", "group"]
    list_filter = ["policy"]


@admin.register(ApproverLevel)
class ApproverLevelAdmin(AppendOnlyHistoryAdmin):
    list_display = ["policy", "level", "user", "group", "money_authority"]
    list_select_related = ["policy", "user", "group"]
    list_filter = ["level", "policy"]


class BusinessCalendarForm(forms.ModelForm):
    working_days = forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = BusinessCalendar
        fields = ["name", "time_zone", "working_days", "opens_at", "closes_at"]


class HolidayInline(LabelledTabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(AppendOnlyHistoryAdmin):
    form = BusinessCalendarForm
    list_display = ["name", "time_zone", "opens_at", "closes_at"]
    inlines = [HolidayInline]


@admin.register(Holiday)
class HolidayAdmin(AppendOnlyHistoryAdmin):
    list_display = ["name", "date", "calendar"]
    list_select_related = ["calendar"]
    list_filter = ["calendar"]
