"""``python manage.py recompute --date D`` or ``--from D1 --to D2``: build snapshots in this process."""

import datetime as dt
import signal
import threading
import time
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from funnel import recompute


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"'{value}' is not a date: use YYYY-MM-DD.") from exc


class Command(BaseCommand):
    help = (
        "Recompute account snapshots, stage changes and funnel snapshots for a day or a range "
        "of days (a backfill gives a fresh import its history). Without options: yesterday."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", help="One day, YYYY-MM-DD.")
        parser.add_argument("--from", dest="start", help="First day of a range, YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", help="Last day of a range, YYYY-MM-DD.")
        parser.add_argument(
            "--step-days",
            type=int,
            default=1,
            help="Days between snapshots in a range (e.g. 7 for weekly history). Default 1.",
        )

    def handle(self, *args, **options) -> None:
        days = self._days(options)
        started = time.monotonic()
        skipped: list[dt.date] = []
        bar = tqdm(days, desc="Recompute", unit="day", disable=len(days) < 2, file=self.stderr)
        with _sigterm_raises():
            for day in bar:
                bar.set_postfix_str(day.isoformat())
                try:
                    run = recompute.day_compute(day, kind="backfill")
                except KeyboardInterrupt as exc:
                    bar.close()
                    raise _interrupted(exc, day, days) from None
                if run is None:
                    skipped.append(day)
                elif len(days) == 1:
                    self.stdout.write(
                        f"{day}: {run.accounts:,} accounts, {run.get_status_display()}."
                    )
        done = len(days) - len(skipped)
        self.stdout.write(
            self.style.SUCCESS(f"Recomputed {done} day(s) in {time.monotonic() - started:.1f} s.")
        )
        if skipped:
            raise CommandError(
                f"{len(skipped)} day{'s' if len(skipped) > 1 else ''} skipped: another recompute "
                f"is running for {', '.join(d.isoformat() for d in skipped)}. Run the command "
                "for them again once it has finished (Recompute runs in the admin show it)."
            )

    def _days(self, options) -> list[dt.date]:
        if options["date"] and (options["start"] or options["end"]):
            raise CommandError("Give either --date or --from/--to, not both.")
        if options["date"]:
            return [_date(options["date"])]
        if options["start"] or options["end"]:
            if not (options["start"] and options["end"]):
                raise CommandError("--from and --to go together.")
            start, end = _date(options["start"]), _date(options["end"])
            if start > end:
                raise CommandError(f"--from {start} is after --to {end}.")
            if options["step_days"] < 1:
                raise CommandError("--step-days must be at least 1.")
            days, day = [], end
            while day >= start:  # step back from the end so the last day is always included
                days.append(day)
                day -= dt.timedelta(days=options["step_days"])
            return sorted(days)
        return [recompute.default_day()]


@contextmanager
def _sigterm_raises():
    """While inside, SIGTERM raises ``recompute.Terminated`` (the run is then marked failed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise recompute.Terminated(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(exc: KeyboardInterrupt, day: dt.date, days: list[dt.date]) -> CommandError:
    """The message and exit status (128 + signal) of an interrupted backfill."""
    name = str(exc) if isinstance(exc, recompute.Terminated) else "SIGINT"
    rest = [d for d in days if d >= day]
    return CommandError(
        f"Interrupted ({name}) while computing {day}: that run is marked failed. "
        f"{len(rest)} day(s) from {day} to {rest[-1]} are not done; run the command again "
        "for them.",
        returncode=128 + signal.Signals[name].value,
    )
