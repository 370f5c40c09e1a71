"""Policies, their tiers of exception, controls, rep rights and approvers.

Every model keeps its history (django-simple-history): who changed what, when.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from exceptions_portal import formatting
from exceptions_portal.people import display_name

MAX_MONEY = Decimal("1000000000")  # 10^9, the portal's ceiling on any amount


class Sentiment(models.TextChoices):
    AMAZED = "amazed", "Amazed"
    HAPPY = "happy", "Happy"
    NEUTRAL = "neutral", "Neutral"
    UNHAPPY = "unhappy", "Unhappy"
    DEEPLY_UNHAPPY = "deeply_unhappy", "Deeply unhappy"


class TierKind(models.TextChoices):
    # Only tier 2 has a kind; tiers 1 and 3 use the empty string.
    NONE = "", "—"
    REWARD = "reward", "Reward (for an amazed promoter)"
    SAVE = "save", "Save (turn an unhappy customer around)"


class ProblemType(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Policy(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    problem_type = models.ForeignKey(ProblemType, on_delete=models.PROTECT, related_name="policies")
    statement = models.TextField(
        "customer-facing statement", max_length=2000, help_text="What the policy says, as a customer reads it."
    )
    rationale = models.TextField(
        max_length=2000,
        help_text="Why the policy exists. Reps explain this to customers: we can change how, not why.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_policies",
    )
    active = models.BooleanField(default=True)
    sla_minutes = models.PositiveIntegerField(
        "SLA (minutes)",
        default=120,
        validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 30)],
        help_text="Time an approver has to decide a pending request.",
    )
    calendar = models.ForeignKey(
        "BusinessCalendar",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text="Count the SLA in working minutes of this calendar. Empty: wall-clock minutes.",
    )
    review_threshold = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Exceptions with the same cause that flag the policy for review.",
    )
    review_window_days = models.PositiveSmallIntegerField(
        "review window (days)", default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        permissions = [("view_analysis", "Can view the exception analysis")]
        constraints = [
            models.CheckConstraint(condition=Q(sla_minutes__gte=1), name="policy_sla_positive"),
            models.CheckConstraint(condition=Q(review_threshold__gte=1), name="policy_review_threshold_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Control(models.Model):
    """Something no exception may waive: exceptions are for process, not for controls."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="controls")
    name = models.CharField(max_length=120)
    why = models.TextField("why it cannot bend", max_length=1000)

    history = HistoricalRecords()

    class Meta:
        ordering = ["policy", "name"]
        constraints = [models.UniqueConstraint(fields=["policy", "name"], name="control_unique_per_policy")]

    def __str__(self) -> str:
        return self.name


class ExceptionTier(models.Model):
    class Level(models.IntegerChoices):
        CREATIVE = 1, "Tier 1: creative, at or near policy"
        CLEAR_EXCEPTION = 2, "Tier 2: clear exception"
        FULL_RESOLUTION = 3, "Tier 3: full resolution"

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="tiers")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    kind = models.CharField(max_length=10, choices=TierKind.choices, blank=True, default=TierKind.NONE)
    description = models.CharField(max_length=300)
    sentiments = models.JSONField(default=list, help_text="Customer sentiments this tier is meant for.")
    money_cap = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_MONEY)],
    )
    max_business_days = models.PositiveSmallIntegerField(
        "max business days affected", validators=[MaxValueValidator(365)]
    )
    supplier_exceptions_allowed = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="0: no supplier exception allowed."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["policy", "level", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "level", "kind"], name="tier_unique_level_kind"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="tier_level_1_to_3"),
            models.CheckConstraint(condition=Q(money_cap__gte=0), name="tier_money_cap_non_negative"),
            models.CheckConstraint(
                condition=(Q(level=2) & ~Q(kind="")) | (~Q(level=2) & Q(kind="")),
                name="tier_kind_only_on_level_2",
            ),
        ]

    def __str__(self) -> str:
        label = f"Tier {self.level}"
        if self.kind:
            label += f" ({self.get_kind_display().split(' ')[0].lower()})"
        return label

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.level == 2 and not self.kind:
            errors["kind"] = "A tier-2 exception is either a reward or a save."
        if self.level in (1, 3) and self.kind:
            errors["kind"] = "Only tier 2 has a kind (reward or save)."
        if not isinstance(self.sentiments, list):
            errors["sentiments"] = 'Sentiments must be a list, e.g. ["unhappy", "deeply_unhappy"].'
        elif unknown := [s for s in self.sentiments if s not in Sentiment.values]:
            errors["sentiments"] = f"Unknown sentiment(s): {', '.join(map(str, unknown))}."
        elif not self.sentiments:
            errors["sentiments"] = "Pick at least one customer sentiment this tier is meant for."
        if errors:
            raise ValidationError(errors)


def tier_limit_errors(tiers: list[ExceptionTier]) -> list[str]:
    """Limits may not decrease from tier 1 to tier 3 (a higher tier grants at least as much).

    Pure: works on unsaved tiers, so that the admin's inline formset can call it
    before anything is written.
    """
    errors: list[str] = []
    limits = ("money_cap", "max_business_days", "supplier_exceptions_allowed")
    labels = {
        "money_cap": "money cap",
        "max_business_days": "business days",
        "supplier_exceptions_allowed": "supplier exceptions",
    }
    ordered = sorted(tiers, key=lambda t: t.level)
    for lower in ordered:
        for higher in ordered:
            if higher.level <= lower.level:
                continue
            for limit in limits:
                if getattr(higher, limit) < getattr(lower, limit):
                    errors.append(
                        f"{higher}'s {labels[limit]} ({getattr(higher, limit)}) is below "
                        f"{lower}'s ({getattr(lower, limit)}): limits may not decrease from tier 1 to tier 3."
                    )
    return errors


