"""Opportunities, NPS, stage history and the snapshots the nightly recompute writes."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from abm_site.models import TimeStampedModel
from accounts.models import Account, Stakeholder

from .choices import OpportunityStatus, OpportunityType, Stage


class Opportunity(TimeStampedModel):
    """A revenue opportunity of an account, as the CRM knows it."""

    Type = OpportunityType
    Status = OpportunityStatus

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="opportunities")
    name = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.NEW_BUSINESS)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.OPEN)
    crm_stage = models.CharField("CRM stage", max_length=100, blank=True)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    created_on = models.DateField(
        null=True, blank=True, help_text="Empty when the CRM does not know."
    )
    closed_on = models.DateField(null=True, blank=True)
    expected_close_on = models.DateField(
        null=True,
        blank=True,
        help_text="When an open opportunity is expected to close (the CRM's close date of an "
        "open deal); closed_on is the day it actually closed.",
    )
    term_months = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(1), MaxValueValidator(240)]
    )
    contract_start = models.DateField(null=True, blank=True)
    contract_end = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-closed_on", "-created_on"]
        verbose_name_plural = "opportunities"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="%(app_label)s_%(class)s_amount_not_negative",
                violation_error_message="Amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True)
                | Q(created_on__isnull=True)
                | Q(closed_on__gte=F("created_on")),
                name="%(app_label)s_%(class)s_closed_after_created",
                violation_error_message="Closed on cannot be before created on.",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(closed_on__isnull=False),
                name="%(app_label)s_%(class)s_closed_has_date",
                violation_error_message="A won or lost opportunity needs a closed on date.",
            ),
            models.CheckConstraint(
                condition=Q(term_months__gte=1),
                name="%(app_label)s_%(class)s_term_positive",
                violation_error_message="Term must be at least one month.",
            ),
            models.CheckConstraint(
                condition=Q(contract_end__isnull=True)
                | Q(contract_start__isnull=True)
                | Q(contract_end__gte=F("contract_start")),
                name="%(app_label)s_%(class)s_contract_end_after_start",
                violation_error_message="Contract end cannot be before contract start.",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_external_id_unique",
                violation_error_message="An opportunity from this source with this external id exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "type", "status"], name="opps_account_type_status_idx"),
            models.Index(
                fields=["type", "status", "closed_on"], name="opps_type_status_closed_idx"
            ),
            models.Index(fields=["created_on"], name="opps_created_idx"),
            models.Index(fields=["contract_end"], name="opps_contract_end_idx"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_type_display()} · {self.account_id}"


class NpsResponse(TimeStampedModel):
    """One answer to "how likely are you to recommend us?" (0–10)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="nps_responses")
    stakeholder = models.ForeignKey(
        Stakeholder, null=True, blank=True, on_delete=models.SET_NULL, related_name="nps_responses"
    )
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    responded_on = models.DateField()
    source = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-responded_on"]
        verbose_name = "NPS response"
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=10),
                name="%(app_label)s_%(class)s_score_0_10",
                violation_error_message="NPS score must be between 0 and 10.",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_external_id_unique",
                violation_error_message="An NPS response from this source with this external id exists.",
            ),
        ]
        indexes = [models.Index(fields=["responded_on"], name="nps_responded_idx")]

    def __str__(self) -> str:
        return f"{self.account} · {self.score} · {self.responded_on}"


class AccountStageChange(TimeStampedModel):
    """An account moved from one funnel stage to another on a day."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="stage_changes")
    changed_on = models.DateField()
    from_stage = models.CharField(max_length=12, choices=Stage.choices)
    to_stage = models.CharField(max_length=12, choices=Stage.choices)

    class Meta:
        ordering = ["-changed_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "changed_on"],
                name="%(app_label)s_%(class)s_account_day_unique",
                violation_error_message="This account already has a stage change on this day.",
            ),
            models.CheckConstraint(
                condition=~Q(from_stage=F("to_stage")),
                name="%(app_label)s_%(class)s_stage_differs",
                violation_error_message="A stage change must change the stage.",
            ),
        ]
        indexes = [models.Index(fields=["changed_on"], name="stage_changes_day_idx")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_stage} → {self.to_stage} on {self.changed_on}"


class StageCheckpoint(models.Model):
    """Working rows of the stage-history computation: a day an account's stage may change.

    Written and emptied inside one transaction per chunk of accounts
    (``funnel.history``); never read anywhere else.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    #: The day before the account's first checkpoint: its stage then is where the history
    #: starts (an account on the list since always starts at target, not at none).
    baseline = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day"],
                name="%(app_label)s_%(class)s_account_day_unique",
                violation_error_message="This account already has a checkpoint on this day.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} · {self.day}"


