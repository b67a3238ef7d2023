"""An interrupted recompute marks its run failed; a skipped day fails the command.

Before: ``day_compute`` caught ``Exception`` only, so Ctrl-C (KeyboardInterrupt)
and SIGTERM (which killed the process outright) left the run "running": its
day stayed locked for four times the task time limit, and the next
``manage.py recompute`` for that day printed "skipped" and exited 0.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from funnel import recompute
from funnel.models import AccountSnapshot, RecomputeRun
from tests.conftest import postgresql_only
from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 30)


@pytest.mark.django_db
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, recompute.Terminated])
def test_an_interrupted_day_compute_marks_its_run_failed(settings, interrupt):
    settings.ABM_RECOMPUTE_CHUNK_SIZE = 1
    AccountFactory.create_batch(3)

    def progress(_last_id: int) -> None:
        raise interrupt("SIGTERM") if interrupt is recompute.Terminated else interrupt()

    with pytest.raises(interrupt):
        recompute.day_compute(D, progress=progress)
    run = RecomputeRun.objects.get()
    assert run.status == "failed"
    assert run.finished_at is not None
    assert run.error.startswith("Interrupted")
    assert interrupt.__name__ in run.error
    # The day is not locked: the next run starts and succeeds.
    assert recompute.day_compute(D).status == "succeeded"


@pytest.mark.django_db
def test_a_day_locked_by_another_run_fails_the_command_after_the_other_days():
    account = AccountFactory()
    RecomputeRun.objects.create(date=D, kind="backfill", started_at=timezone.now())
    with pytest.raises(CommandError, match="1 day skipped") as raised:
        call_command("recompute", "--from", "2024-06-29", "--to", "2024-07-01")
    assert "2024-06-30" in str(raised.value)
    assert "another recompute" in str(raised.value)
    assert raised.value.returncode == 1
    days = set(AccountSnapshot.objects.filter(account=account).values_list("date", flat=True))
    assert days == {dt.date(2024, 6, 29), dt.date(2024, 7, 1)}


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _command_env() -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        ABM_RECOMPUTE_CHUNK_SIZE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("signum", "name", "returncode", "error"),
    [
        (signal.SIGTERM, "SIGTERM", 143, "Interrupted (Terminated: SIGTERM)"),
        (signal.SIGINT, "SIGINT", 130, "Interrupted (KeyboardInterrupt)"),
    ],
)
def test_a_signal_to_the_command_marks_the_run_failed_and_exits_non_zero(
    signum, name, returncode, error
):
    AccountFactory.create_batch(150)
    command = [
        sys.executable,
        "manage.py",
        "recompute",
        "--from",
        "2024-06-01",
        "--to",
        "2024-06-30",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=_command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As in a terminal: a suite started in the background (`make test &`, CI) has
        # SIGINT ignored, which children inherit, and Python then never raises
        # KeyboardInterrupt.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while not RecomputeRun.objects.filter(status="running").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the command never started a run"
            time.sleep(0.02)
        time.sleep(0.2)  # in the middle of the day's chunks
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == returncode, stderr
    assert f"Interrupted ({name})" in stderr
    assert "Traceback" not in stderr
    run = RecomputeRun.objects.get(status="failed")
    assert run.error == error
    assert not RecomputeRun.objects.filter(status="running").exists()
    # The next run of that day is not skipped.
    assert recompute.day_compute(run.date).status == "succeeded"
