"""The REST API's views: thin, like the portal's. Input → the portal's form → the same service → JSON.

Who may see a request is decided by ``selectors.get_request_for_user`` / ``visible_requests`` (404 otherwise),
role permissions by ``exceptions_portal.roles``, and every rule by the service the portal view calls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exceptions_portal import roles
from policies.models import Policy
from policies.routing import Outcome, RequestFacts, route
from policies.selectors import policies_with_rules, policy_spec, rep_has_tier2_right
from requests import notifications, selectors, services
from requests.api import serializers as api
from requests.api.problems import PROBLEM_CONTENT_TYPE
from requests.api_models import IdempotencyKey
from requests.authority import approver_standing, authority_at
from requests.models import Notification, Status

# Permissions: the portal's roles, from one module.


class CanFile(BasePermission):
    message = "Your role does not file requests."

    def has_permission(self, request, view) -> bool:
        return roles.can_file(request.user)


class CanViewRequests(BasePermission):
    message = "You have no role that sees requests."

    def has_permission(self, request, view) -> bool:
        return roles.can_view_requests(request.user)


class CanDecide(BasePermission):
    message = "Your role does not decide requests."

    def has_permission(self, request, view) -> bool:
        return roles.can_decide(request.user)


class HasPortalRole(BasePermission):
    message = "You have no role in the portal."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return roles.can_file(user) or roles.can_decide(user) or selectors.is_policy_admin(user)


def problems(*codes: int) -> dict:
    descriptions = {
        400: "The input is not valid; nothing changed.",
        401: "No token, or an invalid, revoked or expired one.",
        403: "Your role does not allow this.",
        404: "Not found, or not visible to you.",
        409: "A rule refused it (the request's state, your authority, segregation of duties); nothing changed.",
        422: "Filing refused by routing (inactive policy, a waived control, nobody could decide); nothing saved.",
        429: "Too many requests with this token.",
    }
    return {
        (code, PROBLEM_CONTENT_TYPE): OpenApiResponse(api.ProblemSerializer, description=descriptions[code])
        for code in (401, 429, *codes)
    }


class NotFound(APIView):
    """Any other URL under /api/ (a path id that is not a number, a typo): a problem+json 404, not the
    portal's HTML page."""

    schema = None
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def _not_found(self, request: Request, *args, **kwargs) -> Response:
        raise Http404

    get = post = put = patch = delete = head = _not_found


# Pagination


class FiledCursor(CursorPagination):
    ordering = ("-filed_at", "-pk")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class QueueCursor(FiledCursor):
    # The queue's order (selectors.queue_for): oldest deadline first.
    ordering = ("open_due_at", "pk")


class NotificationCursor(FiledCursor):
    ordering = ("-created_at", "-pk")


# Policies


def _tier_grantable(spec, tier, *, may_file: bool, tier2_right: bool) -> bool:
    """Whether routing would grant a request of this tier at once for this caller: asks ``route`` itself
    with the tier alone and facts at its limits, so that the answer cannot disagree with filing."""
    if not may_file or not tier.sentiments:
        return False
    facts = RequestFacts(
        sentiment=sorted(tier.sentiments)[0],
        amount=tier.money_cap,
        business_days=tier.max_business_days,
        supplier_exception=tier.supplier_exceptions_allowed > 0,
        rep_has_tier2_right=tier2_right,
    )
    return route(replace(spec, active=True, tiers=(tier,)), facts).outcome is Outcome.GRANTED


