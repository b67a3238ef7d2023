"""Celery tasks of webhooks and alerts: plan (beat), send one delivery or alert with retries,
the daily digest (beat)."""

from smtplib import SMTPException

from celery import shared_task

from . import services

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="activation.webhooks_dispatch", **TASK_OPTIONS)
def webhooks_dispatch() -> int:
    """Beat's entry: fan new events out to webhook deliveries and immediate alerts, and send
    them; how many deliveries and alerts were queued."""
    total, batch = 0, 500
    while True:
        plan = services.events_plan(batch)
        for delivery_id in plan.deliveries:
            webhook_deliver.delay(delivery_id)
        for item_id in plan.alerts:
            alert_send.delay(item_id)
        total += len(plan.deliveries) + len(plan.alerts)
        if plan.claimed < batch:
            return total


@shared_task(name="activation.webhook_deliver", **TASK_OPTIONS)
def webhook_deliver(delivery_id: int) -> str:
    """Send one attempt; a failure schedules the next with exponential backoff and jitter."""
    sent = services.delivery_send(delivery_id)
    if sent.retry_id is not None:
        webhook_deliver.apply_async((sent.retry_id,), countdown=sent.retry_in)
    return sent.delivery.status if sent.delivery else "not pending"


@shared_task(
    name="activation.alert_send",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
    **TASK_OPTIONS,
)
def alert_send(item_id: int) -> bool:
    """E-mail one immediate alert; an unreachable mail server is retried with backoff."""
    return services.alert_send(item_id)


@shared_task(name="activation.alerts_digest", **TASK_OPTIONS)
def alerts_digest() -> int:
    """Beat's daily entry: one digest e-mail per daily alert subscription with news."""
    return services.alerts_digest_send()
