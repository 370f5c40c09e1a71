"""Exception requests, the customers they are for, and what happens to them.

This app is named ``requests`` as the product owner asked: inside the Django
process it shadows the PyPI ``requests`` package, which must never be imported
here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Q, When
from django.utils import timezone
from simple_history.models import HistoricalRecords

from exceptions_portal import formatting
from policies.models import MAX_MONEY, Sentiment, TierKind
from requests.attachments import AttachmentStorage
from requests.references import customer_ref_key


class Cause(models.TextChoices):
    OUR_MISTAKE = "our_mistake", "Our mistake"
    BEYOND_CONTROL = "beyond_control", "Beyond the customer's control"
    LOYALTY = "loyalty", "Loyalty"
    EXTRA_VALUE = "extra_value", "Customer wants extra value"


class Status(models.TextChoices):
    GRANTED = "granted", "Granted by rep"
    PENDING = "pending", "Pending approval"
    ESCALATED = "escalated", "Escalated"
    WAITING_FOR_REP = "waiting_for_rep", "Waiting for rep"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn by rep"


# A request in one of these is in an approver's queue and under the SLA clock.
OPEN_STATUSES = (Status.PENDING, Status.ESCALATED)
# Granted exceptions: the rep's own grant or an approver's approval.
GRANTED_STATUSES = (Status.GRANTED, Status.APPROVED)
DECIDED_STATUSES = (Status.GRANTED, Status.APPROVED, Status.DENIED)
# What the filing rep may still take back: open, or waiting for their answer.
WITHDRAWABLE_STATUSES = (Status.PENDING, Status.ESCALATED, Status.WAITING_FOR_REP)


def tier_label(level: int | None, kind: str, beyond_all_tiers: bool) -> str:
    """How people read a request's tier: "Tier 2 (save)", "Beyond all tiers"."""
    if beyond_all_tiers:
        return "Beyond all tiers"
    if not level:
        return "—"
    if kind:
        return f"Tier {level} ({TierKind(kind).label.split(' ')[0].lower()})"
    return f"Tier {level}"


def routing_reason_text(reason: str | dict) -> str:
    """A line of the routing explanation. The deadline is stored as facts and read in the reader's time zone
    (the active one), with the zone named; older rows hold the sentence as it was written."""
    if isinstance(reason, dict) and "due_by" in reason:
        due = timezone.localtime(datetime.fromisoformat(reason["due_by"]))
        return f"Due by {formatting.local(due, formatting.TEXT_WEEKDAY_DATE_TIME_ZONE)} ({reason.get('sla_minutes')} minute SLA)."
    return str(reason)


class Customer(models.Model):
    external_ref = models.CharField("customer reference", max_length=64, unique=True)
    # The reference as compared (references.customer_ref_key): one customer however it is typed. Empty
    # only for a customer whose key another, older customer already had when keys were introduced
    # (`manage.py customers_duplicates` lists them).
    ref_key = models.CharField(
        "normalised reference", max_length=64, unique=True, null=True, blank=True, editable=False
    )
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    # The trail is read by customer (their id): the copies of the unique references are not indexed there.
    history = HistoricalRecords(no_db_index=["external_ref", "ref_key"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_ref})"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.ref_key is None:
            self.ref_key = customer_ref_key(self.external_ref) or None
        super().save(*args, **kwargs)


