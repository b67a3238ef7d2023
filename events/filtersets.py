"""FilterSet of the events list (API and page)."""

import django_filters

from .choices import EventType
from .models import Event


class EventFilterSet(django_filters.FilterSet):
    type = django_filters.MultipleChoiceFilter(
        choices=EventType.choices, help_text="Event type; repeat for several."
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        help_text="Events that occurred at or after this ISO 8601 time, e.g. 2026-03-01T00:00:00Z.",
    )
    account = django_filters.NumberFilter(field_name="account_id")

    class Meta:
        model = Event
        fields = ["type", "since", "account"]
