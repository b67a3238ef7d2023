"""Serializer of events (read only)."""

from rest_framework import serializers

from ..models import Event


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "key", "occurred_at", "account", "payload", "created_at"]
        read_only_fields = fields