class ExceptionRequest(models.Model):
    reference = models.CharField(max_length=20, unique=True, null=True, blank=True, editable=False)
    # No index of their own: each leads a composite index below (request_customer_policy, request_policy_level_status,
    # request_rep_filed), which serves the same lookups; one index fewer to write per filing.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="exception_requests", db_index=False)
    policy = models.ForeignKey(
        "policies.Policy", on_delete=models.PROTECT, related_name="exception_requests", db_index=False
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="filed_requests",
        verbose_name="filed by",
        db_index=False,
    )

    # What the rep filed.
    sentiment = models.CharField(max_length=20, choices=Sentiment.choices)
    cause = models.CharField(max_length=20, choices=Cause.choices)
    situation = models.TextField(max_length=4000)
    resolution_requested = models.TextField("resolution asked for", max_length=2000)
    amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_MONEY)],
    )
    business_days = models.PositiveSmallIntegerField(
        "business days affected", default=0, validators=[MaxValueValidator(365)]
    )
    supplier_exception = models.BooleanField("supplier exception needed", default=False)
    alternative_offered = models.TextField("firm alternative offered", max_length=2000)
    corrective_action = models.TextField(max_length=2000)

    # What routing decided (routing.py), kept as filed.
    tier_level = models.PositiveSmallIntegerField(null=True, blank=True)
    tier_kind = models.CharField(max_length=10, choices=TierKind.choices, blank=True, default="")
    beyond_all_tiers = models.BooleanField(default=False)
    is_repeat = models.BooleanField("repeat customer under this policy", default=False)
    routing_reasons = models.JSONField(default=list)

    status = models.CharField(max_length=20, choices=Status.choices)
    filed_at = models.DateTimeField()

    # The SLA (sla.py). approval_level is the level whose approvers see it.
    approval_level = models.PositiveSmallIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    level_started_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    breached_level = models.PositiveSmallIntegerField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # The queue's order: the deadline while the request is open, empty otherwise. The database keeps it, so
    # that the queue walks one index in deadline order on every engine. SQLite, which has no statistics,
    # looked up a status index rather than walk a partial index on due_at WHERE status IN (open statuses)
    # (even with the statuses written as literals), and then sorted every open request.
    open_due_at = models.GeneratedField(
        expression=Case(When(status__in=OPEN_STATUSES, then=F("due_at"))),
        output_field=models.DateTimeField(null=True, blank=True),
        db_persist=True,
        verbose_name="deadline while open",
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="claimed_requests"
    )
    info_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    info_question = models.TextField(blank=True, max_length=2000)
    info_answer = models.TextField(blank=True, max_length=2000)

    # The decision, and what was in force when it was made.
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="decided_requests"
    )
    decided_on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_note = models.TextField("justification", blank=True, max_length=2000)
    decision_alternative = models.TextField(blank=True, max_length=2000)
    policy_version = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The policy's history row in force at the decision."
    )
    approver_authority = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    # Telling the customer (messages.py).
    customer_message = models.TextField(blank=True, max_length=8000)
    message_sent_at = models.DateTimeField(null=True, blank=True)

    # Taking it back (services.exception_request_withdraw).
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True, max_length=2000)

    # The one-time token of the filing form: the same form posted twice files once.
    filing_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    # Counted into the analysis' daily rollups (services.rollups), in the same transaction that added it
    # there. Only a final request is (a decision never changes afterwards); a withdrawn one is marked
    # without being counted.
    rolled_up = models.BooleanField(default=False, editable=False)

    # Derived: open_due_at from status and due_at, which the history already keeps; rolled_up is
    # bookkeeping of the analysis' derived tables, not a change to the request. The trail is read by request
    # (its id) and by date: the copies of the other keys and the unique columns are not indexed there, which
    # spares every filing and decision ten index writes.
    history = HistoricalRecords(
        excluded_fields=["open_due_at", "rolled_up"],
        no_db_index=[
            "reference",
            "customer",
            "policy",
            "rep",
            "claimed_by",
            "info_requested_by",
            "decided_by",
            "decided_on_behalf_of",
            "filing_token",
        ],
    )

    class Meta:
        ordering = ["-filed_at"]
        permissions = [("decide_exceptionrequest", "Can decide exception requests")]
        indexes = [
            models.Index(fields=["status", "due_at"], name="request_status_due"),
            # The approver's queue in its order (selectors.queue_for), and the SLA sweep's breaches.
            models.Index(
                fields=["open_due_at", "id"], condition=Q(open_due_at__isnull=False), name="request_queue_due"
            ),
            models.Index(fields=["status", "remind_at"], name="request_status_remind"),
            models.Index(fields=["policy", "approval_level", "status"], name="request_policy_level_status"),
            models.Index(fields=["rep", "filed_at"], name="request_rep_filed"),
            models.Index(fields=["customer", "policy", "status"], name="request_customer_policy"),
            models.Index(fields=["filed_at"], name="request_filed_at"),
            # The analysis' decision times (policies.insights.percentiles): the decided requests of a period with
            # every column their counts read, so that the database reads the index alone, never the table. Key
            # columns rather than INCLUDE, which SQLite ignores (check models.W040): covering on both engines.
            models.Index(
                fields=["filed_at", "policy", "decided_by", "decided_at"],
                condition=Q(status__in=["approved", "denied"]),
                name="request_decided_filed",
            ),
            # The analysis' live part (what the rollups do not hold yet) and the catch-up job's next batch:
            # open requests and those decided since the last catch-up, a few thousand at most.
            models.Index(fields=["filed_at"], condition=Q(rolled_up=False), name="request_not_rolled_up"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="request_amount_non_negative"),
            models.CheckConstraint(
                condition=~Q(status__in=["pending", "escalated"])
                | Q(due_at__isnull=False, approval_level__isnull=False),
                name="request_open_has_deadline",
            ),
        ]

    def __str__(self) -> str:
        return self.reference or f"request #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_decided(self) -> bool:
        return self.status in DECIDED_STATUSES

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier_level, self.tier_kind, self.beyond_all_tiers)


