"""Deleting a tier or an owner that a webhook or an alert filters on is refused, not
cascaded: a cascade silently deleted the subscription and its whole delivery log."""

import pytest
from django.db.models import ProtectedError

from activation.models import AlertSubscription, WebhookDelivery, WebhookSubscription
from tests.factories import (
    AlertSubscriptionFactory,
    OwnerFactory,
    TierFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def test_a_tier_a_webhook_filters_on_cannot_be_deleted():
    tier = TierFactory()
    hook = WebhookSubscriptionFactory(tier=tier)
    WebhookDeliveryFactory(subscription=hook)
    with pytest.raises(ProtectedError):
        tier.delete()
    assert WebhookSubscription.objects.filter(pk=hook.pk).exists()
    assert WebhookDelivery.objects.filter(subscription=hook).count() == 1


def test_an_owner_a_webhook_filters_on_cannot_be_deleted():
    owner = OwnerFactory()
    hook = WebhookSubscriptionFactory(owner=owner)
    with pytest.raises(ProtectedError):
        owner.delete()
    assert WebhookSubscription.objects.filter(pk=hook.pk).exists()


def test_a_tier_an_alert_filters_on_cannot_be_deleted():
    tier = TierFactory()
    alert = AlertSubscriptionFactory(tier=tier)
    with pytest.raises(ProtectedError):
        tier.delete()
    assert AlertSubscription.objects.filter(pk=alert.pk).exists()


def test_an_unreferenced_tier_still_deletes():
    tier = TierFactory()
    WebhookSubscriptionFactory(tier=None)
    tier.delete()


def test_the_admin_names_the_subscription_that_keeps_the_tier(admin_client):
    tier = TierFactory(name="Tier Z")
    WebhookSubscriptionFactory(tier=tier, name="Tier Z to Slack")
    response = admin_client.post(
        f"/admin/accounts/tier/{tier.pk}/delete/", {"post": "yes"}, follow=True
    )
    text = response.content.decode()
    assert "Tier Z to Slack" in text
    assert TierFactory._meta.model.objects.filter(pk=tier.pk).exists()
