"""The API's input and output shapes.

Input is validated by the portal's own forms (``requests.forms``): the serializers declare the fields for
the schema, with the bounds read from those forms, and hand the data to the form, so that a rule about
what a filing may contain lives in one place.
"""

from __future__ import annotations

from django import forms as django_forms
from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from exceptions_portal.people import display_name
from policies.models import Sentiment
from requests.forms import AnswerForm, AskForm, DecisionForm, ExceptionRequestForm, PreviewForm, WithdrawForm
from requests.models import Cause, ExceptionRequest, Status, routing_reason_text
from requests.services import FilingFacts

_FILING = ExceptionRequestForm.base_fields


def _text(name: str, *, form_fields=_FILING, required: bool = True) -> serializers.CharField:
    field = form_fields[name]
    return serializers.CharField(
        max_length=field.max_length,
        required=required,
        allow_blank=not required,
        help_text=str(field.help_text or field.label or ""),
    )


class FormBackedSerializer(serializers.Serializer):
    """Runs the portal's form on the data; its errors become the API's validation errors."""

    form_class: type[django_forms.Form]

    def form_data(self, attrs: dict) -> dict:
        return {key: value for key, value in attrs.items() if value is not None}

    def validate(self, attrs: dict) -> dict:
        form = self.form_class(self.form_data(attrs))
        if not form.is_valid():
            raise serializers.ValidationError(
                {
                    ("non_field_errors" if field == "__all__" else field): [str(error) for error in errors]
                    for field, errors in form.errors.items()
                }
            )
        attrs["form"] = form
        return attrs


class FilingSerializer(FormBackedSerializer):
    form_class = ExceptionRequestForm

    # The reference rule (requests.references.customer_ref_problem) is applied by the form, with its message.
    customer_ref = serializers.CharField(
        max_length=_FILING["customer_ref"].max_length, help_text=str(_FILING["customer_ref"].help_text)
    )
    customer_name = _text("customer_name", required=False)
    policy = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The policy's id (see /policies/).")
    sentiment = serializers.ChoiceField(choices=Sentiment.choices)
    cause = serializers.ChoiceField(choices=Cause.choices)
    situation = _text("situation")
    resolution_requested = _text("resolution_requested")
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=_FILING["amount"].min_value,
        max_value=_FILING["amount"].max_value,
        help_text='Money amount, e.g. "120.00".',
    )
    business_days = serializers.IntegerField(
        min_value=_FILING["business_days"].min_value, max_value=_FILING["business_days"].max_value
    )
    supplier_exception = serializers.BooleanField(default=False)
    waived_controls = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=50,
        help_text="Ids of the policy's controls this request would waive (a control never bends: filing is refused).",
    )
    alternative_offered = _text("alternative_offered")
    corrective_action = _text("corrective_action")

    def form_data(self, attrs: dict) -> dict:
        data = super().form_data(attrs)
        if not data.get("supplier_exception"):
            data.pop("supplier_exception", None)  # an unchecked checkbox is absent from a form
        return data

    def facts(self) -> FilingFacts:
        return self.validated_data["form"].filing_facts()


class PreviewSerializer(FilingSerializer):
    """Only what routing needs is required, as in the form's live preview."""

    form_class = PreviewForm

    customer_ref = serializers.CharField(
        max_length=_FILING["customer_ref"].max_length, required=False, allow_blank=True
    )
    cause = serializers.ChoiceField(choices=Cause.choices, required=False, allow_blank=True)
    situation = _text("situation", required=False)
    resolution_requested = _text("resolution_requested", required=False)
    alternative_offered = _text("alternative_offered", required=False)
    corrective_action = _text("corrective_action", required=False)

    def form_data(self, attrs: dict) -> dict:
        data = super().form_data(attrs)
        if not data.get("customer_ref"):
            data.pop("customer_ref", None)
        return data


class DecisionSerializer(FormBackedSerializer):
    form_class = DecisionForm

    decision = serializers.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    note = _text("note", form_fields=DecisionForm.base_fields)
    alternative = _text("alternative", form_fields=DecisionForm.base_fields, required=False)


