"""The analysis page's period filter and the form that marks a flagged policy as reviewed."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from exceptions_portal import formatting
from exceptions_portal.fields import SafeModelChoiceField
from policies.insights.periods import Period
from policies.models import ProblemType, ReviewFlag

PRESETS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("365", "Last 365 days"),
    ("custom", "Custom dates"),
]
MAX_DAYS = 5 * 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


class AnalysisFilterForm(forms.Form):
    period = forms.ChoiceField(choices=PRESETS, initial="30", required=False)
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    problem_type = SafeModelChoiceField(
        queryset=ProblemType.objects.none(), required=False, empty_label="All problem types"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Dates typed in From/To apply without choosing "Custom dates" first (the page's script also clears
        # them when a preset is picked, so that a preset chosen later wins).
        if self.is_bound and (self.data.get("start") or self.data.get("end")) and self.data.get("period") != "custom":
            data = self.data.copy()
            data["period"] = "custom"
            self.data = data
        self.fields["problem_type"].queryset = ProblemType.objects.order_by("name")
        for name in ("period", "problem_type"):
            self.fields[name].widget.attrs["class"] = "form-select"
        for name in ("start", "end"):
            self.fields[name].widget.attrs["class"] = "form-control"

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("start", "end"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                raise forms.ValidationError(
                    f"Choose dates between {formatting.local(EARLIEST, formatting.TEXT_DATE)} "
                    f"and {formatting.local(LATEST, formatting.TEXT_DATE)}."
                )
        if (cleaned.get("period") or "30") == "custom":
            start, end = cleaned.get("start"), cleaned.get("end")
            if not start or not end:
                raise forms.ValidationError("Custom dates need both a first and a last day.")
            if end < start:
                raise forms.ValidationError("The last day must be on or after the first day.")
            if (end - start).days > MAX_DAYS:
                raise forms.ValidationError("Choose a period of at most five years.")
        return cleaned

    def period_or_default(self, today: date | None = None) -> Period:
        """The chosen period; the last 30 days when the form is empty or invalid."""
        today = today or timezone.localdate()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        preset = data.get("period") or "30"
        problem_type = data.get("problem_type")
        problem_type_id = problem_type.pk if problem_type else None
        if preset == "custom":
            return Period(data["start"], data["end"], problem_type_id)
        return Period(today - timedelta(days=int(preset) - 1), today, problem_type_id)


class ResolveFlagForm(forms.Form):
    resolution = forms.ChoiceField(choices=ReviewFlag.Resolution.choices, widget=forms.RadioSelect)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
