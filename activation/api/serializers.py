"""Serializers of webhook subscriptions (validated by the model) and deliveries."""

from rest_framework import serializers

from abm_site.api_base import ModelCleanSerializer

from ..models import WebhookDelivery, WebhookSubscription


class WebhookSubscriptionSerializer(ModelCleanSerializer):
    event_types = serializers.ListField(child=serializers.CharField(), allow_empty=False)

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "tier",
            "owner",
            "payload_format",
            "secret",
            "active",
            "consecutive_failures",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["consecutive_failures", "disabled_reason", "created_at", "updated_at"]
        extra_kwargs = {"secret": {"required": False}}


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event",
            "attempt",
            "status",
            "response_code",
            "duration_ms",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