def policy_for_caller(policy: Policy, user) -> dict:
    spec = policy_spec(policy)
    may_file = roles.can_file(user)
    tier2_right = may_file and rep_has_tier2_right(user=user, policy=policy)
    tiers = sorted(policy.tiers.all(), key=lambda t: (t.level, t.kind))
    spec_tiers = sorted(spec.tiers, key=lambda t: (t.level, t.kind))
    authority = []
    if roles.can_decide(user):
        # The one rule of authority (requests.authority), own rows and stand-ins alike; rep_id=0 matches
        # nobody, so segregation of duties (a per-request rule) does not apply to this policy-wide view.
        standing = approver_standing(user=user, policy_id=policy.pk)
        for level in sorted({a.level for a in spec.approvers}):
            held = authority_at(standing, policy_id=policy.pk, level=level, rep_id=0)
            if held.may_act:
                authority.append(
                    {"level": level, "money_authority": held.amount, "on_behalf_of": held.on_behalf_of_name or None}
                )
    return {
        "id": policy.pk,
        "name": policy.name,
        "slug": policy.slug,
        "problem_type": policy.problem_type.name,
        "statement": policy.statement,
        "rationale": policy.rationale,
        "active": policy.active,
        "sla_minutes": policy.sla_minutes,
        "controls": [{"id": c.pk, "name": c.name, "why": c.why} for c in policy.controls.all()],
        "tiers": [
            {
                "level": tier.level,
                "kind": tier.kind,
                "label": spec_tier.label,
                "description": tier.description,
                "sentiments": list(tier.sentiments or ()),
                "money_cap": tier.money_cap,
                "max_business_days": tier.max_business_days,
                "supplier_exceptions_allowed": tier.supplier_exceptions_allowed,
                "you_may_grant": policy.active
                and _tier_grantable(spec, spec_tier, may_file=may_file, tier2_right=tier2_right),
            }
            for tier, spec_tier in zip(tiers, spec_tiers, strict=True)
        ],
        "approvers": [
            {"level": a.level, "name": a.name, "money_authority": a.money_authority}
            for a in sorted(spec.approvers, key=lambda a: (a.level, a.name))
        ],
        "your_approval_authority": authority,
    }


class PolicyList(GenericAPIView):
    permission_classes = [IsAuthenticated, HasPortalRole]
    serializer_class = api.PolicyOutSerializer
    pagination_class = None

    @extend_schema(
        operation_id="policies_list",
        summary="Policies with their tiers, limits, controls and approvers, and what you may grant",
        responses={200: api.PolicyOutSerializer(many=True), **problems(403)},
    )
    def get(self, request: Request) -> Response:
        rows = policies_with_rules().order_by("name")
        return Response(api.PolicyOutSerializer([policy_for_caller(p, request.user) for p in rows], many=True).data)


