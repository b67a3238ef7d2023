"""Webhook writes: plan deliveries for new events, send one, redeliver, re-enable."""

import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from events.choices import ACCOUNT_EVENTS, EventType
from events.models import Event
from events.services import event_record, events_claim_undispatched

from .delivery import body_bytes, post, signature
from .models import WebhookDelivery, WebhookSubscription
from .targets import TargetRefused, target_check

__all__ = [
    "delivery_redeliver",
    "delivery_send",
    "subscription_enable",
    "subscription_matches",
    "webhooks_plan",
]

Pending = WebhookDelivery.Status.PENDING


def subscription_matches(subscription: WebhookSubscription, event: Event) -> bool:
    """Whether ``subscription`` wants ``event``: its type, and for account events the
    tier and owner filters (compared with the account as the event recorded it)."""
    if event.type not in subscription.event_types:
        return False
    if event.type not in ACCOUNT_EVENTS:
        return True
    account = event.payload.get("account") or {}
    if subscription.tier_id is not None and account.get("tier_id") != subscription.tier_id:
        return False
    return subscription.owner_id is None or account.get("owner_id") == subscription.owner_id


def webhooks_plan(limit: int = 500) -> tuple[int, list[int]]:
    """Create the first delivery attempt for each new event and each subscription that wants
    it; returns how many events were claimed and the ids of the deliveries to send.

    Set-based per batch: the events are claimed (locked and marked dispatched) in one
    query, the active subscriptions read in one, the deliveries inserted in one. The
    unique (subscription, event, attempt) makes a replanned event a no-op. Deliveries
    still pending long after their last possible retry (their task was lost) are
    returned again.
    """
    with transaction.atomic():
        events = events_claim_undispatched(limit)
        if events:
            subscriptions = list(WebhookSubscription.objects.filter(active=True))
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(subscription=s, event=e, attempt=1)
                    for e in events
                    for s in subscriptions
                    if subscription_matches(s, e)
                ],
                ignore_conflicts=True,
            )
    new = WebhookDelivery.objects.filter(
        status=Pending, attempt=1, event_id__in=[e.pk for e in events]
    )
    stale_before = timezone.now() - timezone.timedelta(
        seconds=settings.ABM_WEBHOOK_BACKOFF_MAX_SECONDS + 600
    )
    lost = WebhookDelivery.objects.filter(status=Pending, created_at__lt=stale_before)
    ids = set(new.values_list("pk", flat=True)) | set(lost.values_list("pk", flat=True))
    return len(events), sorted(ids)


@dataclass(frozen=True)
class Sent:
    """What sending a delivery did, and the retry to schedule (if any)."""

    delivery: WebhookDelivery | None
    retry_id: int | None = None
    retry_in: float = 0.0


def backoff_seconds(attempt: int) -> float:
    """Full jitter: uniform in [0, min(cap, base x 2^(attempt-1))] (AWS's recommendation)."""
    ceiling = min(
        settings.ABM_WEBHOOK_BACKOFF_MAX_SECONDS,
        settings.ABM_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1),
    )
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


def delivery_send(delivery_id: int) -> Sent:
    """Send one pending delivery attempt and log its outcome.

    The row is locked while it is sent, so a duplicate task skips it; a delivery
    no longer pending (sent already) is left alone. A failure counts against the
    subscription (disabled after ``ABM_WEBHOOK_DISABLE_AFTER`` failures in a row,
    with a ``webhook.disabled`` event) and plans the next attempt, up to
    ``ABM_WEBHOOK_MAX_ATTEMPTS``.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription", "event")
            .filter(pk=delivery_id, status=Pending)
            .first()
        )
        if delivery is None:
            return Sent(None)
        subscription = delivery.subscription
        if not subscription.active:
            _finish(delivery, WebhookDelivery.Status.SKIPPED, None, None, "Subscription inactive.")
            return Sent(delivery)
        try:
            target_check(subscription.url)  # again: the name may resolve elsewhere now
        except TargetRefused as exc:
            ok, code, duration, error = False, None, 0, f"Refused: {exc}"
        else:
            body = body_bytes(delivery.event, subscription.payload_format == "slack")
            stamp = str(int(time.time()))
            headers = {
                "X-ABM-Timestamp": stamp,
                "X-ABM-Signature": signature(subscription.secret, stamp, body),
                "X-ABM-Event": delivery.event.type,
                "X-ABM-Event-Id": str(delivery.event_id),
                "X-ABM-Delivery": str(delivery.pk),
            }
            outcome = post(subscription.url, body, headers, settings.ABM_WEBHOOK_TIMEOUT_SECONDS)
            ok, code, duration, error = (
                outcome.ok,
                outcome.response_code,
                outcome.duration_ms,
                outcome.error,
            )
        status = WebhookDelivery.Status.SUCCEEDED if ok else WebhookDelivery.Status.FAILED
        _finish(delivery, status, code, duration, error)
        if ok:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
            return Sent(delivery)
        return _after_failure(delivery, error)


def _finish(delivery: WebhookDelivery, status: str, code, duration, error: str) -> None:
    delivery.status, delivery.response_code, delivery.duration_ms = status, code, duration
    delivery.error, delivery.finished_at = error[:1000], timezone.now()
    delivery.save(update_fields=["status", "response_code", "duration_ms", "error", "finished_at"])


def _after_failure(delivery: WebhookDelivery, error: str) -> Sent:
    subscription = delivery.subscription
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    subscription.refresh_from_db(fields=["consecutive_failures", "active"])
    limit = settings.ABM_WEBHOOK_DISABLE_AFTER
    if subscription.active and subscription.consecutive_failures >= limit:
        reason = f"Disabled after {subscription.consecutive_failures} failed deliveries in a row."
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            active=False, disabled_reason=reason
        )
        event_record(
            EventType.WEBHOOK_DISABLED,
            f"webhook_disabled:{subscription.pk}:{delivery.pk}",
            {
                "subscription": subscription.pk,
                "subscription_name": subscription.name,
                "url": subscription.url,
                "consecutive_failures": subscription.consecutive_failures,
                "last_error": error[:500],
            },
        )
        return Sent(delivery)
    if delivery.attempt >= settings.ABM_WEBHOOK_MAX_ATTEMPTS:
        return Sent(delivery)
    retry, _ = WebhookDelivery.objects.get_or_create(
        subscription=subscription, event_id=delivery.event_id, attempt=delivery.attempt + 1
    )
    return Sent(delivery, retry.pk, backoff_seconds(delivery.attempt))


def delivery_redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """A new pending attempt of the same event to the same subscription (a manual resend)."""
    with transaction.atomic():
        last = WebhookDelivery.objects.filter(
            subscription_id=delivery.subscription_id, event_id=delivery.event_id
        ).aggregate(n=Max("attempt"))["n"]
        return WebhookDelivery.objects.create(
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            attempt=(last or 0) + 1,
        )


def subscription_enable(subscription: WebhookSubscription) -> None:
    """Turn a subscription back on with a clean failure count."""
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        active=True, consecutive_failures=0, disabled_reason=""
    )
