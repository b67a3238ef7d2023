"""Scheduled e-mail reports: a KPI report sent to recipients daily, weekly or monthly."""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models

from abm_site.models import TimeStampedModel


class ReportSchedule(TimeStampedModel):
    """A KPI report e-mailed on a schedule (checked by one beat entry, ``reports.schedules_send``).

    ``query`` holds the period and filters exactly as a report page's address does
    (``period=last_30&tier=2``), parsed by the pages' own parser when the report is
    sent, so a preset period moves with the calendar.
    """

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly (on the 1st)"

    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    recipients = models.TextField(help_text="E-mail addresses, separated by commas.")
    stage = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The KPIs of this stage (1-6); empty: the headline KPIs."
    )
    query = models.CharField(
        max_length=500,
        blank=True,
        help_text="Period and filters as in a report page's address, e.g. period=last_30&tier=2.",
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    send_at = models.TimeField(default=dt.time(7, 0), help_text="Time of day, in TIME_ZONE.")
    weekday = models.PositiveSmallIntegerField(
        default=0, help_text="Weekly reports: 0 = Monday ... 6 = Sunday."
    )
    active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6),
                name="%(app_label)s_%(class)s_weekday_0_6",
                violation_error_message="The weekday is 0 (Monday) to 6 (Sunday).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def recipient_list(self) -> list[str]:
        return [a.strip() for a in self.recipients.split(",") if a.strip()]

    def clean(self) -> None:
        errors = {}
        addresses = self.recipient_list()
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if not addresses:
            errors["recipients"] = "Give at least one e-mail address."
        elif bad:
            errors["recipients"] = f"Not e-mail addresses: {', '.join(bad)}."
        if self.stage is not None and not 1 <= self.stage <= 6:
            errors["stage"] = "The stage is 1 to 6 (or empty for the headline KPIs)."
        if errors:
            raise ValidationError(errors)
