"""The recompute: runs, chunks of accounts, the lock, and resuming lost work.

A run for a day takes the database lock (one running run per day and kind),
splits the accounts into id ranges, and records each range as a chunk.
Chunk tasks write snapshots with upserts and tick their chunk off; the
finish step writes the funnel snapshots. Because progress lives in
PostgreSQL, a run whose broker messages were lost is resumed from the chunks
still open.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Max, Min, Window
from django.db.models.functions import Ntile
from django.utils import timezone

from abm_site.db import day_start
from accounts.models import Account
from accounts.services import dynamic_lists_refresh
from events.choices import EventType
from events.services import EventDraft, event_record, events_record

from .history import stage_history_rebuild
from .kpis import Period, drilldown, last_complete_day, slices_of_accounts
from .models import FunnelSnapshot, RecomputeChunk, RecomputeRun
from .snapshots import account_snapshots_upsert, funnel_snapshots_upsert

logger = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception (by the ``recompute`` command).

    A ``KeyboardInterrupt`` so that it stops the work as Ctrl-C does: the
    database driver cancels a running query, and the run is marked failed.
    """


def default_day() -> dt.date:
    """The day the nightly run recomputes: the last complete day."""
    return last_complete_day()


def chunk_size() -> int:
    return getattr(settings, "ABM_RECOMPUTE_CHUNK_SIZE", 5000)


