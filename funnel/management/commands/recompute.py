"""``python manage.py recompute --date D`` or ``--from D1 --to D2``: build snapshots in this process."""

import datetime as dt
import time

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
        bar = tqdm(days, desc="Recompute", unit="day", disable=len(days) < 2, file=self.stderr)
        for day in bar:
            bar.set_postfix_str(day.isoformat())
            run = recompute.day_compute(day, kind="backfill")
            if run is None:
                self.stderr.write(
                    self.style.WARNING(
                        f"{day}: a recompute for this day is already running; skipped."
                    )
                )
            elif len(days) == 1:
                self.stdout.write(f"{day}: {run.accounts:,} accounts, {run.get_status_display()}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Recomputed {len(days)} day(s) in {time.monotonic() - started:.1f} s."
            )
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
