"""Celery tasks: thin wrappers over ``funnel.recompute`` services.

Arguments are ids and ISO dates (JSON serializer). Every task is idempotent
(upserts keyed by date and account), acknowledged late and rejected when its
worker dies, so a killed worker's chunk is delivered again and rewritten.
"""

import datetime as dt

from celery import chord, group, shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from . import recompute

TRANSIENT = (OperationalError, InterfaceError, BrokerOperationalError, ConnectionError)
TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


def _dispatch(run_id: int, day: str, chunks: list[tuple[int, int]]) -> None:
    """Fan out one task per chunk; the funnel snapshots follow when all are done."""
    header = group(recompute_chunk.si(run_id, day, lo, hi) for lo, hi in chunks)
    callback = recompute_finish.si(run_id, day)
    if chunks:
        chord(header)(callback.on_error(recompute_failed.si(run_id)))
    else:
        callback.apply_async()


@shared_task(name="funnel.recompute_nightly", **TASK_OPTIONS)
def recompute_nightly(day: str | None = None) -> dict:
    """Beat's nightly entry: recompute yesterday (or ``day``) for every account."""
    target = dt.date.fromisoformat(day) if day else recompute.default_day()
    run, chunks = recompute.run_start(target, kind="nightly")
    if run is None:
        return {"skipped": "a recompute for this day is already running", "day": target.isoformat()}
    _dispatch(run.pk, target.isoformat(), chunks)
    return {"run": run.pk, "day": target.isoformat(), "chunks": len(chunks)}


@shared_task(name="funnel.recompute_chunk", **TASK_OPTIONS)
def recompute_chunk(run_id: int, day: str, first_id: int, last_id: int) -> int:
    return recompute.chunk_compute(run_id, dt.date.fromisoformat(day), first_id, last_id)


@shared_task(name="funnel.recompute_finish", **TASK_OPTIONS)
def recompute_finish(run_id: int, day: str) -> int:
    return recompute.run_finish(run_id, dt.date.fromisoformat(day))


@shared_task(name="funnel.recompute_failed", **TASK_OPTIONS)
def recompute_failed(run_id: int) -> None:
    recompute.run_fail(run_id, "A chunk failed after its retries; see the worker log.")


@shared_task(name="funnel.recompute_resume", **TASK_OPTIONS)
def recompute_resume() -> list[int]:
    """Re-dispatch the unfinished chunks of runs that made no progress for a while."""
    resumed = []
    for run_id, day, chunks in recompute.stale_runs():
        _dispatch(run_id, day.isoformat(), chunks)
        resumed.append(run_id)
    return resumed


@shared_task(name="funnel.recompute_marked", **TASK_OPTIONS)
def recompute_marked() -> int:
    """During the day: recompute the accounts that imports and ingest marked."""
    return recompute.marked_compute()
