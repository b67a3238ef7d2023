"""``manage.py create_api_token USERNAME --name N --scope read|write [--expires-days D]``."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError
from django.utils import timezone

from abm_site.models import ApiToken


class Command(BaseCommand):
    help = (
        "Issue an API token acting as USERNAME and print its key once (the database keeps "
        "only a hash). The key alone goes to stdout, so KEY=$(manage.py create_api_token …) works."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="The user the token acts as; their role applies.")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'CRM sync'.")
        parser.add_argument(
            "--scope",
            choices=[c.value for c in ApiToken.Scope],
            default=ApiToken.Scope.READ.value,
            help="read (default) or write; a write token still needs an editor or admin user.",
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            metavar="D",
            help="Expire the token D days from now (default: never).",
        )

    def handle(self, *args, username: str, name: str, scope: str, expires_days, **options):
        user = self._user(username)
        name = name.strip()
        if not name:
            raise CommandError("--name: give the token a name saying what it is for.")
        if len(name) > ApiToken._meta.get_field("name").max_length:
            raise CommandError("--name: at most 100 characters.")
        role = user.role
        if role is None:
            raise CommandError(
                f"User '{username}' has no role: add them to the viewer, editor or admin group "
                "first, or the token could do nothing."
            )
        if scope == ApiToken.Scope.WRITE and role not in ("editor", "admin"):
            raise CommandError(
                f"--scope write: user '{username}' is a {role} and may not write; "
                "use --scope read or give them the editor role."
            )
        expires_at = None
        if expires_days is not None:
            if expires_days < 1:
                raise CommandError("--expires-days: give a whole number of days, at least 1.")
            expires_at = timezone.now() + dt.timedelta(days=expires_days)
        token, key = ApiToken.issue(user=user, name=name, scope=scope, expires_at=expires_at)
        expiry = f"expires {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else "never expires"
        self.stderr.write(
            f"Created {scope} token '{token.name}' for {user.username} ({role}), {expiry}. "
            "Copy the key now; it is not shown again:"
        )
        self.stdout.write(key)

    def _user(self, username: str):
        User = get_user_model()
        try:
            user = User.objects.prefetch_related("groups").get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user named '{username}'.") from None
        if not user.is_active:
            raise CommandError(f"User '{username}' is inactive; activate them first.")
        return user
