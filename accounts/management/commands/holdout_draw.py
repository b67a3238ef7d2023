"""Draw a list's holdout control group: ``manage.py holdout_draw --list 2 --share 0.2 --seed q3``."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import AccountList, HoldoutAssignment
from accounts.services import HoldoutError, holdout_draw


class Command(BaseCommand):
    help = (
        "Hold out a random share of a list's members (stratified by tier and fit grade, "
        "seeded: the same seed draws the same accounts) as the control group of its lift."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", type=int, required=True, help="Account list id.")
        parser.add_argument("--share", required=True, help="Share held out, e.g. 0.2.")
        parser.add_argument("--seed", required=True, help="Any text, e.g. 2026-q3.")
        parser.add_argument(
            "--on", type=dt.date.fromisoformat, help="Draw from the members of this day."
        )
        parser.add_argument(
            "--replace", action="store_true", help="Drop the list's earlier draw first."
        )

    def handle(self, *args, **options) -> None:
        account_list = AccountList.objects.filter(pk=options["list"]).first()
        if account_list is None:
            raise CommandError(f"No account list {options['list']}; see GET /api/v1/lists/.")
        try:
            holdout = holdout_draw(
                account_list,
                options["share"],
                options["seed"],
                options["on"],
                replace=options["replace"],
            )
        except HoldoutError as exc:
            raise CommandError(str(exc)) from None
        rows = HoldoutAssignment.objects.filter(holdout=holdout)
        held = rows.filter(held_out=True).count()
        self.stdout.write(f"{holdout}: {held:,} of {rows.count():,} accounts held out.")
