"""Reads of webhook subscriptions and deliveries."""

from django.db.models import QuerySet

from .models import WebhookDelivery, WebhookSubscription

__all__ = ["delivery_list", "subscription_list"]


def subscription_list() -> QuerySet:
    return WebhookSubscription.objects.select_related("tier", "owner").order_by("name", "id")


def delivery_list() -> QuerySet:
    """The delivery log, newest first."""
    return WebhookDelivery.objects.select_related("subscription", "event").order_by("-id")
