"""Webhook subscriptions and the delivery log in the admin."""

from django.contrib import admin, messages
from django.db import models

from . import services
from .models import AlertItem, AlertSubscription, WebhookDelivery, WebhookSubscription
from .tasks import webhook_deliver


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "payload_format", "active", "consecutive_failures"]
    list_filter = ["active", "payload_format"]
    search_fields = ["name", "url"]
    readonly_fields = ["consecutive_failures", "disabled_reason"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["enable"]

    @admin.action(description="Enable (and reset the failure count)")
    def enable(self, request, queryset) -> None:
        for subscription in queryset:  # a handful of rows an admin ticked
            services.subscription_enable(subscription)
        self.message_user(request, f"{queryset.count()} subscriptions enabled.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event",
        "subscription",
        "attempt",
        "status",
        "response_code",
        "duration_ms",
        "created_at",
    ]
    list_filter = ["status", "subscription"]
    raw_id_fields = ["event", "subscription"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["redeliver"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Redeliver (a new attempt of the same event)")
    def redeliver(self, request, queryset) -> None:
        created = [services.delivery_redeliver(d) for d in queryset]
        for delivery in created:
            webhook_deliver.delay(delivery.pk)
        self.message_user(request, f"{len(created)} deliveries queued again.", messages.SUCCESS)


@admin.register(AlertSubscription)
class AlertSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "frequency", "tier", "my_accounts", "active"]
    list_filter = ["frequency", "active"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


@admin.register(AlertItem)
class AlertItemAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "subscription", "created_at", "sent_at", "error"]
    list_filter = ["sent_at"]
    raw_id_fields = ["event", "subscription"]
    readonly_fields = [f.name for f in AlertItem._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