class RepRight(models.Model):
    """A user's or a group's right to grant tier-2 exceptions of a policy without approval."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="rep_rights")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="rep_rights"
    )
    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="rep_rights")

    history = HistoricalRecords()

    class Meta:
        verbose_name = "rep right (tier 2 without approval)"
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="repright_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["policy", "user"], condition=Q(user__isnull=False), name="repright_unique_user"
            ),
            models.UniqueConstraint(
                fields=["policy", "group"], condition=Q(group__isnull=False), name="repright_unique_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder} may grant tier 2 of {self.policy}" if self.policy_id else str(self.holder)

    @property
    def holder(self) -> object:
        return self.user or self.group

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError("Choose either a user or a group, not both.")


class ApproverLevel(models.Model):
    """Who decides at an approval level of a policy (1 = designated approver, higher = escalation).

    A level may hold several rows (for instance two managers with different money
    authority); a request at that level is in the queue of every one of them.
    """

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="approver_levels")
    level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(9)])
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="approver_levels"
    )
    group = models.ForeignKey(
        "auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="approver_levels"
    )
    money_authority = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_MONEY)],
        help_text="The largest amount this approver may approve.",
    )

    history = HistoricalRecords()

    class Meta:
        # A fixed order, so that "assigned to Morgan Lee, Alex Kim" reads the same on every database.
        ordering = ["policy", "level", "pk"]
        indexes = [models.Index(fields=["policy", "level"], name="approverlevel_policy_level")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="approverlevel_user_xor_group",
            ),
            models.CheckConstraint(condition=Q(level__gte=1), name="approverlevel_level_positive"),
            models.CheckConstraint(condition=Q(money_authority__gte=0), name="approverlevel_authority_non_negative"),
            models.UniqueConstraint(
                fields=["policy", "level", "user"], condition=Q(user__isnull=False), name="approverlevel_unique_user"
            ),
            models.UniqueConstraint(
                fields=["policy", "level", "group"],
                condition=Q(group__isnull=False),
                name="approverlevel_unique_group",
            ),
        ]

    def __str__(self) -> str:
        return f"Level {self.level}: {self.holder_name}"

    @property
    def holder_name(self) -> str:
        if self.user_id:
            return display_name(self.user)
        if self.group_id:
            return f"{self.group.name} (group)"
        return "—"

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError("Choose either a user or a group, not both.")


class BusinessCalendar(models.Model):
    """Working hours for SLA clocks that count only working minutes."""

    name = models.CharField(max_length=80, unique=True)
    time_zone = models.CharField(max_length=64, default="Europe/London")
    working_days = models.JSONField(default=list, help_text="ISO weekdays: 1 = Monday ... 7 = Sunday.")
    opens_at = models.TimeField(default="09:00")
    closes_at = models.TimeField(default="17:00")

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        errors: dict[str, str] = {}
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"Unknown time zone {self.time_zone!r} (use e.g. Europe/London)."
        days = self.working_days
        if not isinstance(days, list) or not days or any(d not in range(1, 8) for d in days):
            errors["working_days"] = "Pick at least one working day."
        # A time the form could not read leaves the model's default (a string) or None behind:
        # compare only two real times, the form already shows its own error for the other.
        opens, closes = self.opens_at, self.closes_at
        if isinstance(opens, datetime.time) and isinstance(closes, datetime.time) and opens >= closes:
            errors["closes_at"] = "Closing time must be after opening time."
        if errors:
            raise ValidationError(errors)


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=80)

    history = HistoricalRecords()

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_per_calendar")]

    def __str__(self) -> str:
        return f"{self.name} ({formatting.local(self.date, formatting.TEXT_DATE)})"


class ReviewFlag(models.Model):
    """A policy flagged for review: the same exception keeps coming ("a request that comes twice
    says the policy is broken"). Resolved by a policy admin with a note."""

    class Resolution(models.TextChoices):
        CHANGED_POLICY = "changed_policy", "Changed the policy"
        CHANGED_TIERS = "changed_tiers", "Changed the tiers"
        KEPT = "kept", "Kept as is"

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="review_flags")
    cause = models.CharField(max_length=20)
    reason = models.TextField()
    request_ids = models.JSONField(default=list, help_text="The requests behind the flag.")
    raised_at = models.DateTimeField()
    owner_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True, max_length=2000)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # At most one open flag per policy: the check that raises it is idempotent.
            models.UniqueConstraint(
                fields=["policy"], condition=Q(resolved_at__isnull=True), name="reviewflag_one_open_per_policy"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.reason}"


class DigestLog(models.Model):
    """One weekly digest per owner and week: a rerun of the job sends nothing twice."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "week_start"], name="digest_once_per_week")]

    def __str__(self) -> str:
        return f"Digest for {self.owner} (week of {self.week_start})"


class RulesVersion(models.Model):
    """One row whose stamp changes whenever anything routing reads changes (policies.signals), so that each
    process may keep a policy with its rules until then (selectors.policy_with_rules)."""

    stamp = models.CharField(max_length=32)

    def __str__(self) -> str:
        return f"Policy rules version {self.stamp}"
