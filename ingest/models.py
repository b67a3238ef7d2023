"""Saved mapping profiles and the exchange rates imports convert amounts with."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from abm_site.models import TimeStampedModel


class SavedMapping(TimeStampedModel):
    """A column mapping saved from the Imports page's editor, for one kind of file.

    Usable by name like a shipped profile: on the page, ``import_csv
    --mapping NAME`` and ``POST /api/v1/imports/`` with ``mapping=NAME``.
    ``data`` is the mapping object (columns, values, constants, date order, …).
    """

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20)
    label = models.CharField(max_length=200, blank=True)
    data = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "saved mapping"

    def __str__(self) -> str:
        return self.name


class ExchangeRate(TimeStampedModel):
    """How many units of the app's currency (``ABM_CURRENCY``) one unit of ``currency`` is.

    An import meeting amounts in another currency converts them with this
    rate (and says so in its report); without a rate such rows are rejected.
    """

    currency = models.CharField(
        max_length=3,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{3}$", "Use the ISO 4217 code, such as EUR.")],
        help_text="ISO 4217 code, such as EUR.",
    )
    rate = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        validators=[MinValueValidator(Decimal("0.00000001"))],
        help_text="Units of the app's currency for one unit of this currency.",
    )

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gt=0),
                name="%(app_label)s_%(class)s_rate_positive",
                violation_error_message="The rate must be above zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate.normalize()} {settings.ABM_CURRENCY}"

    def clean(self) -> None:
        self.currency = (self.currency or "").strip().upper()
        if self.currency == settings.ABM_CURRENCY:
            raise ValidationError({"currency": "This is the app's own currency."})
