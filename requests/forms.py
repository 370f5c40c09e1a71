from __future__ import annotations

import uuid
from decimal import Decimal
from zoneinfo import available_timezones

from crispy_forms.bootstrap import InlineRadios, StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Field, Fieldset, Layout, LayoutObject, Row
from crispy_forms.utils import TEMPLATE_PACK
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from exceptions_portal.fields import (
    SafeModelChoiceField,
    SafeModelMultipleChoiceField,
    copied_lightly,
    out_of_key_range,
)
from exceptions_portal.people import display_name
from policies.models import MAX_MONEY, Control, Policy, ProblemType, Sentiment
from policies.routing import money as format_money
from policies.selectors import policy_with_rules
from requests.models import Cause, NotificationPreference, Status
from requests.references import customer_ref_problem
from requests.services import FilingFacts


class ControlCheckboxes(forms.CheckboxSelectMultiple):
    """Each control carries its policy, so that a small script shows only the chosen policy's controls."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-policy"] = str(instance.policy_id)
        return option


class PolicyChoiceField(SafeModelChoiceField):
    """Any policy, found through this process's cache of the policies with their rules (policy_with_rules),
    which filing reads next: a valid filing reads its policy once, or not at all while the rules are unchanged."""

    def label_from_instance(self, obj: Policy) -> str:
        return f"{obj.name} ({obj.problem_type.name})"

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, Policy):
            return value
        if out_of_key_range(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        try:
            policy_id = int(str(value).strip())
        except (TypeError, ValueError):
            policy_id = None
        policy = policy_with_rules(policy_id) if policy_id is not None else None
        if policy is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value})
        return policy


def _valid_customer_ref(value: str) -> None:
    problem = customer_ref_problem(value)
    if problem:
        raise ValidationError(problem)


@copied_lightly  # copied at every filing POST
class ExceptionRequestForm(forms.Form):
    customer_ref = forms.CharField(
        label="Customer reference",
        max_length=64,
        validators=[_valid_customer_ref],
        help_text="Their account or order reference. A new reference creates the customer; case, spaces and "
        "trailing punctuation (a dot, a slash, a comma) do not make another customer.",
    )
    customer_name = forms.CharField(
        label="Customer name", max_length=200, required=False, help_text="Needed for a new customer."
    )
    # Validation accepts any policy, so that a form left open while a policy was deactivated gets routing's clear
    # "no longer active" instead of "invalid choice"; the form shows the active ones (active_choices, below).
    policy = PolicyChoiceField(
        queryset=Policy.objects.select_related("problem_type").order_by("name"), empty_label="Choose the policy…"
    )
    sentiment = forms.ChoiceField(label="Customer sentiment", choices=Sentiment.choices, widget=forms.RadioSelect)
    cause = forms.ChoiceField(choices=Cause.choices, widget=forms.RadioSelect)
    situation = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    resolution_requested = forms.CharField(
        label="Resolution asked for", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    amount = forms.DecimalField(
        label="Money amount",
        min_value=Decimal("0"),
        max_value=MAX_MONEY,
        max_digits=12,
        decimal_places=2,
        initial=Decimal("0.00"),
    )
    business_days = forms.IntegerField(label="Business days affected", min_value=0, max_value=365, initial=0)
    supplier_exception = forms.BooleanField(label="A supplier exception is needed", required=False)
    waived_controls = SafeModelMultipleChoiceField(
        label="Controls this request would waive",
        queryset=Control.objects.select_related("policy").order_by("policy__name", "name"),
        widget=ControlCheckboxes,
        required=False,
        help_text="Controls never bend. If the request needs one waived, it cannot be granted: offer a process alternative.",
    )
    waived_controls.label_from_instance = lambda control: f"{control.name}: {control.why}"
    alternative_offered = forms.CharField(
        label="Firm alternative offered", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    corrective_action = forms.CharField(
        label="Corrective action",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="What would prevent this from happening again.",
    )
    # One per form shown: posting the same form again shows the request it filed (services.exception_request_file_once).
    filing_token = forms.UUIDField(widget=forms.HiddenInput, required=False)

    # This form files the request (the preview, which files nothing, says False). Whether the name given fits the
    # customer the reference names is the filing's to say (services.customer_name_conflict): the view puts that
    # refusal beside the name.
    files_the_request = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("filing_token", uuid.uuid4())
        # The choices (the fields' querysets, declared with them) are read when the form is shown, not when a
        # valid filing is only validated.
        policies = self.fields["policy"].queryset

        def active_choices() -> list[tuple]:
            return [("", "Choose the policy…")] + [
                (p.pk, f"{p.name} ({p.problem_type.name})") for p in policies if p.active
            ]

        self.fields["policy"].widget.choices = active_choices

    @cached_property
    def helper(self) -> FormHelper:
        """The layout, built when the form is shown (a valid filing never is)."""
        helper = FormHelper()
        helper.form_tag = False  # the template's <form> carries the htmx preview attributes
        helper.layout = Layout(
            "filing_token",
            Fieldset(
                "Customer",
                # Whose reference it is, as the rep types (htmx asks requests:customer_hint; no script).
                Row(
                    Column("customer_ref", css_class="col-md-5"),
                    Column("customer_name", css_class="col-md-7"),
                    **{
                        # POSTed, never in a URL (names are personal data); the form's CSRF header applies.
                        "hx-post": reverse("requests:customer_hint"),
                        "hx-trigger": "load, input delay:300ms",
                        "hx-include": "[name=customer_ref],[name=customer_name]",
                        "hx-params": "customer_ref,customer_name",
                        "hx-target": "#customer-hint",
                        "hx-swap": "innerHTML",
                        # Its own queue: a newer hint replaces an older one. Inherited from the form, the
                        # preview's hx-sync would let the preview (asked 100 ms later for the same keystroke)
                        # abort a slow hint, which then never showed.
                        "hx-sync": "this:replace",
                    },
                ),
                HTML('<div id="customer-hint" class="mb-3 small" aria-live="polite"></div>'),
            ),
            Fieldset(
                "Policy and customer",
                "policy",
                Row(Column(Field("sentiment"), css_class="col-md-6"), Column(Field("cause"), css_class="col-md-6")),
            ),
            Fieldset("What happened", "situation", "resolution_requested"),
            Fieldset(
                "What it takes",
                Row(
                    Column(Field("amount", step="0.01", inputmode="decimal"), css_class="col-md-4"),
                    Column("business_days", css_class="col-md-4"),
                    Column(Div("supplier_exception", css_class="pt-md-4"), css_class="col-md-4"),
                ),
                Div("waived_controls", css_id="controls-field"),
            ),
            Fieldset("What you offer", "alternative_offered", "corrective_action"),
            # On a phone the preview comes after the form: the template repeats this button below the preview,
            # so that the rep reads who may grant it before filing.
            HTML(
                '<button type="submit" name="file" class="btn btn-primary d-none d-lg-inline-block">File request</button>'
            ),
        )
        return helper

    def clean(self) -> dict:
        cleaned = super().clean()
        if self._errors.pop("filing_token", None) is not None:
            self._refuse_damaged_token()
        policy = cleaned.get("policy")
        controls = cleaned.get("waived_controls") or []
        foreign = [c for c in controls if policy is not None and c.policy_id != policy.pk]
        if foreign:
            self.add_error(
                "waived_controls",
                f"{', '.join(c.name for c in foreign)} belongs to another policy, not to {policy.name}.",
            )
        return cleaned

    def _refuse_damaged_token(self) -> None:
        """A one-time token that is not one (an edited page): file nothing, say so where the rep reads it
        (a hidden field's error shows nowhere), and carry a fresh token so that filing again works."""
        self.data = self.data.copy()
        self.data["filing_token"] = str(uuid.uuid4())
        if self.files_the_request:
            self.add_error(None, "This form's one-time token was damaged, so nothing was filed: check and file again.")

    def filing_facts(self) -> FilingFacts:
        data = self.cleaned_data
        return FilingFacts(
            customer_ref=data.get("customer_ref") or "",
            customer_name=data.get("customer_name") or "",
            policy_id=data["policy"].pk,
            sentiment=data["sentiment"],
            cause=data.get("cause") or "",
            situation=data.get("situation") or "",
            resolution_requested=data.get("resolution_requested") or "",
            amount=data["amount"],
            business_days=data["business_days"],
            supplier_exception=data["supplier_exception"],
            alternative_offered=data.get("alternative_offered") or "",
            corrective_action=data.get("corrective_action") or "",
            waived_controls=tuple(c.name for c in data.get("waived_controls") or ()),
        )


class PreviewForm(ExceptionRequestForm):
    """The routing preview works on a half-filled form: only what routing needs is required.

    ``ROUTING_FIELDS`` are all the preview reads (the customer reference finds earlier
    exceptions); the page sends only these, so free text never travels with a keystroke."""

    ROUTING_FIELDS = (
        "customer_ref",
        "policy",
        "sentiment",
        "amount",
        "business_days",
        "supplier_exception",
        "waived_controls",
    )

    files_the_request = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in (
            "customer_ref",
            "customer_name",
            "cause",
            "situation",
            "resolution_requested",
            "alternative_offered",
            "corrective_action",
        ):
            self.fields[name].required = False

    # What must be valid before the preview can route, in the order the form asks for it (a wrong value
    # is named in words; ROUTING_FIELDS above are what the page sends).
    CHECKED_FIELDS = ("customer_ref", "policy", "sentiment", "amount", "business_days", "waived_controls")

    def routing_problems(self) -> tuple[list[str], list[str]]:
        """What keeps the preview from routing: fields still empty, and fields whose value is wrong, in words."""
        missing: list[str] = []
        wrong: list[str] = []
        for name in self.CHECKED_FIELDS:
            errors = self.errors.as_data().get(name)
            if not errors:
                continue
            codes = {error.code for error in errors}
            if "required" in codes:
                if name != "customer_ref":  # the preview routes without it (a first-time customer)
                    missing.append(str(self.fields[name].label or name).lower())
            else:
                wrong.append(self._worded(name, codes))
        return missing, wrong

    def _worded(self, name: str, codes: set[str]) -> str:
        if name == "amount":
            if "min_value" in codes:
                return "the amount cannot be negative"
            if "max_decimal_places" in codes:
                return "the amount takes at most two decimals (cents)"
            if "max_value" in codes or "max_digits" in codes or "max_whole_digits" in codes:
                return f"the amount can be at most {MAX_MONEY:,.2f}"
            return "the amount must be a number, like 120.50"
        if name == "business_days":
            if "min_value" in codes:
                return "the business days cannot be negative"
            if "max_value" in codes:
                return "the business days can be at most 365"
            return "the business days must be a whole number, like 3"
        if name == "policy":
            return "that policy is not one you can choose: pick another"
        if name == "waived_controls":
            return "the controls to waive must be picked from the policy's list"
        if name == "customer_ref":
            return "; ".join(str(message).rstrip(".") for message in self.errors[name])
        return f"choose one of the listed values for {str(self.fields[name].label or name).lower()}"


class Fold(LayoutObject):
    """Fields folded in a <details> under ``summary``, open when one of them was refused (so that its error is seen)."""

    def __init__(self, summary: str, *fields) -> None:
        self.summary = summary
        self.fields = list(fields)

    def render(self, form, context, template_pack=TEMPLATE_PACK, **kwargs) -> str:
        refused = any(form[pointer.name].errors for pointer in self.get_field_names())
        inner = self.get_rendered_fields(form, context, template_pack, **kwargs)
        return format_html(
            '<details class="mb-2"{}><summary class="small">{}</summary>{}</details>',
            " open" if refused else "",
            self.summary,
            inner,
        )


def _form_helper(*fields, label_class: str = "") -> FormHelper:
    """A layout for a form on the request page: the page writes the <form> tag (its action names the request);
    the fields, their labels, help and limits come from the Form class."""
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True  # the page's <form> carries the token
    helper.label_class = label_class
    helper.layout = Layout(*fields)
    return helper


class CustomerMessageForm(forms.Form):
    text = forms.CharField(label="Message to the customer", widget=forms.Textarea(attrs={"rows": 14}), max_length=8000)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The card's heading already says it: the label is for screen readers.
        self.helper = _form_helper(
            "text",
            StrictButton("Save draft", type="submit", name="save", css_class="btn-outline-secondary"),
            StrictButton("Mark as sent", type="submit", name="send", css_class="btn-primary"),
            label_class="visually-hidden",
        )


class DecisionRadios(forms.RadioSelect):
    """The options named by their value (#decision-approve, #decision-deny), as links and browser tests find them."""

    def id_for_label(self, id_: str, index: str | None = None) -> str:
        if index is None or not id_:
            return super().id_for_label(id_, index)
        return f"decision-{self.choices[int(index)][0]}"


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")], widget=DecisionRadios)
    note = forms.CharField(
        label="Justification",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="The rep sees it. If you deny, this reason reaches the customer in the drafted message: "
        "write it for them.",
    )
    alternative = forms.CharField(
        label="Alternative offered to the customer",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text="Required for a denial.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _form_helper(
            # Bound only when the page comes back refused (crispy's context names it is_bound).
            HTML(
                '{% if is_bound %}<p class="small text-danger" role="status">'
                "Nothing was decided; what you typed is kept below.</p>{% endif %}"
            ),
            InlineRadios("decision"),
            "note",
            "alternative",
            StrictButton("Record decision", type="submit", css_class="btn-primary"),
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("decision") == "deny" and not (cleaned.get("alternative") or "").strip():
            self.add_error("alternative", "A denial needs the alternative offered to the customer.")
        return cleaned


class AskForm(forms.Form):
    question = forms.CharField(
        label="Or ask the rep for more information",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": "Write the question for the rep."},
        help_text="The SLA clock is paused until the rep answers.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _form_helper(
            "question", StrictButton("Ask the rep", type="submit", css_class="btn-outline-secondary")
        )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label="Why you withdraw it",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        strip=True,
        error_messages={"required": "Give the reason for withdrawing."},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _form_helper(
            "reason", StrictButton("Withdraw request", type="submit", css_class="btn-outline-danger btn-sm")
        )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label="Your answer",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        error_messages={"required": "Write your answer."},
    )
    # When asked, the rep may correct these with the answer: the request is routed again.
    amount = forms.DecimalField(
        label="Money amount",
        min_value=Decimal("0"),
        max_value=MAX_MONEY,
        max_digits=12,
        decimal_places=2,
        required=False,
    )
    business_days = forms.IntegerField(label="Business days affected", min_value=0, max_value=365, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _form_helper(
            "answer",
            Fold(
                "Correct the amount or the business days (the request is routed again)",
                Row(
                    Column(Field("amount", inputmode="decimal"), css_class="col-6"),
                    Column("business_days", css_class="col-6"),
                    css_class="g-2 mt-1",
                ),
            ),
            StrictButton("Send answer", type="submit", css_class="btn-primary btn-sm"),
        )


class QueueFilterForm(forms.Form):
    policy = SafeModelChoiceField(queryset=Policy.objects.none(), required=False, empty_label="All policies")
    problem_type = SafeModelChoiceField(queryset=None, required=False, empty_label="All problem types")
    tier = forms.TypedChoiceField(
        choices=[("", "All tiers"), (1, "Tier 1"), (2, "Tier 2"), (3, "Tier 3"), (0, "Beyond all tiers")],
        coerce=int,
        required=False,
        empty_value=None,
    )
    level = forms.TypedChoiceField(
        choices=[("", "All levels")] + [(n, f"Level {n}") for n in range(1, 6)],
        coerce=int,
        required=False,
        empty_value=None,
    )
    overdue = forms.BooleanField(label="Overdue only", required=False)
    claimed_by_me = forms.BooleanField(label="Claimed by me", required=False)
    query = forms.CharField(label="Search", required=False, max_length=200)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = Policy.objects.order_by("name")
        self.fields["problem_type"].queryset = ProblemType.objects.order_by("name")
        for name in ("policy", "problem_type", "tier", "level"):
            self.fields[name].widget.attrs["class"] = "form-select"


class DelegationForm(forms.Form):
    delegate = SafeModelChoiceField(queryset=None, label="Who stands in for you")
    starts_on = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label="Last day", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        approvers = (
            get_user_model()
            .objects.filter(is_active=True)
            .filter(Q(groups__permissions__codename="decide_exceptionrequest") | Q(is_superuser=True))
            .exclude(pk=user.pk)
            .distinct()
            .order_by("first_name", "username")
        )
        self.fields["delegate"].queryset = approvers
        self.fields["delegate"].label_from_instance = display_name


class PreferenceForm(forms.Form):
    digest_minutes = forms.TypedChoiceField(
        label="Email me",
        choices=NotificationPreference.Delivery.choices,
        coerce=int,
        widget=forms.RadioSelect,
        help_text="A digest lists what arrived since the last one, each with its links. It never holds a "
        "request past its SLA reminder: then it goes out at once.",
    )
    time_zone = forms.ChoiceField(
        label="Time zone for deadlines in emails",
        required=False,
        help_text="Empty: the portal's time zone.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        zones = sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith("Etc/"))
        self.fields["time_zone"].choices = [("", "The portal's time zone")] + [(zone, zone) for zone in zones]
        self.fields["time_zone"].widget.attrs["class"] = "form-select"


class EmailDecisionForm(DecisionForm):
    """The confirm page of an email link: the portal's decision (a justification is required as there), and the
    password when approving above the step-up amount (``step_up``)."""

    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), required=False
    )

    def __init__(self, *args, step_up: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = f"To approve above {format_money(settings.EMAIL_DECISION_STEP_UP_AMOUNT)}."
        self.helper = _form_helper(
            InlineRadios("decision"),
            "note",
            "alternative",
            *(["password"] if step_up else []),
            StrictButton("Record decision", type="submit", css_class="btn-primary btn-lg w-100"),
        )


class AllRequestsForm(forms.Form):
    """Search, filters and sorting of the All requests list."""

    query = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", choices=[("", "Any status"), *Status.choices], required=False)
    policy = forms.ModelChoiceField(queryset=Policy.objects.none(), required=False, empty_label="All policies")
    problem_type = forms.ModelChoiceField(queryset=None, required=False, empty_label="All problem types")
    decided_by_me = forms.BooleanField(label="Decided by me", required=False)
    filed_from = forms.DateField(label="Filed from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    filed_to = forms.DateField(label="Filed to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            ("-filed", "Newest filed first"),
            ("filed", "Oldest filed first"),
            ("deadline", "Nearest deadline first"),
            ("-amount", "Largest amount first"),
            ("amount", "Smallest amount first"),
        ],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = Policy.objects.order_by("name")
        self.fields["problem_type"].queryset = ProblemType.objects.order_by("name")
        for name in ("status", "policy", "problem_type", "sort"):
            self.fields[name].widget.attrs["class"] = "form-select"
        for name in ("query", "filed_from", "filed_to"):
            self.fields[name].widget.attrs["class"] = "form-control"

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("filed_from"), cleaned.get("filed_to")
        if start and end and end < start:
            self.add_error("filed_to", "The last day must be on or after the first day.")
        return cleaned


class MyRequestsFilterForm(forms.Form):
    """My requests: by status, policy, filing dates, and a search by reference or customer."""

    q = forms.CharField(label="Reference or customer", required=False, max_length=100)
    status = forms.ChoiceField(label="Status", required=False)
    policy = forms.ModelChoiceField(queryset=Policy.objects.none(), required=False, empty_label="All policies")
    filed_from = forms.DateField(label="Filed from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    filed_to = forms.DateField(label="Filed to", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Every status the model knows (a new one appears here by itself); the rep's own wait named as theirs.
        self.fields["status"].choices = [("", "All statuses")] + [
            (value, "Waiting for you" if value == Status.WAITING_FOR_REP else label) for value, label in Status.choices
        ]
        self.fields["policy"].queryset = Policy.objects.order_by("name")
        self.fields["q"].widget.attrs.update(
            {"class": "form-control", "type": "search", "placeholder": "EX-2026-… or a name"}
        )
        for name in ("status", "policy"):
            self.fields[name].widget.attrs["class"] = "form-select"
        for name in ("filed_from", "filed_to"):
            self.fields[name].widget.attrs["class"] = "form-control"
