"""Reads of the event outbox."""

import datetime as dt

from django.db.models import QuerySet

from .choices import EventType
from .models import Event

__all__ = ["event_list", "event_text"]


def event_list(types: list[str] | None = None, since: dt.datetime | None = None) -> QuerySet:
    """Events, newest first, of the given types and (when given) that occurred at or after
    ``since``."""
    events = Event.objects.select_related(None).order_by("-occurred_at", "-id")
    if types:
        events = events.filter(type__in=types)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    return events


def event_text(event: Event) -> str:
    """One line a person reads (Slack), from the event's payload."""
    p = event.payload
    account = p.get("account") or {}
    who = account.get("name", "An account")
    if account.get("tier"):
        who += f" ({account['tier']})"
    texts = {
        EventType.STAGE_CHANGED: lambda: (
            f"{who} moved from {p.get('from_stage')} to {p.get('to_stage')} "
            f"on {p.get('changed_on')}."
        ),
        EventType.INTENT_SURGE: lambda: f"{who} shows an intent surge ({p.get('day')}).",
        EventType.RESEARCH_SPIKE: lambda: (
            f"{who} is researching: grade {p.get('research_grade')} ({p.get('day')})."
        ),
        EventType.CUSTOMER_AT_RISK: lambda: (
            f"{who} is a customer at risk: a competitor surge or a weakening relationship "
            f"({p.get('day')})."
        ),
        EventType.IMPORT_FINISHED: lambda: (
            f"Import of {p.get('kind')} finished: {p.get('rows_read', 0):,} rows, "
            f"{p.get('created', 0):,} created, {p.get('updated', 0):,} updated, "
            f"{p.get('rejected_count', 0):,} rejected."
        ),
        EventType.RECOMPUTE_FINISHED: lambda: (
            f"Recompute of {p.get('day')} finished ({p.get('accounts', 0):,} accounts)."
        ),
        EventType.RECOMPUTE_FAILED: lambda: f"Recompute of {p.get('day')} failed: {p.get('error')}",
        EventType.WEBHOOK_DISABLED: lambda: (
            f"Webhook {p.get('subscription_name')} was disabled after "
            f"{p.get('consecutive_failures')} failed deliveries: {p.get('last_error')}"
        ),
    }
    make = texts.get(event.type)
    return make() if make else f"{event.type} #{event.pk}"