class Escalation(models.Model):
    """One step of a request's escalation trail: a breach at a level, and where it went."""

    request = models.ForeignKey(ExceptionRequest, on_delete=models.CASCADE, related_name="escalations")
    from_level = models.PositiveSmallIntegerField()
    to_level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: top level, admins alerted.")
    breached_at = models.DateTimeField()
    new_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "from_level"]
        constraints = [
            # One breach per level per request: the database refuses a double escalation.
            models.UniqueConstraint(fields=["request", "from_level"], name="escalation_once_per_level"),
        ]

    def __str__(self) -> str:
        target = f"level {self.to_level}" if self.to_level else "policy admins (top level)"
        return f"Breached at level {self.from_level}, escalated to {target}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        DECIDED = "decided", "Decision"
        INFO_REQUESTED = "info_requested", "Information requested"
        INFO_ANSWERED = "info_answered", "Information given"
        REMINDER = "reminder", "SLA reminder"
        ESCALATED = "escalated", "Escalated"
        ALERT = "alert", "SLA breached at top level"
        REVIEW_FLAG = "review_flag", "Policy flagged for review"
        ARRIVED = "arrived", "A request waits for your decision"
        WITHDRAWN = "withdrawn", "Withdrawn by the rep"
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook disabled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    request = models.ForeignKey(
        ExceptionRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Held for the recipient's digest (their preference when it was written) instead of its own email.
    in_digest = models.BooleanField(default=False)
    # The approval level the request arrived at, for an arrival: its email's decision links are bound to it.
    level = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            models.Index(fields=["emailed_at", "created_at"], name="notification_unsent"),
            models.Index(fields=["user", "request"], name="notification_user_request"),
        ]

    def __str__(self) -> str:
        return self.text


class Delegation(models.Model):
    """An approver's out-of-office: while it runs, their queue shows to the delegate."""

    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_out")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_in")
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    # The stand-in was told of what already waited at the approver's levels when the period started.
    arrivals_sent_on = models.DateField(null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["arrivals_sent_on"])

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="delegation_dates_ordered"),
            models.CheckConstraint(condition=~Q(approver=models.F("delegate")), name="delegation_not_self"),
        ]

    def __str__(self) -> str:
        starts, ends = (
            formatting.local(self.starts_on, formatting.TEXT_DAY_MONTH),
            formatting.local(self.ends_on, formatting.TEXT_DATE),
        )
        return f"{self.delegate} stands in for {self.approver} {starts}–{ends}"


class NotificationPreference(models.Model):
    """How a person is emailed: every notification as it happens, or a digest every 15, 30 or 60 minutes."""

    class Delivery(models.IntegerChoices):
        EACH = 0, "Every notification, as it happens"
        DIGEST_15 = 15, "A digest every 15 minutes"
        DIGEST_30 = 30, "A digest every 30 minutes"
        DIGEST_60 = 60, "A digest every 60 minutes"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    digest_minutes = models.PositiveSmallIntegerField("email me", choices=Delivery.choices, default=Delivery.EACH)
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="Deadlines in emails are shown in this time zone (empty: the portal's)."
    )
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.get_digest_minutes_display()}"


class QuestionAnswer(models.Model):
    """One entry of a request's question-and-answer thread: an approver's question or the rep's answer."""

    class Kind(models.TextChoices):
        QUESTION = "question", "Question"
        ANSWER = "answer", "Answer"

    request = models.ForeignKey(ExceptionRequest, on_delete=models.CASCADE, related_name="thread")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=2000)
    # What the rep corrected with the answer, as "Amount: 300.00 → 200.00" lines (the history keeps the rest).
    corrections = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["request", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.request}"


def _attachment_storage() -> AttachmentStorage:
    return AttachmentStorage()


