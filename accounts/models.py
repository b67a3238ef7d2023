"""Target accounts (companies), tiers, ICP rules and buying committees."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from abm_site.models import TimeStampedModel

from .choices import BuyingRole, FitGrade, IcpAttribute, ListKind, ProgramType
from .domains import normalize_domain


class Tier(TimeStampedModel):
    """A priority tier of target accounts; rank 1 is the most important."""

    name = models.CharField(max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class IcpRule(TimeStampedModel):
    """One criterion of the ideal customer profile; matching rules add their weight.

    An account's fit score is the weight of the rules it matches over the
    weight of all active rules, scaled to 0–100; the grade cuts that score
    at the thresholds in ``ABM_SCORES["fit_grade_thresholds"]``.
    """

    attribute = models.CharField(max_length=20, choices=IcpAttribute.choices)
    values = models.JSONField(
        default=list,
        blank=True,
        help_text="For industry or country: the matching values (case-insensitive).",
    )
    min_value = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="For employees or revenue: the lowest matching value (inclusive).",
    )
    max_value = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="For employees or revenue: the highest matching value (inclusive).",
    )
    weight = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["attribute", "id"]
        verbose_name = "ICP rule"
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=1),
                name="%(app_label)s_%(class)s_weight_positive",
                violation_error_message="Weight must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(min_value__isnull=True)
                | Q(max_value__isnull=True)
                | Q(min_value__lte=models.F("max_value")),
                name="%(app_label)s_%(class)s_range_ordered",
                violation_error_message="The minimum must not exceed the maximum.",
            ),
        ]

    def __str__(self) -> str:
        if self.attribute in (IcpAttribute.INDUSTRY, IcpAttribute.COUNTRY):
            shown = ", ".join(map(str, self.values)) or "—"
        else:
            shown = (
                f"{self.min_value if self.min_value is not None else '…'}–"
                f"{self.max_value if self.max_value is not None else '…'}"
            )
        return f"{self.get_attribute_display()}: {shown} (×{self.weight})"

    def clean(self) -> None:
        categorical = self.attribute in (IcpAttribute.INDUSTRY, IcpAttribute.COUNTRY)
        if categorical and not self.values:
            raise ValidationError({"values": "List at least one value for this attribute."})
        if not categorical and self.min_value is None and self.max_value is None:
            raise ValidationError({"min_value": "Give a minimum, a maximum or both."})
        if categorical and not all(isinstance(v, str) for v in self.values):
            raise ValidationError({"values": "Values must be a list of strings."})


def target_q(day, prefix: str = "") -> Q:
    """The target-list condition as of ``day``, optionally through a relation prefix.

    One definition of "target as of D": a membership interval of the target list
    (``joined_on`` empty or <= day, ``left_on`` empty or > day), so an account
    re-targeted after a gap is a target exactly in its intervals (#15). ``day`` may
    be a date or ``F("<column>")`` of the outer row (the stage history evaluates
    many days at once). PostgreSQL keeps the list in step with the accounts'
    targeting fields (a trigger, migration 0004); elsewhere (the SQLite default of
    ``make run``) those fields stand in: ``targeted_on`` empty or <= day,
    ``untargeted_on`` empty or > day, on accounts with ``is_target``.
    """
    from django.db import connection
    from django.db.models import Exists, F, OuterRef

    if connection.vendor != "postgresql":
        return (
            Q(**{f"{prefix}is_target": True})
            & (
                Q(**{f"{prefix}targeted_on__isnull": True})
                | Q(**{f"{prefix}targeted_on__lte": day})
            )
            & (
                Q(**{f"{prefix}untargeted_on__isnull": True})
                | Q(**{f"{prefix}untargeted_on__gt": day})
            )
        )
    if type(day) is F:  # a column of the outer row, seen from inside the subquery
        members = ListMembership.objects.filter(
            Q(joined_on__isnull=True) | Q(joined_on__lte=OuterRef(day.name)),
            Q(left_on__isnull=True) | Q(left_on__gt=OuterRef(day.name)),
            list__is_target=True,
            account_id=OuterRef(f"{prefix}pk"),
        )
        return Q(Exists(members))
    # A fixed day: one uncorrelated set of ids (hashed once per query), not a lookup per
    # row, which PostgreSQL picks for a few thousand rows and repeats per aggregate (#18).
    members = ListMembership.objects.filter(
        Q(joined_on__isnull=True) | Q(joined_on__lte=day),
        Q(left_on__isnull=True) | Q(left_on__gt=day),
        list__is_target=True,
    )
    return Q(**{f"{prefix}pk__in": members.values("account_id")})


class Owner(TimeStampedModel):
    """A person who owns accounts: a user of the app, or a CRM person who never signs in.

    The KPI ``owner`` filter names owners by this id. Owners created by an
    import (a CRM's "Account Owner" the app does not know) have no user and
    no password; linking one to a user later keeps its accounts.
    """

    name = models.CharField(max_length=255)
    email = models.EmailField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owner",
        help_text="The user this owner signs in as, if any.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(email__isnull=False),
                name="%(app_label)s_%(class)s_email_unique",
                violation_error_message="Another owner has this e-mail.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.email is not None:
            self.email = self.email.strip().lower() or None
        super().save(*args, **kwargs)


class Account(TimeStampedModel):
    """A company: on the target list (ABM) or not, a customer or not."""

    name = models.CharField(max_length=255, db_index=True)
    domain = models.CharField(
        max_length=253,
        null=True,
        blank=True,
        help_text="Web domain, stored lower case without scheme or www.",
    )
    industry = models.CharField(max_length=100, blank=True, db_index=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    country = models.CharField(max_length=100, blank=True)
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    fit_score = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    fit_grade = models.CharField(
        max_length=1, choices=FitGrade.choices, blank=True, editable=False, db_index=True
    )
    targeted_on = models.DateField(
        null=True,
        blank=True,
        help_text="Day the account joined the target list; empty with no untargeted date means "
        "it has always been on it.",
    )
    untargeted_on = models.DateField(
        null=True, blank=True, help_text="Day the account was taken off the target list."
    )
    is_target = models.BooleanField(
        default=True,
        help_text="On the target list at all. Accounts never targeted have this unchecked.",
    )
    program_type = models.CharField(max_length=12, choices=ProgramType.choices, blank=True)
    owner = models.ForeignKey(
        Owner,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accounts",
    )
    churned_on = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")
    needs_recompute = models.BooleanField(
        default=False, help_text="Data changed since the last snapshot recompute."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"],
                condition=Q(domain__isnull=False),
                name="%(app_label)s_%(class)s_domain_unique",
                violation_error_message="Another account already has this domain.",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_external_id_unique",
                violation_error_message="Another account from this source has this external id.",
            ),
            models.CheckConstraint(
                condition=Q(untargeted_on__isnull=True)
                | Q(targeted_on__isnull=True)
                | Q(untargeted_on__gte=models.F("targeted_on")),
                name="%(app_label)s_%(class)s_untargeted_after_targeted",
                violation_error_message="The untargeted date cannot be before the targeted date.",
            ),
            models.CheckConstraint(
                condition=Q(annual_revenue__isnull=True) | Q(annual_revenue__gte=0),
                name="%(app_label)s_%(class)s_revenue_not_negative",
                violation_error_message="Annual revenue cannot be negative.",
            ),
        ]
        indexes = [
            models.Index(fields=["tier", "name"], name="accounts_tier_name_idx"),
            models.Index(fields=["owner"], name="accounts_owner_idx"),
            models.Index(
                fields=["id"],
                condition=Q(needs_recompute=True),
                name="accounts_needs_recompute_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.domain = normalize_domain(self.domain)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("reports:account_detail", args=[self.pk])

    def clean(self) -> None:
        self.domain = normalize_domain(self.domain)
        super().clean()


class AccountDomain(TimeStampedModel):
    """Another domain of an account (a country site, an acquired brand's mail domain).

    Lead-to-account matching joins a person whose e-mail is at this domain to
    the account, as it does for the account's own domain.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="alias_domains")
    domain = models.CharField(
        max_length=253, unique=True, help_text="Stored lower case without scheme or www."
    )

    class Meta:
        ordering = ["domain"]
        verbose_name = "alias domain"

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs) -> None:
        self.domain = normalize_domain(self.domain) or ""
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.domain = normalize_domain(self.domain) or ""
        other = Account.objects.filter(domain=self.domain).exclude(pk=self.account_id).first()
        if other is not None:
            raise ValidationError({"domain": f"This is the domain of the account '{other}'."})


class Stakeholder(TimeStampedModel):
    """A person at an account: a member of its buying committee."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="stakeholders")
    name = models.CharField(max_length=255)
    email = models.EmailField(null=True, blank=True)
    title = models.CharField(max_length=255, blank=True)
    buying_role = models.CharField(
        max_length=20, choices=BuyingRole.choices, default=BuyingRole.OTHER
    )
    known_since = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=50, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["account", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=Q(email__isnull=False),
                name="%(app_label)s_%(class)s_account_email_unique",
                violation_error_message="A stakeholder with this e-mail is already on the account.",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_external_id_unique",
                violation_error_message="Another stakeholder from this source has this external id.",
            ),
        ]
        indexes = [models.Index(fields=["email"], name="stakeholders_email_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.account})"

    def save(self, *args, **kwargs) -> None:
        if self.email is not None:
            self.email = self.email.strip().lower() or None
        super().save(*args, **kwargs)


#: The name the target list gets when the migration or the sync trigger creates it.
TARGET_LIST_NAME = "Target accounts"

#: Keys of a dynamic list's ``criteria`` -> what each holds.
CRITERIA_KEYS: dict[str, str] = {
    "tier": "tier ids",
    "fit_grade": "fit grades (A-D)",
    "industry": "industries (any case)",
    "country": "countries (any case)",
    "owner": "owner ids",
    "employees_min": "a number",
    "employees_max": "a number",
    "revenue_min": "a number",
    "revenue_max": "a number",
}


def criteria_errors(criteria: object) -> list[str]:
    """What is wrong with a dynamic list's saved filter (empty when it is usable)."""
    if not isinstance(criteria, dict):
        return ['Criteria must be an object, e.g. {"tier": [1], "fit_grade": ["A"]}.']
    errors = []
    for key, value in criteria.items():
        if key not in CRITERIA_KEYS:
            errors.append(f"Unknown criterion '{key}'; use {', '.join(CRITERIA_KEYS)}.")
        elif key.endswith(("_min", "_max")):
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(f"Criterion '{key}' must be {CRITERIA_KEYS[key]}.")
        elif not isinstance(value, list) or not value:
            errors.append(f"Criterion '{key}' must be a non-empty list of {CRITERIA_KEYS[key]}.")
        elif not all(_criterion_value_ok(key, v) for v in value):
            errors.append(f"Criterion '{key}' must list {CRITERIA_KEYS[key]}.")
    return errors


def _criterion_value_ok(key: str, value: object) -> bool:
    if key in ("tier", "owner"):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def criteria_q(criteria: dict) -> Q:
    """The accounts a dynamic list's saved filter keeps (all criteria must hold)."""
    q = Q()
    for key, value in criteria.items():
        if key in ("tier", "owner"):
            q &= Q(**{f"{key}_id__in": value})
        elif key == "fit_grade":
            q &= Q(fit_grade__in=[str(v).upper() for v in value])
        elif key in ("industry", "country"):
            either = Q()
            for v in value:
                either |= Q(**{f"{key}__iexact": v})
            q &= either
        elif key.endswith(("_min", "_max")):
            name = "annual_revenue" if key.startswith("revenue") else "employees"
            q &= Q(**{f"{name}__{'gte' if key.endswith('_min') else 'lte'}": value})
    return q


class AccountList(TimeStampedModel):
    """A named list of accounts (a product's, a segment's, a campaign's).

    Membership is kept as intervals (``ListMembership``) so "members as of D"
    is exact for any D. The one list with ``is_target`` is the target list: the
    database keeps its membership in step with the accounts' ``is_target``,
    ``targeted_on`` and ``untargeted_on`` on every write path (a trigger, see
    migration 0004), and the KPIs' default ABM cohort is that list. A dynamic
    list's ``criteria`` is a saved filter over account fields (tier, fit grade,
    industry, country, employee and revenue ranges, owner, tags).
    """

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=7, choices=ListKind.choices, default=ListKind.STATIC)
    description = models.TextField(blank=True)
    criteria = models.JSONField(
        default=dict,
        blank=True,
        help_text='For dynamic lists: e.g. {"tier": [1], "fit_grade": ["A", "B"], '
        '"country": ["DE"], "employees_min": 500}.',
    )
    tags = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        Owner, null=True, blank=True, on_delete=models.SET_NULL, related_name="lists"
    )
    is_target = models.BooleanField(
        default=False,
        editable=False,
        help_text="The default target list, kept in step with the accounts' targeting dates.",
    )

    class Meta:
        ordering = ["-is_target", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_target"],
                condition=Q(is_target=True),
                name="%(app_label)s_%(class)s_one_target_list",
                violation_error_message="There is already a target list.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("reports:list_detail", args=[self.pk])

    def clean(self) -> None:
        if self.kind == ListKind.DYNAMIC:
            errors = criteria_errors(self.criteria)
            if not self.criteria and not errors:
                errors = ["A dynamic list needs at least one criterion."]
            if errors:
                raise ValidationError({"criteria": errors})
        elif self.criteria:
            raise ValidationError({"criteria": "Only dynamic lists have criteria; leave it empty."})
        if not isinstance(self.tags, list) or not all(isinstance(t, str) for t in self.tags):
            raise ValidationError({"tags": "Tags must be a list of strings."})


def member_q(list_id: int, day, prefix: str = "") -> Q:
    """Accounts (through ``prefix``) on list ``list_id`` on ``day``: an interval with
    ``joined_on`` empty or <= day and ``left_on`` empty or > day (as ``target_q``)."""
    members = ListMembership.objects.filter(
        Q(joined_on__isnull=True) | Q(joined_on__lte=day),
        Q(left_on__isnull=True) | Q(left_on__gt=day),
        list_id=list_id,
    )
    return Q(**{f"{prefix}pk__in": members.values("account_id")})


class ListMembership(TimeStampedModel):
    """One interval of an account on a list: from ``joined_on`` (empty: since always)
    up to the day before ``left_on`` (empty: still on it)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    list = models.ForeignKey(AccountList, on_delete=models.CASCADE, related_name="memberships")
    joined_on = models.DateField(null=True, blank=True)
    left_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["list", "account", "joined_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(left_on__isnull=True)
                | Q(joined_on__isnull=True)
                | Q(left_on__gte=models.F("joined_on")),
                name="%(app_label)s_%(class)s_left_after_joined",
                violation_error_message="The left date cannot be before the joined date.",
            ),
            models.UniqueConstraint(
                fields=["list", "account"],
                condition=Q(left_on__isnull=True),
                name="%(app_label)s_%(class)s_one_open_interval",
                violation_error_message="The account is already on this list.",
            ),
        ]
        indexes = [
            models.Index(fields=["list", "account"], name="accounts_member_list_idx"),
            models.Index(fields=["account"], name="accounts_member_acct_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} on {self.list_id}: {self.joined_on or '…'}–{self.left_on or '…'}"


class TierChange(models.Model):
    """An account's tier from ``effective_on`` (empty: since before records) until its next
    change. Written by a database trigger on every change of ``Account.tier`` (migration
    0006), so tier-split KPIs read the tier an account had at the end of their period."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tier_changes")
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    effective_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["account", models.F("effective_on").asc(nulls_first=True)]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "effective_on"],
                name="%(app_label)s_%(class)s_one_per_day",
                violation_error_message="The account already has a tier change on this day.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: tier {self.tier_id} from {self.effective_on or 'always'}"