class AskSerializer(FormBackedSerializer):
    form_class = AskForm

    question = _text("question", form_fields=AskForm.base_fields)


class AnswerSerializer(FormBackedSerializer):
    form_class = AnswerForm

    answer = _text("answer", form_fields=AnswerForm.base_fields)


class WithdrawSerializer(FormBackedSerializer):
    form_class = WithdrawForm

    reason = _text("reason", form_fields=WithdrawForm.base_fields)


class NotificationsReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
        help_text="The notifications to mark as read. Absent: all of them.",
    )


# Output


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)
    errors = serializers.JSONField(required=False)
    retry_after = serializers.IntegerField(required=False, allow_null=True)


class ApproverOutSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    name = serializers.CharField()
    money_authority = serializers.DecimalField(max_digits=12, decimal_places=2)


class PreviewResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["granted", "pending", "refused"])
    reasons = serializers.ListField(child=serializers.CharField())
    tier = serializers.CharField()
    beyond_all_tiers = serializers.BooleanField()
    is_repeat = serializers.BooleanField()
    approval_level = serializers.IntegerField(allow_null=True)
    approvers = ApproverOutSerializer(many=True)
    due_at = serializers.DateTimeField(allow_null=True)


def _person(user) -> str | None:
    if user is None:
        return None
    return display_name(user)


class RequestSummarySerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    customer_ref = serializers.CharField(source="customer.external_ref")
    customer_name = serializers.CharField(source="customer.name")
    policy_name = serializers.CharField(source="policy.name")
    problem_type = serializers.CharField(source="policy.problem_type.name")
    tier = serializers.CharField(source="tier_label")
    filed_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    claimed_by = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="The request in the portal.")

    class Meta:
        model = ExceptionRequest
        fields = [
            "id",
            "reference",
            "status",
            "status_label",
            "customer_ref",
            "customer_name",
            "policy",
            "policy_name",
            "problem_type",
            "tier",
            "tier_level",
            "tier_kind",
            "beyond_all_tiers",
            "amount",
            "business_days",
            "approval_level",
            "due_at",
            "filed_at",
            "filed_by",
            "decided_at",
            "decided_by",
            "claimed_by",
            "url",
        ]
        read_only_fields = fields

    def get_filed_by(self, obj: ExceptionRequest) -> str:
        return _person(obj.rep)

    def get_decided_by(self, obj: ExceptionRequest) -> str | None:
        return _person(obj.decided_by) if obj.decided_by_id else None

    def get_claimed_by(self, obj: ExceptionRequest) -> str | None:
        return _person(obj.claimed_by) if obj.claimed_by_id else None

    def get_url(self, obj: ExceptionRequest) -> str:
        return settings.PORTAL_BASE_URL.rstrip("/") + reverse("requests:detail", args=[obj.pk])


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


class HistoryEntrySerializer(serializers.Serializer):
    when = serializers.DateTimeField()
    who = serializers.CharField()
    kind = serializers.CharField()
    reason = serializers.CharField()
    changes = serializers.SerializerMethodField()

    def get_changes(self, entry) -> ChangeSerializer(many=True):
        return [{"field": field, "old": old, "new": new} for field, old, new in entry.changes]


class ThreadSerializer(serializers.Serializer):
    asked_by = serializers.CharField(allow_null=True)
    question = serializers.CharField()
    answer = serializers.CharField()
    waiting_for_rep = serializers.BooleanField()


class EscalationOutSerializer(serializers.Serializer):
    from_level = serializers.IntegerField()
    to_level = serializers.IntegerField(allow_null=True)
    breached_at = serializers.DateTimeField()
    new_due_at = serializers.DateTimeField(allow_null=True)


class DecisionOutSerializer(serializers.Serializer):
    note = serializers.CharField()
    alternative = serializers.CharField()
    on_behalf_of = serializers.CharField(allow_null=True)
    approver_authority = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class CallerActionsSerializer(serializers.Serializer):
    can_act = serializers.BooleanField(help_text="Whether you may claim, ask about and decide it now.")
    authority = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="The money authority that would apply to you."
    )
    on_behalf_of = serializers.CharField(
        allow_null=True, help_text="Whose authority that is when you stand in for an absent approver."
    )
    is_filing_rep = serializers.BooleanField()