def attachment_upload_path(instance: Attachment, filename: str) -> str:
    # Never the uploader's name: a random name in the request's folder, with the extension of the checked type.
    return f"requests/{instance.request_id}/{uuid.uuid4().hex}.{filename.rpartition('.')[2]}"


class Attachment(models.Model):
    """Evidence on a request (a bank confirmation, a photo of the damage, an outage notice).

    The type was checked from the content (attachments.py); ``name`` is the sanitised name shown and offered
    as the download's name. Served only through the portal's view, which applies the request's visibility.
    """

    request = models.ForeignKey(ExceptionRequest, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_upload_path, storage=_attachment_storage, max_length=200)
    thumbnail = models.FileField(
        upload_to=attachment_upload_path, storage=_attachment_storage, max_length=200, blank=True
    )
    name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class RequestDayRollup(models.Model):
    """The analysis' counters of the final requests filed on one local day (settings.TIME_ZONE) under one
    policy: exact counts and sums, added to by services.rollups.requests_roll_up. Derived data, no history."""

    day = models.DateField()
    policy = models.ForeignKey("policies.Policy", on_delete=models.CASCADE, related_name="+")
    filed = models.PositiveIntegerField(default=0)
    granted_by_rep = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    denied = models.PositiveIntegerField(default=0)
    money_granted = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    went_to_approver = models.PositiveIntegerField(default=0)
    sla_kept = models.PositiveIntegerField(default=0)
    tier1 = models.PositiveIntegerField(default=0)
    tier2_reward = models.PositiveIntegerField(default=0)
    tier2_save = models.PositiveIntegerField(default=0)
    tier3 = models.PositiveIntegerField(default=0)
    beyond = models.PositiveIntegerField(default=0)
    cause_our_mistake = models.PositiveIntegerField(default=0)
    cause_beyond_control = models.PositiveIntegerField(default=0)
    cause_loyalty = models.PositiveIntegerField(default=0)
    cause_extra_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "policy"], name="request_rollup_day_policy")]

    def __str__(self) -> str:
        return f"{self.day} policy #{self.policy_id}: {self.filed} filed"


class EscalationDayRollup(models.Model):
    """The SLA breaches (escalation rows) of the final requests filed on one local day under one policy, per level."""

    day = models.DateField()
    policy = models.ForeignKey("policies.Policy", on_delete=models.CASCADE, related_name="+")
    from_level = models.PositiveSmallIntegerField()
    n = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "policy", "from_level"], name="escalation_rollup_day_level")
        ]

    def __str__(self) -> str:
        return f"{self.day} policy #{self.policy_id} level {self.from_level}: {self.n}"


class PersonDayRollup(models.Model):
    """One person's counted work on one local day, as the analysis' people table counts it: a rep's grants at
    once (``at_once``, for the rep who filed) or an approver's decisions (for the approver who decided).
    Without the policy: with a problem-type filter the people table is counted live."""

    day = models.DateField()
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+")
    at_once = models.BooleanField()
    n = models.PositiveIntegerField(default=0)
    money = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    approved = models.PositiveIntegerField(default=0)
    denied = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "person", "at_once"], name="person_rollup_day_person")]

    def __str__(self) -> str:
        return f"{self.day} user #{self.person_id}: {self.n}"


class CustomerRollup(models.Model):
    """How many of a customer's requests (withdrawn ones left out) the rollups hold, whenever filed: an upper
    bound of the customer's count in any period, for finding the most frequent askers without counting all."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="+")
    filed = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"customer #{self.customer_id}: {self.filed}"


class DecisionMinutesMonthRollup(models.Model):
    """How many of the approvers' decisions on the requests filed in one local month (settings.TIME_ZONE; ``month``
    is its first day) under one policy, by one approver, took each whole number of minutes: the decision-time
    percentiles of the months a period holds whole, without reading their decisions. A day's decisions per
    policy and approver are too few to compress, so months; a period's days outside its whole months are
    counted live. Rows of a null approver may repeat (NULLs never conflict): they are summed, as every row."""

    month = models.DateField()
    policy = models.ForeignKey("policies.Policy", on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+")
    minutes = models.BigIntegerField()
    n = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "policy", "decided_by", "minutes"], name="decision_minutes_rollup_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} policy #{self.policy_id}, user #{self.decided_by_id}: {self.n} x {self.minutes} min"


# The REST API's and the webhooks' models live in their own module (keeps this one about requests).
from requests.api_models import ApiToken, IdempotencyKey, WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
