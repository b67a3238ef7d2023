"""The event outbox: one row per thing that happened, written with the data that caused it."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account

from .choices import EventType


class Event(models.Model):
    """Something that happened, recorded once.

    Written in the same transaction as the data change it reports (a
    transactional outbox), so an event exists exactly when its change was
    committed. ``key`` is derived from what happened (for example the account,
    day and stages of a stage change), and inserts skip a key already present:
    a retried task or a rerun of the recompute never records an event twice.
    """

    type = models.CharField(max_length=40, choices=EventType.choices)
    key = models.CharField(max_length=200, unique=True, help_text="What makes this event unique.")
    occurred_at = models.DateTimeField(default=timezone.now)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When webhook deliveries were planned for it."
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["id"],
                condition=Q(dispatched_at__isnull=True),
                name="events_undispatched_idx",
            ),
            models.Index(fields=["type", "occurred_at"], name="events_type_occurred_idx"),
            models.Index(fields=["occurred_at"], name="events_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk} ({self.key})"
