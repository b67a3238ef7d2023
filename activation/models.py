"""Webhook subscriptions and their delivery log."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from abm_site.models import TimeStampedModel
from accounts.models import Owner, Tier
from events.choices import EventType
from events.models import Event

from .targets import TargetRefused, target_check


def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookSubscription(TimeStampedModel):
    """A URL that receives events of some types, optionally only for a tier or an owner."""

    class Format(models.TextChoices):
        JSON = "json", "JSON (the event, signed)"
        SLACK = "slack", 'Slack incoming webhook ({"text": ...})'

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000, help_text="Where events are POSTed (https://...).")
    event_types = models.JSONField(
        default=list, help_text='Event types to send, e.g. ["account.stage_changed"].'
    )
    tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        # PROTECT: deleting the tier must not silently delete the subscription and its log.
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only account events of accounts in this tier (other events are sent anyway).",
    )
    owner = models.ForeignKey(
        Owner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only account events of this owner's accounts.",
    )
    payload_format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    secret = models.CharField(
        max_length=128, default=new_secret, help_text="Key of the X-ABM-Signature HMAC."
    )
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        known = set(EventType.values)
        if not isinstance(self.event_types, list) or not self.event_types:
            errors["event_types"] = "List at least one event type: " + ", ".join(sorted(known))
        else:
            unknown = [t for t in self.event_types if t not in known]
            if unknown:
                errors["event_types"] = (
                    f"Unknown event types {', '.join(map(str, unknown))}; use "
                    + ", ".join(sorted(known))
                )
        if self.url:
            try:
                target_check(self.url)
            except TargetRefused as exc:
                errors["url"] = str(exc)
        if errors:
            raise ValidationError(errors)


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one subscription (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (subscription inactive)"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event", "attempt"],
                name="%(app_label)s_%(class)s_attempt_unique",
                violation_error_message="This attempt of this delivery exists already.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(status="pending"), name="webhook_deliveries_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id} #{self.attempt} {self.status}"


class AlertSubscription(TimeStampedModel):
    """A person's e-mail alerts: events of some types, for a tier or their own accounts,
    sent one by one as they happen or once a day as a digest."""

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", "At once, one e-mail per event"
        DAILY = "daily", "Daily digest"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    event_types = models.JSONField(
        default=list, help_text='Event types, e.g. ["account.stage_changed"].'
    )
    tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only account events of accounts in this tier.",
    )
    my_accounts = models.BooleanField(
        default=False, help_text="Only account events of accounts this user owns."
    )
    frequency = models.CharField(
        max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["user", "id"]
        verbose_name = "alert subscription"

    def __str__(self) -> str:
        return f"{self.user} · {', '.join(self.event_types)} · {self.frequency}"

    def clean(self) -> None:
        known = set(EventType.values)
        if not isinstance(self.event_types, list) or not self.event_types:
            raise ValidationError(
                {"event_types": "List at least one event type: " + ", ".join(sorted(known))}
            )
        unknown = [t for t in self.event_types if t not in known]
        if unknown:
            raise ValidationError(
                {
                    "event_types": f"Unknown event types {', '.join(map(str, unknown))}; use "
                    + ", ".join(sorted(known))
                }
            )


class AlertItem(models.Model):
    """An event an alert subscription matched, and when it was e-mailed."""

    subscription = models.ForeignKey(
        AlertSubscription, on_delete=models.CASCADE, related_name="items"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"],
                name="%(app_label)s_%(class)s_once",
                violation_error_message="This event is already queued for this alert.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["subscription"],
                condition=Q(sent_at__isnull=True),
                name="alert_items_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → alert {self.subscription_id}"