class RequestDetailSerializer(RequestSummarySerializer):
    routing_reasons = serializers.SerializerMethodField()
    thread = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()
    escalations = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    you = serializers.SerializerMethodField()

    class Meta(RequestSummarySerializer.Meta):
        fields = [
            *RequestSummarySerializer.Meta.fields,
            "sentiment",
            "cause",
            "situation",
            "resolution_requested",
            "supplier_exception",
            "alternative_offered",
            "corrective_action",
            "is_repeat",
            "routing_reasons",
            "thread",
            "decision",
            "customer_message",
            "message_sent_at",
            "escalations",
            "history",
            "you",
        ]
        read_only_fields = fields

    def get_thread(self, obj: ExceptionRequest) -> ThreadSerializer(allow_null=True):
        if not obj.info_question:
            return None
        return {
            "asked_by": _person(obj.info_requested_by) if obj.info_requested_by_id else None,
            "question": obj.info_question,
            "answer": obj.info_answer,
            "waiting_for_rep": obj.status == Status.WAITING_FOR_REP,
        }

    def get_decision(self, obj: ExceptionRequest) -> DecisionOutSerializer(allow_null=True):
        if obj.status not in (Status.APPROVED, Status.DENIED):
            return None
        return DecisionOutSerializer(
            {
                "note": obj.decision_note,
                "alternative": obj.decision_alternative,
                "on_behalf_of": _person(obj.decided_on_behalf_of) if obj.decided_on_behalf_of_id else None,
                "approver_authority": obj.approver_authority,
            }
        ).data

    def get_routing_reasons(self, obj: ExceptionRequest) -> serializers.ListField(child=serializers.CharField()):
        return [routing_reason_text(reason) for reason in obj.routing_reasons]

    def get_escalations(self, obj: ExceptionRequest) -> EscalationOutSerializer(many=True):
        return EscalationOutSerializer(obj.escalations.order_by("from_level"), many=True).data

    def get_history(self, obj: ExceptionRequest) -> HistoryEntrySerializer(many=True):
        return HistoryEntrySerializer(self.context["history"], many=True).data

    def get_you(self, obj: ExceptionRequest) -> CallerActionsSerializer:
        actions = self.context["actions"]
        return CallerActionsSerializer(
            {
                "can_act": actions["can_act"],
                "authority": actions["authority"].amount if actions["authority"] else None,
                "on_behalf_of": actions["authority"].on_behalf_of_name or None if actions["authority"] else None,
                "is_filing_rep": obj.rep_id == self.context["request"].user.pk,
            }
        ).data


class ControlOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    why = serializers.CharField()


class TierOutSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    kind = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    sentiments = serializers.ListField(child=serializers.CharField())
    money_cap = serializers.DecimalField(max_digits=12, decimal_places=2)
    max_business_days = serializers.IntegerField()
    supplier_exceptions_allowed = serializers.IntegerField()
    you_may_grant = serializers.BooleanField(help_text="You may grant this tier at once, without approval.")


class AuthorityOutSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    money_authority = serializers.DecimalField(max_digits=12, decimal_places=2)
    on_behalf_of = serializers.CharField(
        allow_null=True, help_text="Whose authority applies when it is an absent approver's, for whom you stand in."
    )


class PolicyOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    problem_type = serializers.CharField()
    statement = serializers.CharField()
    rationale = serializers.CharField()
    active = serializers.BooleanField()
    sla_minutes = serializers.IntegerField()
    controls = ControlOutSerializer(many=True)
    tiers = TierOutSerializer(many=True)
    approvers = ApproverOutSerializer(many=True)
    your_approval_authority = AuthorityOutSerializer(
        many=True, help_text="The levels where you approve, with your money authority there."
    )


class NotificationOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    text = serializers.CharField()
    request = serializers.IntegerField(source="request_id", allow_null=True)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class MarkedReadSerializer(serializers.Serializer):
    marked_read = serializers.IntegerField()
