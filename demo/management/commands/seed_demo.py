"""``manage.py seed_demo``: fill an empty database with the deterministic demo data set."""

import datetime as dt
import sys
import time

from django.core.management import BaseCommand, CommandError, CommandParser

from demo.services import (
    DEFAULT_ACCOUNTS,
    DEFAULT_MONTHS,
    DEFAULT_SEED,
    DEFAULT_TOUCHES,
    DEMO_USER_DOMAIN,
    DemoConfig,
    demo_default_end_date,
    demo_existing_counts,
    demo_seed,
    demo_tables_wipe,
)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise CommandError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise CommandError(f"expected a number >= 0, got {n}")
    return n


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--end-date: expected YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Generate a realistic, deterministic demo data set: tiers, ICP rules, accounts "
        "(about 3/4 on the target list), sales reps, stakeholders, ABM programs and spend, "
        "high-value pages, visitors, intent signals, touches of every kind, opportunities, "
        "NPS responses and stage history over the months ending on --end-date. The same "
        "--seed and --end-date give the same rows. Refuses to run when the database already "
        "has accounts unless --force is given. --force first DELETES EVERY ROW of: touches, "
        "visitors, intent signals, spend, programs, high-value pages, NPS responses, "
        "opportunities, stage changes, account and funnel snapshots, recompute runs, "
        "stakeholders, accounts, ICP rules and tiers, plus the demo's own users "
        f"(e-mail @{DEMO_USER_DOMAIN}); other users, groups and API tokens are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accounts",
            type=_positive,
            default=DEFAULT_ACCOUNTS,
            help=f"Number of accounts (default {DEFAULT_ACCOUNTS}, at least 10); "
            "stakeholders, opportunities, spend, visitors and intent scale with it.",
        )
        parser.add_argument(
            "--touches",
            type=_positive,
            default=DEFAULT_TOUCHES,
            help=f"Approximate number of touches (default {DEFAULT_TOUCHES:,}).",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"Random seed (default {DEFAULT_SEED})."
        )
        parser.add_argument(
            "--end-date",
            type=_day,
            default=None,
            help="Last day of the data, YYYY-MM-DD (default: yesterday in TIME_ZONE).",
        )
        parser.add_argument(
            "--months",
            type=_positive,
            default=DEFAULT_MONTHS,
            help=f"Length of the window in months (default {DEFAULT_MONTHS}).",
        )
        parser.add_argument(
            "--recompute",
            action="store_true",
            help="Afterwards compute the snapshots for --end-date in this process "
            "(account and funnel snapshots, stage changes, a recompute run).",
        )
        parser.add_argument(
            "--history-weeks",
            type=_positive,
            default=0,
            help="With --recompute: also publish the 'all' slice's KPI snapshot for each of "
            "the N weeks before --end-date (weekly history, so KPI cards show trends).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Wipe the demo tables listed above first, then seed (destroys their data).",
        )

    def handle(self, *args, **options) -> None:
        end_date = options["end_date"] or demo_default_end_date()
        try:
            config = DemoConfig(
                end_date=end_date,
                accounts=options["accounts"],
                touches=options["touches"],
                seed=options["seed"],
                months=options["months"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        existing = demo_existing_counts()
        if existing.get("accounts") and not options["force"]:
            shown = ", ".join(f"{name}: {n:,}" for name, n in existing.items())
            raise CommandError(
                f"The database already has data ({shown}). Nothing was changed. "
                "Run with --force to DELETE all rows of the demo tables and seed again."
            )
        verbose = options["verbosity"] > 0
        if options["force"] and existing:
            self.stdout.write(
                "--force: deleting every row of the demo tables "
                f"({', '.join(f'{name}: {n:,}' for name, n in existing.items())}) "
                f"and the demo users (@{DEMO_USER_DOMAIN})…"
            )
            demo_tables_wipe()
        elif options["force"]:
            demo_tables_wipe()  # only demo users could remain; the tables are empty
        if verbose:
            self.stdout.write(
                f"Seeding {config.accounts:,} accounts and ~{config.touches:,} touches "
                f"(seed {config.seed}, {config.months} months ending {config.end_date})…"
            )
        result = demo_seed(
            config,
            log=self.stdout.write if verbose else None,
            progress_file=_raw(self.stderr) if verbose else None,
        )
        recompute_note = (
            "Accounts are marked for recompute; the snapshot recompute fills the pages."
        )
        if options["recompute"]:
            from funnel.models import AccountSnapshot, FunnelSnapshot
            from funnel.services import day_compute

            if verbose:
                self.stdout.write(f"Recomputing the snapshots for {config.end_date}…")
            began = time.monotonic()
            day_compute(config.end_date, kind="backfill")
            recompute_note = f"Snapshots recomputed in {time.monotonic() - began:.1f}s."
            weeks = options["history_weeks"]
            if weeks:
                recompute_note += " " + _history(config.end_date, weeks, self.stdout, verbose)
            result.counts["account snapshots"] = AccountSnapshot.objects.count()
            result.counts["funnel snapshots"] = FunnelSnapshot.objects.count()
        width = max(len(name) for name in result.counts)
        lines = [f"{'model':<{width}}  {'rows':>9}", f"{'-' * width}  {'-' * 9}"]
        lines += [f"{name:<{width}}  {n:>9,}" for name, n in result.counts.items()]
        lines.append(f"{'-' * width}  {'-' * 9}")
        lines.append(f"{'total':<{width}}  {sum(result.counts.values()):>9,}")
        self.stdout.write("\n".join(lines))
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.start_date} to {result.end_date} in {result.elapsed:.1f}s. "
                + recompute_note
            )
        )


def _history(end_date: dt.date, weeks: int, stdout, verbose: bool) -> str:
    """Publish the weekly history of the 'all' slice; a sentence saying what it took."""
    from funnel.services import funnel_history_publish

    days = [end_date - dt.timedelta(weeks=k) for k in range(weeks, 0, -1)]
    if verbose:
        stdout.write(f"Publishing {weeks} weekly KPI snapshots ({days[0]} to {days[-1]})…")
    began = time.monotonic()
    funnel_history_publish(days, slices=("all",), reason="demo history")
    return f"{weeks} weekly snapshots of all accounts in {time.monotonic() - began:.1f}s."


def _raw(stream):
    """The underlying text stream of Django's OutputWrapper (tqdm needs bare writes)."""
    while hasattr(stream, "_out"):
        stream = stream._out
    return stream or sys.stderr