def account_ranges(size: int | None = None, account_ids=None) -> list[tuple[int, int, int]]:
    """Split accounts into ``(first_id, last_id, count)`` ranges of about ``size`` accounts.

    One query: NTILE numbers the accounts in id order, then each tile's bounds.
    """
    size = size or chunk_size()
    accounts = Account.objects.all()
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    total = accounts.count()
    if total == 0:
        return []
    tiles = max(1, -(-total // size))
    numbered = accounts.annotate(tile=Window(Ntile(tiles), order_by="id")).values("id", "tile")
    sql, params = numbered.query.sql_with_params()
    # The inner SQL is Django's own compilation of the queryset above: no user text.
    bounds = f"SELECT MIN(t.id), MAX(t.id), COUNT(*) FROM ({sql}) t GROUP BY t.tile ORDER BY 1"  # noqa: S608  # nosec B608
    with connection.cursor() as cursor:
        cursor.execute(bounds, params)
        return [(int(lo), int(hi), int(n)) for lo, hi, n in cursor.fetchall()]


def run_start(
    day: dt.date, kind: str = "nightly"
) -> tuple[RecomputeRun | None, list[tuple[int, int]]]:
    """Take the lock for ``day`` and plan the chunks; ``(None, [])`` when a run holds it."""
    _expire_stale_locks()
    ranges = account_ranges()
    try:
        with transaction.atomic():
            run = RecomputeRun.objects.create(
                date=day,
                kind=kind,
                started_at=timezone.now(),
                accounts=sum(n for _, _, n in ranges),
            )
            RecomputeChunk.objects.bulk_create(
                RecomputeChunk(run=run, first_id=lo, last_id=hi, accounts=n) for lo, hi, n in ranges
            )
    except IntegrityError:
        logger.info("Recompute for %s (%s) already running; not starting another.", day, kind)
        return None, []
    logger.info(
        "Recompute %s for %s: %d accounts in %d chunks.", run.pk, day, run.accounts, len(ranges)
    )
    return run, [(lo, hi) for lo, hi, _ in ranges]


def chunk_compute(run_id: int, day: dt.date, first_id: int, last_id: int) -> int:
    """Write snapshots and the exact stage history for one range, then tick the chunk off."""
    with transaction.atomic():
        written = account_snapshots_upsert(day, first_id, last_id)
        stage_history_rebuild(first_id, last_id, through=day)
        RecomputeChunk.objects.filter(run_id=run_id, first_id=first_id).update(
            done_at=timezone.now()
        )
        RecomputeRun.objects.filter(pk=run_id).update(updated_at=timezone.now())
    return written


def run_chunks_open(run_id: int) -> int:
    """How many chunks of the run are not done yet (the run finishes at 0)."""
    return RecomputeChunk.objects.filter(run_id=run_id, done_at__isnull=True).count()


def run_finish(run_id: int, day: dt.date) -> int:
    """Funnel snapshots for every slice once all chunks are done; then release the lock.

    Idempotent: the run row is locked and must still be running, so a repeated
    or concurrent finish writes nothing and returns 0.
    """
    open_chunks = run_chunks_open(run_id)
    if open_chunks:
        logger.warning(
            "Run %s has %d unfinished chunks; leaving it for the resume task.", run_id, open_chunks
        )
        return 0
    with transaction.atomic():
        run = (
            RecomputeRun.objects.select_for_update()
            .filter(pk=run_id, status=RecomputeRun.Status.RUNNING)
            .first()
        )
        if run is None:
            return 0
        if run.kind == RecomputeRun.Kind.NIGHTLY:  # dynamic lists follow today's accounts
            dynamic_lists_refresh()
        written = funnel_snapshots_upsert(day, reason=f"{run.kind or 'a'} recompute")
        at_risk_events_record(day)
        finished = timezone.now()
        RecomputeRun.objects.filter(pk=run_id).update(
            status=RecomputeRun.Status.SUCCEEDED, finished_at=finished, error=""
        )
        event_record(
            EventType.RECOMPUTE_FINISHED,
            f"recompute:{run_id}:finished",
            _run_payload(run, day, funnel_snapshots=written),
            occurred_at=finished,
        )
    return written


def at_risk_events_record(day: dt.date) -> int:
    """A ``account.customer_at_risk`` event for each customer the ``at_risk_customers``
    drill-down of the snapshot window ending ``day`` holds and the window ending the day
    before did not (a competitor surge or a degrading relationship began).

    In the transaction that finishes the run; keyed by account and day, so a rerun
    records nothing new. Days older than ``ABM_EVENTS_RECENT_DAYS`` make no event.
    """
    if day < timezone.localdate() - dt.timedelta(days=settings.ABM_EVENTS_RECENT_DAYS):
        return 0
    window = dt.timedelta(days=settings.ABM_SNAPSHOT_WINDOW_DAYS - 1)
    yesterday = day - dt.timedelta(days=1)
    now = set(
        drilldown("at_risk_customers", Period(day - window, day)).values_list("pk", flat=True)
    )
    before = set(
        drilldown("at_risk_customers", Period(yesterday - window, yesterday)).values_list(
            "pk", flat=True
        )
    )
    return events_record(
        EventDraft(
            EventType.CUSTOMER_AT_RISK,
            f"at_risk:{pk}:{day}",
            {"day": day.isoformat(), "window_days": settings.ABM_SNAPSHOT_WINDOW_DAYS},
            pk,
            day_start(day),
        )
        for pk in sorted(now - before)
    )


def _run_payload(run: RecomputeRun, day: dt.date, **extra) -> dict:
    return {
        "run": run.pk,
        "day": day.isoformat(),
        "kind": run.kind,
        "accounts": run.accounts,
        **extra,
    }


def run_fail(run_id: int, error: str) -> None:
    """Mark a running run failed (releasing its day's lock), with an event saying why."""
    with transaction.atomic():
        run = (
            RecomputeRun.objects.select_for_update()
            .filter(pk=run_id, status=RecomputeRun.Status.RUNNING)
            .first()
        )
        if run is None:
            return
        finished = timezone.now()
        RecomputeRun.objects.filter(pk=run_id).update(
            status=RecomputeRun.Status.FAILED, finished_at=finished, error=error[:5000]
        )
        event_record(
            EventType.RECOMPUTE_FAILED,
            f"recompute:{run_id}:failed",
            _run_payload(run, run.date, error=error[:1000]),
            occurred_at=finished,
        )


def stale_runs(idle_seconds: int | None = None) -> list[tuple[int, dt.date, list[tuple[int, int]]]]:
    """Running runs with no progress for ``idle_seconds``: their open chunks, to dispatch again."""
    idle_seconds = idle_seconds or getattr(settings, "ABM_RECOMPUTE_RESUME_AFTER", 900)
    cutoff = timezone.now() - dt.timedelta(seconds=idle_seconds)
    runs = list(
        RecomputeRun.objects.filter(
            status=RecomputeRun.Status.RUNNING, updated_at__lt=cutoff
        ).values_list("pk", "date")
    )
    if not runs:
        return []
    chunks: dict[int, list[tuple[int, int]]] = {pk: [] for pk, _ in runs}
    for run_id, lo, hi in RecomputeChunk.objects.filter(
        run_id__in=chunks, done_at__isnull=True
    ).values_list("run_id", "first_id", "last_id"):
        chunks[run_id].append((lo, hi))
    RecomputeRun.objects.filter(pk__in=chunks).update(updated_at=timezone.now())
    return [(pk, day, chunks[pk]) for pk, day in runs]


def _expire_stale_locks() -> None:
    """A run silent for far longer than any task may take is dead: release its lock."""
    limit = settings.CELERY_TASK_TIME_LIMIT * 4
    cutoff = timezone.now() - dt.timedelta(seconds=limit)
    RecomputeRun.objects.filter(status=RecomputeRun.Status.RUNNING, updated_at__lt=cutoff).update(
        status=RecomputeRun.Status.FAILED,
        finished_at=timezone.now(),
        error=f"No progress for {limit} seconds; the lock was released.",
    )


def day_compute(day: dt.date, kind: str = "backfill", progress=None) -> RecomputeRun | None:
    """Recompute one day in this process (the ``recompute`` command and tests).

    Whatever stops it (an error, Ctrl-C, SIGTERM through the command) marks
    the run failed, which releases the day's lock; ``None`` when another run
    holds the lock.
    """
    run, chunks = run_start(day, kind=kind)
    if run is None:
        return None
    try:
        for lo, hi in chunks:
            chunk_compute(run.pk, day, lo, hi)
            if progress:
                progress(hi)
        run_finish(run.pk, day)
    except BaseException as exc:
        _run_fail_after(run.pk, exc)
        raise
    run.refresh_from_db()
    return run


def _run_fail_after(run_id: int, exc: BaseException) -> None:
    """Mark the run failed after ``exc``, on a fresh connection if the interrupted one broke."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if not isinstance(exc, Exception):
        text = f"Interrupted ({text})"
    try:
        run_fail(run_id, text)
    except DatabaseError:
        connection.close()
        run_fail(run_id, text)


def marked_compute(day: dt.date | None = None) -> int:
    """Recompute the accounts marked ``needs_recompute`` for the last nightly day.

    The marks are cleared in the same transaction that writes the snapshots;
    an ingest marking one of them meanwhile waits for the row lock and its
    mark survives for the next pass.
    """
    day = day or default_day()
    with transaction.atomic():
        ids = list(
            Account.objects.select_for_update(skip_locked=True)
            .filter(needs_recompute=True)
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Account.objects.filter(pk__in=ids).update(needs_recompute=False)
        dynamic_lists_refresh(ids)  # the changed accounts join or leave dynamic lists
        bounds = Account.objects.filter(pk__in=ids).aggregate(
            lo=Min("pk"), hi=Max("pk"), n=Count("pk")
        )
        account_snapshots_upsert(day, bounds["lo"], bounds["hi"], account_ids=ids)
        stage_history_rebuild(bounds["lo"], bounds["hi"], through=day, account_ids=ids)
    # The published figures of the slices those accounts belong to follow their snapshots,
    # so a trend's last point never contradicts the headline (a new revision when changed).
    if FunnelSnapshot.objects.filter(date=day).exists():
        funnel_snapshots_upsert(day, reason="marked recompute", only=slices_of_accounts(ids, day))
    return len(ids)
