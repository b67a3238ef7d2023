"""A real Celery worker on Redis is SIGKILLed mid-recompute; the run still converges.

The worker runs as a separate process against this test database. The first
worker is killed (the whole process group, no warning) in the middle of a chunk: the
test holds the run's row, so the chunk's transaction waits at its last write with its
task received and unacknowledged. (Killed between two chunks, the worker could die
with the next task popped from Redis but not yet recorded as unacknowledged: kombu
loses that one, and only the resume task, 15 minutes on, would send it again.) A second
worker picks up the unacknowledged chunk task after the visibility timeout, and the
chunk that closes the run sends its finish. The snapshots
must equal a clean in-process run's.
"""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from funnel import recompute
from funnel.models import AccountSnapshot, AccountStageChange, RecomputeChunk, RecomputeRun
from tests.factories import AccountFactory, OpportunityFactory, TouchFactory, at

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 30)
ACCOUNTS = 60

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis") or connection.vendor != "postgresql",
        reason="needs PostgreSQL and Redis (make test uses them when reachable; CI requires them)",
    ),
]


def _worker_env() -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        CELERY_VISIBILITY_TIMEOUT="3",
        ABM_RECOMPUTE_CHUNK_SIZE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _start_worker(log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "abm_site",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill(worker: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _waiting_on_a_lock() -> bool:
    """Whether another session of this database waits on a lock (the worker's chunk)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the view is read once per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def _rows() -> tuple[list, list]:
    skip = {"id", "created_at", "updated_at"}
    snaps = [
        {k: v for k, v in row.items() if k not in skip}
        for row in AccountSnapshot.objects.order_by("account_id", "date").values()
    ]
    changes = [
        {k: v for k, v in row.items() if k not in skip}
        for row in AccountStageChange.objects.order_by("account_id", "changed_on").values()
    ]
    return snaps, changes


def test_sigkilled_worker_mid_recompute_converges_to_a_clean_run(tmp_path):
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    accounts = AccountFactory.create_batch(ACCOUNTS)
    for i, account in enumerate(accounts):
        if i % 3 == 0:
            TouchFactory(account=account, kind="meeting", occurred_at=at(D - dt.timedelta(days=i)))
        if i % 4 == 1:  # engaged on D only: a stage change target -> engaged
            TouchFactory(account=account, kind="email_reply", occurred_at=at(D, 9))
        if i % 5 == 0:
            OpportunityFactory(account=account, created_on=dt.date(2024, 6, 1))
    # Yesterday's snapshots exist, so the run also records stage changes.
    recompute.day_compute(D - dt.timedelta(days=1))

    from funnel.tasks import recompute_nightly

    log = tmp_path / "worker.log"
    first = _start_worker(log)
    try:
        recompute_nightly.delay(D.isoformat())
        run = _wait(
            lambda: RecomputeRun.objects.filter(date=D, kind="nightly").first(),
            60,
            "the nightly run to start",
        )
        _wait(
            lambda: RecomputeChunk.objects.filter(run=run, done_at__isnull=False).count() >= 10,
            60,
            "ten chunks to finish",
        )
        with transaction.atomic():  # the next chunk stops at its update of the run's row
            RecomputeRun.objects.select_for_update().get(pk=run.pk)
            _wait(_waiting_on_a_lock, 60, "a chunk to wait on the run's row")
            _kill(first)
        done_at_kill = RecomputeChunk.objects.filter(run=run, done_at__isnull=False).count()
        assert done_at_kill < ACCOUNTS, "the worker finished before it was killed"
        assert RecomputeRun.objects.get(pk=run.pk).status == "running"

        second = _start_worker(log)
        try:
            _wait(
                lambda: RecomputeRun.objects.get(pk=run.pk).status != "running",
                120,
                "the run to finish on the second worker",
            )
        finally:
            _kill(second)
    finally:
        if first.poll() is None:
            _kill(first)

    run.refresh_from_db()
    assert run.status == "succeeded", log.read_text()[-3000:]
    assert RecomputeChunk.objects.filter(run=run, done_at__isnull=True).count() == 0
    after_kill = _rows()
    assert len(after_kill[0]) == 2 * ACCOUNTS  # D - 1 and D
    AccountSnapshot.objects.filter(date=D).delete()
    AccountStageChange.objects.filter(changed_on=D).delete()
    recompute.day_compute(D)
    clean = _rows()
    differences = [(a, b) for a, b in zip(clean[0], after_kill[0], strict=True) if a != b]
    assert not differences, differences[:3]
    assert clean[1] == after_kill[1]
    assert len(clean[1]) > 0  # the run recorded stage changes against the day before
