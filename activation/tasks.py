"""Celery tasks of webhooks: plan deliveries (beat), send one with retries."""

from celery import shared_task

from . import services

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="activation.webhooks_dispatch", **TASK_OPTIONS)
def webhooks_dispatch() -> int:
    """Beat's entry: plan the deliveries of new events and send them; how many were sent."""
    total, batch = 0, 500
    while True:
        claimed, ids = services.webhooks_plan(batch)
        for delivery_id in ids:
            webhook_deliver.delay(delivery_id)
        total += len(ids)
        if claimed < batch:
            return total


@shared_task(name="activation.webhook_deliver", **TASK_OPTIONS)
def webhook_deliver(delivery_id: int) -> str:
    """Send one attempt; a failure schedules the next with exponential backoff and jitter."""
    sent = services.delivery_send(delivery_id)
    if sent.retry_id is not None:
        webhook_deliver.apply_async((sent.retry_id,), countdown=sent.retry_in)
    return sent.delivery.status if sent.delivery else "not pending"
