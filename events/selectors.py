"""Reads of the event outbox."""

import datetime as dt

from django.db.models import QuerySet

from .models import Event

__all__ = ["event_list"]


def event_list(types: list[str] | None = None, since: dt.datetime | None = None) -> QuerySet:
    """Events, newest first, of the given types and (when given) that occurred at or after
    ``since``."""
    events = Event.objects.select_related(None).order_by("-occurred_at", "-id")
    if types:
        events = events.filter(type__in=types)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    return events