class AccountSnapshot(TimeStampedModel):
    """An account's stage, scores and counts as of the end of a day, under the definitions
    version that computed them (recorded, so an old snapshot can be recomputed the same way)."""

    #: The figures a snapshot holds, in order (written by the recompute, shown by the API).
    FIGURES = (
        "stage",
        "is_target",
        "engagement_score",
        "relationship_score",
        "research_grade",
        "intent_surge",
        "touch_counts",
        "engagement_touches",
        "last_touch_at",
        "open_pipeline",
    )

    date = models.DateField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="snapshots")
    stage = models.CharField(max_length=12, choices=Stage.choices)
    is_target = models.BooleanField(default=False)
    engagement_score = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    relationship_score = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    research_grade = models.PositiveSmallIntegerField(default=0)
    intent_surge = models.BooleanField(default=False)
    touch_counts = models.JSONField(
        default=dict, help_text="Touches by kind over the trailing window."
    )
    engagement_touches = models.PositiveIntegerField(default=0)
    last_touch_at = models.DateTimeField(null=True, blank=True)
    open_pipeline = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    definitions = models.ForeignKey(
        "DefinitionsVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="account_snapshots",
        help_text="The definitions version whose weights and windows made the scores (empty: "
        "written before snapshots recorded it).",
    )

    class Meta:
        ordering = ["-date", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["date", "account"],
                name="%(app_label)s_%(class)s_date_account_unique",
                violation_error_message="This account already has a snapshot for this day.",
            ),
            models.CheckConstraint(
                condition=Q(research_grade__lte=3),
                name="%(app_label)s_%(class)s_research_grade_0_3",
                violation_error_message="Research grade is 0 to 3.",
            ),
            models.CheckConstraint(
                condition=Q(relationship_score__gte=0) & Q(relationship_score__lte=100),
                name="%(app_label)s_%(class)s_relationship_0_100",
                violation_error_message="Relationship score is 0 to 100.",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "date"], name="acct_snapshots_account_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} · {self.date} · {self.stage}"


class DefinitionsVersion(TimeStampedModel):
    """The rules a KPI result was computed under: a formula generation and its parameters.

    ``generation`` picks the formulas (1: KPIS.md's first definitions, 2: "Definitions
    version 2"); ``params`` holds every parameter that changes a number (score weights,
    windows, half-lives, thresholds, the renewal grace days, the gross margin, the
    high-value page patterns or None for the registered pages). A version is never edited
    once a result was computed under it (``used_at``): a change derives a new version.
    Exactly one version is the default, chosen deliberately by an admin.
    """

    name = models.CharField(max_length=50, unique=True)
    generation = models.PositiveSmallIntegerField(
        choices=[(1, "Version 1"), (2, "Version 2")], default=2
    )
    params = models.JSONField(default=dict)
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derived"
    )
    note = models.TextField(blank=True, help_text="What changed and why.")
    is_default = models.BooleanField(default=False)
    used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First result computed under it."
    )

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "definitions version"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="%(app_label)s_%(class)s_one_default",
                violation_error_message="Another definitions version is the default.",
            ),
            models.CheckConstraint(
                condition=Q(generation__in=(1, 2)),
                name="%(app_label)s_%(class)s_generation_known",
                violation_error_message="Definitions generation must be 1 or 2.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FunnelSnapshot(TimeStampedModel):
    """The KPI catalogue for one slice and trailing window as of a day, as published.

    History is kept, not rewritten: a recompute that finds different numbers for a
    (day, window, slice, definitions) writes a new ``revision`` saying why; the
    latest revision is the current figure, revision 1 what was first published.
    """

    date = models.DateField()
    window_days = models.PositiveSmallIntegerField()
    slice = models.CharField(
        max_length=50, help_text="all, tier:<id>, program:<id> or cohort:<abm|non_abm>."
    )
    definitions = models.ForeignKey(
        DefinitionsVersion, on_delete=models.PROTECT, related_name="funnel_snapshots"
    )
    revision = models.PositiveSmallIntegerField(default=1)
    reason = models.CharField(max_length=200, blank=True)
    kpis = models.JSONField(default=dict)

    class Meta:
        ordering = ["-date", "slice", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["date", "window_days", "slice", "definitions", "revision"],
                name="%(app_label)s_%(class)s_date_window_slice_revision_unique",
                violation_error_message="This revision of the snapshot exists.",
            ),
            models.CheckConstraint(
                condition=Q(revision__gte=1),
                name="%(app_label)s_%(class)s_revision_positive",
                violation_error_message="Revisions count from 1.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["slice", "window_days", "definitions", "date", "revision"],
                name="funnel_snap_slice_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.date} · {self.window_days}d · {self.slice} · {self.definitions_id} r{self.revision}"


class RecomputeRun(TimeStampedModel):
    """One recompute of the snapshots for a day: when, how many accounts, how it ended."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        NIGHTLY = "nightly", "Nightly"
        MARKED = "marked", "Marked accounts"
        BACKFILL = "backfill", "Backfill"

    date = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NIGHTLY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "kind", "date"], name="recompute_status_idx")]
        constraints = [
            # The lock: at most one running recompute per day and kind, held by the database
            # so two beats, a retried task or a second worker can never double-write.
            models.UniqueConstraint(
                fields=["date", "kind"],
                condition=Q(status="running"),
                name="%(app_label)s_%(class)s_one_running_per_day",
                violation_error_message="A recompute for this day is already running.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date} ({self.get_status_display()})"


class RecomputeChunk(models.Model):
    """A range of account ids of a run; ``done_at`` set once its snapshots are written.

    Progress lives in the database, not in the broker, so a run whose messages
    were lost (Redis restarted, worker killed) can be resumed chunk by chunk.
    """

    run = models.ForeignKey(RecomputeRun, on_delete=models.CASCADE, related_name="chunks")
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    accounts = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "first_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "first_id"],
                name="%(app_label)s_%(class)s_run_first_unique",
                violation_error_message="This run already has a chunk starting at this id.",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id}: accounts {self.first_id}–{self.last_id}"