class PolicyDetail(GenericAPIView):
    permission_classes = [IsAuthenticated, HasPortalRole]
    serializer_class = api.PolicyOutSerializer

    @extend_schema(
        operation_id="policies_retrieve",
        summary="One policy, and what you may grant under it",
        responses={200: api.PolicyOutSerializer, **problems(403, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        policy = policies_with_rules().filter(pk=pk).first()
        if policy is None:
            raise Http404
        return Response(api.PolicyOutSerializer(policy_for_caller(policy, request.user)).data)


# Filing


def _preview_payload(decision, due) -> dict:
    return {
        "outcome": decision.outcome.value,
        "reasons": list(decision.reasons),
        "tier": decision.tier_label,
        "beyond_all_tiers": decision.beyond_all_tiers,
        "is_repeat": decision.is_repeat,
        "approval_level": decision.approval_level,
        "approvers": [
            {"level": a.level, "name": a.name, "money_authority": a.money_authority} for a in decision.approvers
        ],
        "due_at": due,
    }


class RoutingPreview(GenericAPIView):
    permission_classes = [IsAuthenticated, CanFile]
    serializer_class = api.PreviewSerializer

    @extend_schema(
        operation_id="requests_preview",
        summary="Dry run: what filing would decide now, explained line by line. Writes nothing.",
        request=api.PreviewSerializer,
        responses={200: api.PreviewResultSerializer, **problems(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        serializer = api.PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision, due = services.exception_request_preview(rep=request.user, facts=serializer.facts())
        return Response(api.PreviewResultSerializer(_preview_payload(decision, due)).data)


class RequestFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    policy = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    problem_type = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    customer_ref = serializers.CharField(required=False, max_length=64)
    q = serializers.CharField(
        required=False, max_length=100, help_text="Reference, customer name or reference contains."
    )
    filed_after = serializers.DateTimeField(required=False)
    filed_before = serializers.DateTimeField(required=False)
    mine = serializers.BooleanField(required=False, default=False, help_text="Only the requests you filed.")


def _body_hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Filing twice with the same key returns the first filing (200) instead of filing again. "
    "At most 255 characters; reusing a key with a different body is refused (409).",
)


class RequestListCreate(GenericAPIView):
    serializer_class = api.RequestSummarySerializer
    pagination_class = FiledCursor

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), CanFile()]
        # As the web's All requests: a person in no group is refused, not shown an empty list.
        return [IsAuthenticated(), CanViewRequests()]

    @extend_schema(
        operation_id="requests_list",
        summary="Requests you may see (your filings; as an approver, what reached your level), newest first",
        parameters=[RequestFilters],
        responses={200: api.RequestSummarySerializer(many=True), **problems(400, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        filters = RequestFilters(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        rows = selectors.visible_requests(user=request.user).select_related(
            "customer", "policy", "policy__problem_type", "rep", "decided_by", "claimed_by"
        )
        if wanted.get("status"):
            rows = rows.filter(status=wanted["status"])
        if wanted.get("policy"):
            rows = rows.filter(policy_id=wanted["policy"])
        if wanted.get("problem_type"):
            rows = rows.filter(policy__problem_type_id=wanted["problem_type"])
        if wanted.get("customer_ref"):
            rows = rows.filter(customer__external_ref__iexact=wanted["customer_ref"].strip())
        if wanted.get("q"):
            term = wanted["q"].strip()
            rows = rows.filter(
                Q(reference__icontains=term)
                | Q(customer__name__icontains=term)
                | Q(customer__external_ref__icontains=term)
            )
        if wanted.get("filed_after"):
            rows = rows.filter(filed_at__gte=wanted["filed_after"])
        if wanted.get("filed_before"):
            rows = rows.filter(filed_at__lt=wanted["filed_before"])
        if wanted.get("mine"):
            rows = rows.filter(rep=request.user)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(api.RequestSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="requests_file",
        summary="File a request: routed, saved, granted at once or pending with an approver",
        parameters=[IDEMPOTENCY_KEY],
        request=api.FilingSerializer,
        responses={
            201: api.RequestDetailSerializer,
            200: OpenApiResponse(
                api.RequestDetailSerializer, description="The first filing with this Idempotency-Key."
            ),
            **problems(400, 403, 409, 422),
        },
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 255:
            raise serializers.ValidationError({"Idempotency-Key": ["At most 255 characters."]})
        body_hash = _body_hash(request.data)
        if key:
            earlier = _replay(request, key, body_hash)
            if earlier is not None:
                return earlier
        serializer = api.FilingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                filed = services.exception_request_file(rep=request.user, facts=serializer.facts())
                if key:
                    IdempotencyKey.objects.create(user=request.user, key=key, body_hash=body_hash, request=filed)
        except services.CustomerNameConflict as conflict:
            # Beside the name, as the filing form says it: a 400 on the field, not a rule's 409.
            raise serializers.ValidationError({"customer_name": [str(conflict)]}) from conflict
        except IntegrityError:
            # The same key filed at the same moment by a retrying client: the first one won; this
            # filing was rolled back with the key's row.
            earlier = _replay(request, key, body_hash) if key else None
            if earlier is None:
                raise
            return earlier
        return Response(_detail(request, filed.pk), status=status.HTTP_201_CREATED)


def _replay(request: Request, key: str, body_hash: str) -> Response | None:
    earlier = IdempotencyKey.objects.filter(user=request.user, key=key).first()
    if earlier is None:
        return None
    if earlier.body_hash != body_hash:
        raise services.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different filing: use a new key for a new request."
        )
    return Response(
        _detail(request, earlier.request_id), status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"}
    )


def _detail(request: Request, pk: int) -> dict:
    exception_request = selectors.get_request_for_user(user=request.user, pk=pk)
    context = {
        "request": request,
        "history": selectors.history_entries(obj=exception_request),
        "actions": selectors.decision_context(user=request.user, exception_request=exception_request),
    }
    return api.RequestDetailSerializer(exception_request, context=context).data


class RequestDetail(GenericAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = api.RequestDetailSerializer

    @extend_schema(
        operation_id="requests_retrieve",
        summary="A request with its routing reasons, thread, decision, escalations and history",
        responses={200: api.RequestDetailSerializer, **problems(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(request, pk))


class _RequestAction(GenericAPIView):
    """POST on one request: 404 for what the caller may not see (before reading the body), then the service."""

    permission_classes = [IsAuthenticated, CanDecide]
    serializer_class = None
    input_serializer: type[serializers.Serializer] | None = None

    def post(self, request: Request, pk: int) -> Response:
        selectors.get_request_for_user(user=request.user, pk=pk)
        data = {}
        if self.input_serializer is not None:
            serializer = self.input_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data["form"].cleaned_data
        self.act(request, pk, data)
        return Response(_detail(request, pk))

    def act(self, request: Request, pk: int, data: dict) -> None:
        raise NotImplementedError


def _action_schema(operation_id: str, summary: str, request=None):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        request=request,
        responses={200: api.RequestDetailSerializer, **problems(*((400,) if request else ()), 403, 404, 409)},
    )


class RequestClaim(_RequestAction):
    @_action_schema("requests_claim", "Claim a request, so colleagues see you are on it")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, request, pk, data) -> None:
        services.exception_request_claim(request_id=pk, approver=request.user)


class RequestRelease(_RequestAction):
    @_action_schema("requests_release", "Release your claim")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, request, pk, data) -> None:
        services.exception_request_claim(request_id=pk, approver=request.user, release=True)


class RequestDecide(_RequestAction):
    input_serializer = api.DecisionSerializer

    @_action_schema(
        "requests_decide", "Approve or deny (a denial needs the alternative offered)", api.DecisionSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, request, pk, data) -> None:
        services.exception_request_decide(
            request_id=pk,
            approver=request.user,
            approve=data["decision"] == "approve",
            note=data["note"],
            alternative=data["alternative"],
        )


class RequestAsk(_RequestAction):
    input_serializer = api.AskSerializer

    @_action_schema("requests_ask", "Ask the filing rep for more information (the SLA clock pauses)", api.AskSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, request, pk, data) -> None:
        services.exception_request_ask(request_id=pk, approver=request.user, question=data["question"])


class RequestAnswer(_RequestAction):
    permission_classes = [IsAuthenticated]
    input_serializer = api.AnswerSerializer

    @_action_schema("requests_answer", "The filing rep answers: the request returns to the queue", api.AnswerSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, request, pk, data) -> None:
        services.exception_request_answer(request_id=pk, rep=request.user, answer=data["answer"])


class RequestWithdraw(_RequestAction):
    permission_classes = [IsAuthenticated]
    input_serializer = api.WithdrawSerializer

    @_action_schema(
        "requests_withdraw",
        "The filing rep withdraws their open or waiting request: it leaves every queue",
        api.WithdrawSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, request, pk, data) -> None:
        services.exception_request_withdraw(request_id=pk, rep=request.user, reason=data["reason"])


class QueueFilters(serializers.Serializer):
    """The portal queue's filters (forms.QueueFilterForm), with ids instead of choices."""

    policy = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    problem_type = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    tier = serializers.ChoiceField(choices=[0, 1, 2, 3], required=False, help_text="0: beyond all tiers.")
    level = serializers.IntegerField(required=False, min_value=1, max_value=9)
    overdue = serializers.BooleanField(required=False, default=False)


class Queue(GenericAPIView):
    permission_classes = [IsAuthenticated, CanDecide]
    serializer_class = api.RequestSummarySerializer
    pagination_class = QueueCursor

    @extend_schema(
        operation_id="queue_list",
        summary="Your approval queue: assigned to you, your groups or whom you stand in for; oldest deadline first",
        parameters=[QueueFilters],
        responses={200: api.RequestSummarySerializer(many=True), **problems(400, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        filters = QueueFilters(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        # The portal queue's selectors, so that the filters mean the same in both.
        rows = selectors.queue_filtered(
            selectors.queue_for(user=request.user), **filters.validated_data, now=timezone.now()
        )
        rows = rows.select_related("decided_by")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(api.RequestSummarySerializer(page, many=True).data)


class NotificationFilters(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False, help_text="Only unread ones.")


class Notifications(GenericAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = api.NotificationOutSerializer
    pagination_class = NotificationCursor

    @extend_schema(
        operation_id="notifications_list",
        summary="Your notifications, newest first",
        parameters=[NotificationFilters],
        responses={200: api.NotificationOutSerializer(many=True), **problems(400, 404)},
    )
    def get(self, request: Request) -> Response:
        filters = NotificationFilters(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        rows = Notification.objects.filter(user=request.user)
        if filters.validated_data["unread"]:
            rows = rows.filter(read_at__isnull=True)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(api.NotificationOutSerializer(page, many=True).data)


class NotificationsRead(GenericAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = api.NotificationsReadSerializer

    @extend_schema(
        operation_id="notifications_read",
        summary="Mark your notifications as read (some, or all)",
        request=api.NotificationsReadSerializer,
        responses={200: api.MarkedReadSerializer, **problems(400)},
    )
    def post(self, request: Request) -> Response:
        serializer = api.NotificationsReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = notifications.notifications_mark_read(
            user=request.user, notification_ids=serializer.validated_data.get("ids")
        )
        return Response({"marked_read": count})
