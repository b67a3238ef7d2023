"""Webhook and alert writes: fan new events out, send a delivery or an alert, redeliver."""

import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from accounts.models import Owner
from events.choices import ACCOUNT_EVENTS, EventType
from events.models import Event
from events.selectors import event_text
from events.services import event_record, events_claim_undispatched

from .delivery import body_bytes, post, signature
from .models import AlertItem, AlertSubscription, WebhookDelivery, WebhookSubscription
from .targets import TargetRefused, target_check

__all__ = [
    "Plan",
    "alert_matches",
    "alert_send",
    "alert_subscription_create",
    "alert_subscription_delete",
    "alerts_digest_send",
    "delivery_redeliver",
    "delivery_send",
    "events_plan",
    "subscription_enable",
    "subscription_matches",
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


@dataclass(frozen=True)
class Plan:
    """What one planning pass did: events claimed, deliveries and immediate alerts to send."""

    claimed: int
    deliveries: list[int]
    alerts: list[int]


def alert_matches(
    subscription: AlertSubscription, event: Event, owner_users: dict[int, int]
) -> bool:
    """Whether a person's alert wants ``event``: its type, and for account events the tier
    and "my accounts" (the account's owner signs in as the subscriber) filters."""
    if event.type not in subscription.event_types:
        return False
    if event.type not in ACCOUNT_EVENTS:
        return True
    account = event.payload.get("account") or {}
    if subscription.tier_id is not None and account.get("tier_id") != subscription.tier_id:
        return False
    return not subscription.my_accounts or (
        owner_users.get(account.get("owner_id")) == subscription.user_id
    )


def events_plan(limit: int = 500) -> Plan:
    """Fan new events out: the first delivery attempt for each webhook subscription that
    wants an event, and an alert item for each person's alert that wants it.

    Set-based per batch: the events are claimed (locked and marked dispatched) in one
    query; the active webhook subscriptions, alert subscriptions and the owners' users are
    read in one query each; deliveries and alert items inserted in one each. Unique
    constraints make a replanned event a no-op. Work whose task was lost (still pending
    long after its last possible retry) is returned again.
    """
    with transaction.atomic():
        events = events_claim_undispatched(limit)
        if events:
            hooks = list(WebhookSubscription.objects.filter(active=True))
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(subscription=s, event=e, attempt=1)
                    for e in events
                    for s in hooks
                    if subscription_matches(s, e)
                ],
                ignore_conflicts=True,
            )
            alerts = list(AlertSubscription.objects.filter(active=True))
            owner_ids = {(e.payload.get("account") or {}).get("owner_id") for e in events}
            owner_users = (
                dict(
                    Owner.objects.filter(pk__in=owner_ids - {None}, user__isnull=False).values_list(
                        "pk", "user_id"
                    )
                )
                if alerts
                else {}
            )
            AlertItem.objects.bulk_create(
                [
                    AlertItem(subscription=a, event=e)
                    for e in events
                    for a in alerts
                    if alert_matches(a, e, owner_users)
                ],
                ignore_conflicts=True,
            )
    event_ids = [e.pk for e in events]
    stale = timezone.now() - timezone.timedelta(
        seconds=settings.ABM_WEBHOOK_BACKOFF_MAX_SECONDS + 600
    )
    deliveries = WebhookDelivery.objects.filter(status=Pending).filter(
        Q(attempt=1, event_id__in=event_ids) | Q(created_at__lt=stale)
    )
    immediate = AlertItem.objects.filter(
        sent_at__isnull=True, subscription__frequency=AlertSubscription.Frequency.IMMEDIATE
    ).filter(
        Q(event_id__in=event_ids)
        | Q(created_at__lt=timezone.now() - timezone.timedelta(minutes=30))
    )
    return Plan(
        len(events),
        sorted(deliveries.values_list("pk", flat=True)),
        sorted(immediate.values_list("pk", flat=True)),
    )


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
            # Again, and the POST goes to an address this check approved: the name may
            # resolve elsewhere now, or between the check and the connection.
            addresses = target_check(subscription.url)
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
            outcome = post(
                subscription.url,
                body,
                headers,
                settings.ABM_WEBHOOK_TIMEOUT_SECONDS,
                address=addresses[0],
            )
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


def alert_send(item_id: int) -> bool:
    """E-mail one immediate alert; True when a mail went out.

    The item is locked while it is sent and marked sent in the same transaction, so a
    duplicate task skips it; an SMTP error rolls back and raises (the task retries).
    """
    with transaction.atomic():
        item = (
            AlertItem.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription__user", "event")
            .filter(pk=item_id, sent_at__isnull=True)
            .first()
        )
        if item is None:
            return False
        address = item.subscription.user.email
        if address:
            text = event_text(item.event)
            send_mail(
                f"[ABM] {text[:150]}",
                _alert_body([item.event]),
                settings.DEFAULT_FROM_EMAIL,
                [address],
            )
        else:
            item.error = "The user has no e-mail address; add one in the admin."
        item.sent_at = timezone.now()
        item.save(update_fields=["sent_at", "error"])
        return bool(address)


def alerts_digest_send() -> int:
    """E-mail each daily alert subscription's unsent events as one digest; mails sent.

    One query reads every unsent item with its event and user; each mail's items are
    marked sent right after it goes out (one UPDATE per mail), so an SMTP failure
    half-way resends only the digests not yet sent.
    """
    items = list(
        AlertItem.objects.filter(
            sent_at__isnull=True,
            subscription__active=True,
            subscription__frequency=AlertSubscription.Frequency.DAILY,
        )
        .select_related("subscription__user", "event")
        .order_by("subscription_id", "event__occurred_at", "event_id")
    )
    groups: dict[int, list[AlertItem]] = {}
    for item in items:
        groups.setdefault(item.subscription_id, []).append(item)
    sent = 0
    for group in groups.values():  # one mail per subscription: the digest itself
        address = group[0].subscription.user.email
        if address:
            send_mail(
                f"[ABM] Daily digest: {len(group):,} event{'s' if len(group) != 1 else ''}",
                _alert_body([i.event for i in group]),
                settings.DEFAULT_FROM_EMAIL,
                [address],
            )
            sent += 1
        AlertItem.objects.filter(pk__in=[i.pk for i in group]).update(
            sent_at=timezone.now(),
            error="" if address else "The user has no e-mail address; add one in the admin.",
        )
    return sent


def _alert_body(events: list[Event]) -> str:
    lines = [f"- {e.occurred_at:%Y-%m-%d %H:%M}  {event_text(e)}" for e in events]
    return (
        "\n".join(lines) + "\n\nYou receive this because of your alert subscription in ABM funnel; "
        "an admin can change or remove it (admin > Alert subscriptions).\n"
    )


def alert_subscription_create(user, **fields) -> AlertSubscription:
    """A person's new alert subscription (validated by the model)."""
    alert = AlertSubscription(user=user, **fields)
    alert.full_clean()
    alert.save()
    return alert


def alert_subscription_delete(user, pk: int) -> bool:
    """Delete one of ``user``'s own alert subscriptions; False when there is no such one."""
    deleted, _ = AlertSubscription.objects.filter(user=user, pk=pk).delete()
    return bool(deleted)
