"""Used by ``make run``: seed the demo on an empty database and ensure the ``demo`` admin."""

import os
import secrets
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import BaseCommand, CommandError, call_command

from accounts.models import Account

#: A quarter of ``seed_demo``'s default size: a fresh clone is up in under three
#: minutes; DEMO_ACCOUNTS=2000 DEMO_TOUCHES=300000 gives the full data set.
DEMO_ACCOUNTS = 500
DEMO_TOUCHES = 75_000
#: Weeks of published KPI history before the last day, so every KPI card has a trend:
#: the dashboard's default 90-day trend (12 weeks) before serving, the rest of the year
#: in a background ``demo_history`` (about 1 s a week on SQLite).
DEMO_HISTORY_WEEKS = 52
DEMO_HISTORY_WEEKS_FIRST = 12


def _env_count(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise CommandError(f"{name} must be a whole number, got {value!r}.")
    return int(value)


class Command(BaseCommand):
    help = (
        "Seed demo data when the database has no accounts (DEMO_ACCOUNTS, DEMO_TOUCHES set the "
        "size) with its snapshots computed, and ensure the 'demo' admin user."
    )

    def handle(self, *args, **options) -> None:
        accounts = _env_count("DEMO_ACCOUNTS", DEMO_ACCOUNTS)
        if accounts == 0:
            self.stdout.write("DEMO_ACCOUNTS=0: no demo data; import your own.")
        elif not Account.objects.exists():
            touches = _env_count("DEMO_TOUCHES", DEMO_TOUCHES)
            weeks = _env_count("DEMO_HISTORY_WEEKS", DEMO_HISTORY_WEEKS)
            self.stdout.write("The database is empty: seeding the demo data set…")
            # The snapshots are computed here, before the server starts: pages are full at
            # the first sign-in, and the worker does not hold SQLite's write lock for the
            # length of a recompute while someone tries to sign in.
            call_command(
                "seed_demo",
                accounts=accounts,
                touches=touches,
                recompute=True,
                history_weeks=min(weeks, DEMO_HISTORY_WEEKS_FIRST),
                stdout=self.stdout,
                stderr=self.stderr,
            )
            if weeks > DEMO_HISTORY_WEEKS_FIRST:
                self._history_in_background(weeks)
        else:
            self.stdout.write("Accounts exist: leaving the data as it is.")
        password = self._demo_password()
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username="demo", defaults={"email": "demo@example.com", "first_name": "Demo"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        # Set only when it differs: a new password (even the same one, with a new salt)
        # ends the user's sessions and revokes their API tokens on every start.
        if created or not user.check_password(password):
            user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name="admin"))
        url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/"
        self.stdout.write(
            self.style.SUCCESS(f"Sign in at {url} as user 'demo' with password: {password}")
        )

    def _history_in_background(self, weeks: int) -> None:
        """The rest of the year's weekly snapshots in a detached process (log in var/)."""
        log_path = settings.VAR_DIR / "demo-history.log"
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "demo_history"]
        with log_path.open("ab") as log:
            subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
                [*command, "--weeks", str(weeks)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.stdout.write(
            f"Publishing the other {weeks - DEMO_HISTORY_WEEKS_FIRST} weeks of KPI history in "
            f"the background (log: {log_path}); the pages are usable meanwhile."
        )

    def _demo_password(self) -> str:
        """DEMO_PASSWORD, else the one saved by an earlier run, else a new one (saved in var/)."""
        if os.environ.get("DEMO_PASSWORD"):
            return os.environ["DEMO_PASSWORD"]
        path = settings.VAR_DIR / "demo-password.txt"
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password
