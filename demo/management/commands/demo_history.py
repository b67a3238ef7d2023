"""``manage.py demo_history``: publish weekly KPI snapshots before the latest one (trends)."""

import datetime as dt
import time

from django.core.management import BaseCommand, CommandParser
from django.db.models import Max

from funnel.kpis import last_complete_day
from funnel.models import FunnelSnapshot
from funnel.services import funnel_history_publish


class Command(BaseCommand):
    help = (
        "Publish the 'all' slice's KPI snapshot for each of the --weeks weeks before the "
        "latest published day (default: the last complete day), newest first, skipping "
        "weeks already published. make run starts it in the background after seeding the "
        "demo; run it again to resume."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--weeks", type=int, default=52, help="Weeks of history (default 52).")

    def handle(self, *args, **options) -> None:
        latest = FunnelSnapshot.objects.filter(slice="all").aggregate(day=Max("date"))["day"]
        end = latest or last_complete_day()
        weeks = max(0, options["weeks"])
        days = [end - dt.timedelta(weeks=k) for k in range(1, weeks + 1)]
        began = time.monotonic()
        written = funnel_history_publish(days, slices=("all",), reason="demo history")
        self.stdout.write(
            f"Published {written} weekly KPI snapshot(s) of all accounts before {end} "
            f"in {time.monotonic() - began:.1f}s."
        )