def tier_as_of(day, account_ref: str = "pk", field: str = "tier_id"):
    """Subquery: ``field`` of the tier (through ``tier__`` for name or rank) the account had
    at the end of ``day``; NULL when it had none. PostgreSQL keeps the history (a trigger);
    elsewhere the current tier stands in."""
    from django.db import connection
    from django.db.models import F, OuterRef, Subquery

    if connection.vendor != "postgresql":  # the same relation path to the current tier
        if account_ref.endswith("pk"):
            return F(f"{account_ref[:-2]}{field}")
        return F(f"{account_ref.removesuffix('_id')}__{field}")
    rows = (
        TierChange.objects.filter(
            Q(effective_on__isnull=True) | Q(effective_on__lte=day),
            account_id=OuterRef(account_ref),
        )
        .order_by(F("effective_on").desc(nulls_last=True))
        .values(field)[:1]
    )
    return Subquery(rows)


class FitGradeChange(models.Model):
    """An account's ICP fit grade from ``effective_on`` (empty: since before records) until
    its next change. Written by a database trigger on every change of ``Account.fit_grade``
    (migration 0007): the first grade an account gets counts since always (as the tier at
    creation does), each later regrade from the day it happens; grade-based KPIs (TAM,
    engaged share of TAM) read the grade an account had at the end of their period."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="fit_grade_changes")
    grade = models.CharField(max_length=1, choices=FitGrade.choices, blank=True)
    effective_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["account", models.F("effective_on").asc(nulls_first=True)]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "effective_on"],
                name="%(app_label)s_%(class)s_one_per_day",
                violation_error_message="The account already has a grade change on this day.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: grade {self.grade or '-'} from {self.effective_on or 'always'}"


def fit_grade_as_of(day, account_ref: str = "pk"):
    """Subquery: the ICP fit grade the account had at the end of ``day`` (NULL before its
    first). PostgreSQL keeps the history (a trigger); elsewhere the current grade stands in."""
    from django.db import connection
    from django.db.models import F, OuterRef, Subquery

    if connection.vendor != "postgresql":
        return F(f"{account_ref[:-2]}fit_grade" if account_ref.endswith("pk") else "fit_grade")
    rows = (
        FitGradeChange.objects.filter(
            Q(effective_on__isnull=True) | Q(effective_on__lte=day),
            account_id=OuterRef(account_ref),
        )
        .order_by(F("effective_on").desc(nulls_last=True))
        .values("grade")[:1]
    )
    return Subquery(rows)


class Holdout(TimeStampedModel):
    """A control group of a list: a random share of its members, held out of the programs.

    Drawn once (``accounts.services.holdout_draw``) from the list's members on
    ``drawn_on``, stratified by tier and fit grade and ordered by
    ``md5(seed || ':' || domain)`` (the account id when it has no domain) within each
    stratum, so the same list, day,
    share and seed always give the same accounts. Every member of the draw is kept
    in ``HoldoutAssignment`` (held out or treated) with the stratum it was drawn in,
    so the lift compares the same two groups whatever the list does later.
    """

    list = models.OneToOneField(AccountList, on_delete=models.CASCADE, related_name="holdout")
    seed = models.CharField(max_length=64, help_text="Any text; the same seed draws the same.")
    share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        help_text="Share of each stratum held out, e.g. 0.2 for 20 %.",
    )
    drawn_on = models.DateField(help_text="The day whose members were drawn from.")

    class Meta:
        ordering = ["list"]
        constraints = [
            models.CheckConstraint(
                condition=Q(share__gt=0) & Q(share__lt=1),
                name="%(app_label)s_%(class)s_share_between_0_and_1",
                violation_error_message="The held-out share must be above 0 and below 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.list}: {self.share:.0%} held out (seed {self.seed!r}, {self.drawn_on})"


class HoldoutAssignment(models.Model):
    """One account of a holdout draw: held out (control) or treated, and its stratum then."""

    holdout = models.ForeignKey(Holdout, on_delete=models.CASCADE, related_name="assignments")
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="holdout_assignments"
    )
    held_out = models.BooleanField()
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fit_grade = models.CharField(max_length=1, blank=True)

    class Meta:
        ordering = ["holdout", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["holdout", "account"],
                name="%(app_label)s_%(class)s_once_per_draw",
                violation_error_message="The account is already in this holdout draw.",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "held_out"], name="accounts_holdout_acct_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {'held out' if self.held_out else 'treated'}"
