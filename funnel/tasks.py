"""Celery tasks: thin wrappers over ``funnel.recompute`` services.

Arguments are ids and ISO dates (JSON serializer). Every task is idempotent
(upserts keyed by date and account), acknowledged late and rejected when its
worker dies, so a killed worker's chunk is delivered again and rewritten.
"""

import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction
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
    """Fan out one task per chunk; the chunk that closes the run sends its finish.

    Not a chord: a chord counts task results in the result backend, so a chunk
    redelivered after its worker was killed could leave the count short forever
    (or finish the run early). The chunk table is the one record of what is done.
    """
    if not chunks:
        recompute_finish.si(run_id, day).apply_async()
        return
    for lo, hi in chunks:
        recompute_chunk.si(run_id, day, lo, hi).apply_async(link_error=recompute_failed.si(run_id))


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
    written = recompute.chunk_compute(run_id, dt.date.fromisoformat(day), first_id, last_id)
    if recompute.run_chunks_open(run_id) == 0:
        # Sent after the chunk's commit; run_finish claims the run, so a second
        # sender (two last chunks at once, a redelivery) finishes nothing twice.
        transaction.on_commit(lambda: recompute_finish.si(run_id, day).apply_async())
    return written


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
