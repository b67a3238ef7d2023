"""Reads of webhook subscriptions and deliveries."""

from django.db.models import QuerySet

from .models import AlertSubscription, WebhookDelivery, WebhookSubscription

__all__ = ["alert_subscription_list", "delivery_list", "subscription_list"]


def subscription_list() -> QuerySet:
    return WebhookSubscription.objects.select_related("tier", "owner").order_by("name", "id")


def delivery_list() -> QuerySet:
    """The delivery log, newest first."""
    return WebhookDelivery.objects.select_related("subscription", "event").order_by("-id")


def alert_subscription_list(user) -> QuerySet:
    """A person's own alert subscriptions."""
    return AlertSubscription.objects.filter(user=user).select_related("tier").order_by("id")
