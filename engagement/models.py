"""Touches and their kinds, ABM programs and spend, web visitors, intent."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from abm_site.models import TimeStampedModel
from accounts.choices import ProgramType
from accounts.models import Account, Stakeholder, Tier

from .choices import Direction, FunnelPosition, SpendCategory, TouchKind


class Program(TimeStampedModel):
    """An ABM program (campaign) that spends money to engage target accounts."""

    name = models.CharField(max_length=255, unique=True)
    program_type = models.CharField(
        "type", max_length=12, choices=ProgramType.choices, default=ProgramType.ONE_TO_MANY
    )
    budget = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    target_tiers = models.ManyToManyField(Tier, blank=True, related_name="programs")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget__gte=0),
                name="%(app_label)s_%(class)s_budget_not_negative",
                violation_error_message="Budget cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True)
                | Q(starts_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="%(app_label)s_%(class)s_ends_after_start",
                violation_error_message="A program cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Spend(TimeStampedModel):
    """Money spent on a day; with a program it is ABM spend, without it general spend."""

    program = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.PROTECT, related_name="spend"
    )
    spent_on = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    channel = models.CharField(max_length=50, blank=True)
    category = models.CharField(
        max_length=12, choices=SpendCategory.choices, default=SpendCategory.MARKETING
    )
    source = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-spent_on"]
        verbose_name_plural = "spend"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="%(app_label)s_%(class)s_amount_not_negative",
                violation_error_message="Amount cannot be negative.",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_external_id_unique",
                violation_error_message="Spend from this source with this external id exists.",
            ),
        ]
        indexes = [models.Index(fields=["spent_on", "category"], name="spend_day_category_idx")]

    def __str__(self) -> str:
        return f"{self.spent_on} {self.amount} ({self.get_category_display()})"


class Visitor(TimeStampedModel):
    """An anonymous web visitor, attributed to an account and later to a known stakeholder."""

    anonymous_id = models.CharField(max_length=255, unique=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    stakeholder = models.ForeignKey(
        Stakeholder, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    first_seen_at = models.DateTimeField()
    identified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at"]
        indexes = [
            models.Index(fields=["account", "first_seen_at"], name="visitors_account_seen_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(identified_at__isnull=True)
                | Q(identified_at__gte=models.F("first_seen_at")),
                name="%(app_label)s_%(class)s_identified_after_seen",
                violation_error_message="A visitor cannot be identified before first seen.",
            ),
        ]

    def __str__(self) -> str:
        return self.anonymous_id


class Touch(TimeStampedModel):
    """One interaction of an account with the brand, or one exposure to it.

    The largest table: its foreign keys to account, stakeholder and program
    are indexed only through the composite (…, occurred_at) indexes below,
    those of the nullable keys only where the key is set, and ``created_at``
    is not indexed, so bulk ingest maintains few indexes.
    """

    # Database defaults too: bulk ingest COPYs rows straight into this table.
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="touches", db_index=False
    )
    stakeholder = models.ForeignKey(
        Stakeholder,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touches",
        db_index=False,
    )
    program = models.ForeignKey(
        Program,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touches",
        db_index=False,
    )
    visitor = models.ForeignKey(
        Visitor,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touches",
        db_index=False,
    )
    kind = models.CharField(max_length=25, choices=TouchKind.choices)
    channel = models.CharField(max_length=50, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.INBOUND)
    occurred_at = models.DateTimeField()
    url = models.URLField(max_length=2000, blank=True)
    asset = models.CharField("content asset", max_length=255, blank=True)
    funnel_position = models.CharField(max_length=4, choices=FunnelPosition.choices, blank=True)
    engagement_minutes = models.DecimalField(
        max_digits=8, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    cost = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    # Database default too: bulk ingest COPYs rows that may omit it.
    quantity = models.PositiveIntegerField(
        default=1,
        db_default=1,
        validators=[MinValueValidator(1)],
        help_text="How many events the row stands for: 1 for one event, more for an "
        "aggregated row (1,200 impressions of the account on a day).",
    )
    source = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name_plural = "touches"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_external_id_unique",
                violation_error_message="A touch from this source with this external id exists.",
            ),
            models.CheckConstraint(
                condition=Q(engagement_minutes__gte=0) & Q(cost__gte=0),
                name="%(app_label)s_%(class)s_minutes_cost_not_negative",
                violation_error_message="Engagement minutes and cost cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1),
                name="%(app_label)s_%(class)s_quantity_positive",
                violation_error_message="Quantity must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=TouchKind.values),
                name="%(app_label)s_%(class)s_kind_valid",
                violation_error_message="Unknown touch kind.",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "occurred_at"], name="touches_account_time_idx"),
            models.Index(fields=["kind", "occurred_at"], name="touches_kind_time_idx"),
            # Most touches name no stakeholder, program or visitor: these indexes hold
            # only the rows that do, so bulk ingest does not maintain them for the rest
            # (a lookup by these columns implies IS NOT NULL and still uses them).
            models.Index(
                fields=["stakeholder", "occurred_at"],
                condition=Q(stakeholder__isnull=False),
                name="touches_stakeholder_time_idx",
            ),
            models.Index(
                fields=["program", "occurred_at"],
                condition=Q(program__isnull=False),
                name="touches_program_time_idx",
            ),
            models.Index(
                fields=["visitor"], condition=Q(visitor__isnull=False), name="touches_visitor_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.account_id} · {self.occurred_at:%Y-%m-%d}"


class IntentSignal(TimeStampedModel):
    """A weekly intent score of an account for a research topic, from an intent provider."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="intent_signals")
    topic = models.CharField(max_length=255)
    is_competitor_topic = models.BooleanField(default=False)
    score = models.DecimalField(max_digits=7, decimal_places=2, validators=[MinValueValidator(0)])
    week = models.DateField(help_text="Monday of the week the score is for.")
    provider_surge = models.BooleanField(default=False)
    source = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        ordering = ["-week"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "topic", "week", "source"],
                name="%(app_label)s_%(class)s_account_topic_week_unique",
                violation_error_message="This account already has a score for this topic and week.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0),
                name="%(app_label)s_%(class)s_score_not_negative",
                violation_error_message="Intent score cannot be negative.",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "topic", "week"], name="intent_account_topic_idx")
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.topic} · {self.week}"


class HighValuePage(TimeStampedModel):
    """A URL pattern of a page whose visit signals buying interest (pricing, demo, …).

    The pattern matches anywhere in the visited URL; ``*`` stands for any text.
    """

    url_pattern = models.CharField(max_length=500, unique=True)
    label = models.CharField(max_length=100)

    class Meta:
        ordering = ["label"]
        verbose_name = "high-value page"

    def __str__(self) -> str:
        return f"{self.label} ({self.url_pattern})"

    @property
    def like_pattern(self) -> str:
        """The SQL LIKE form of the pattern (``%`` around, ``*`` → ``%``)."""
        escaped = self.url_pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "%" + escaped.replace("*", "%") + "%"
