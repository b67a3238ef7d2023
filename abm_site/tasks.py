"""Celery tasks of the site itself (housekeeping)."""

from celery import shared_task

from . import idempotency


@shared_task(name="abm_site.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    """Delete idempotency keys older than 24 hours; how many."""
    return idempotency.idempotency_keys_purge()
