"""API view of the event outbox: read only, newest first."""

from rest_framework import viewsets

from ..filtersets import EventFilterSet
from ..selectors import event_list
from .serializers import EventSerializer


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """Events recorded once each: stage changes, intent surges, research spikes, imports
    and recomputes finishing. Filter with ``type`` (repeatable) and ``since``."""

    queryset = event_list()
    serializer_class = EventSerializer
    filterset_class = EventFilterSet
    ordering_fields = ["id", "occurred_at"]
