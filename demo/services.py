"""A realistic, deterministic demo data set across every source-data model (``seed_demo``).

Why it exists: the pages and KPIs only mean something on data with a story.
ABM (target) accounts get larger deals, longer cycles, higher win rates,
better retention and NPS than non-ABM accounts; engagement ramps up before
opportunities; activity grows towards the end date so the "last 90 days"
view is rich.

Determinism: everything is drawn from one local ``random.Random(seed)`` in a
fixed order (the planner first, then the writers in the order below), and
dates derive from ``end_date`` alone, so the same seed and end date give the
same rows. Only ``created_at``/``updated_at`` (and the users' ``date_joined``)
carry the clock.

Performance: the plan is built in memory per account (a few thousand
objects); touches, the one big table, are streamed in chunks straight into
PostgreSQL with ``COPY`` (``executemany`` in chunks on SQLite).
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.db.models import Case, Q, Value, When

from abm_site.db import day_start
from accounts.models import Account, Holdout, HoldoutAssignment, IcpRule, Owner, Stakeholder, Tier
from accounts.selectors import target_list
from accounts.services import holdout_draw
from engagement.models import HighValuePage, IntentSignal, Program, Spend, Touch, Visitor
from funnel.kpis import last_complete_day
from funnel.models import (
    AccountSnapshot,
    AccountStageChange,
    FunnelSnapshot,
    NpsResponse,
    Opportunity,
    RecomputeRun,
)

from .journeys import Planner, Window
from .vocabulary import (
    DEFAULT_ACCOUNTS,
    DEFAULT_MONTHS,
    DEFAULT_SEED,
    DEFAULT_TOUCHES,
    DEMO_USER_DOMAIN,
    SOURCE,
)
from .writers import TableWriter

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_MONTHS",
    "DEFAULT_SEED",
    "DEFAULT_TOUCHES",
    "DEMO_MODELS",
    "DEMO_USER_DOMAIN",
    "SOURCE",
    "DemoConfig",
    "DemoResult",
    "demo_default_end_date",
    "demo_existing_counts",
    "demo_seed",
    "demo_tables_wipe",
]

#: Tables the demo fills or that derive from them, children first (the wipe order).
DEMO_MODELS: tuple[type[models.Model], ...] = (
    Touch,
    Visitor,
    IntentSignal,
    Spend,
    Program,
    HighValuePage,
    NpsResponse,
    AccountStageChange,
    AccountSnapshot,
    FunnelSnapshot,
    RecomputeRun,
    Opportunity,
    Stakeholder,
    Account,
    IcpRule,
    Tier,
)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate: sizes, the seed and the last day of the 18-month window."""

    end_date: dt.date
    accounts: int = DEFAULT_ACCOUNTS
    touches: int = DEFAULT_TOUCHES
    seed: int = DEFAULT_SEED
    months: int = DEFAULT_MONTHS

    def __post_init__(self) -> None:
        if self.accounts < 10:
            raise ValueError(f"accounts must be at least 10 (got {self.accounts}).")
        if self.touches < 0:
            raise ValueError(f"touches cannot be negative (got {self.touches}).")
        if not 1 <= self.months <= 120:
            raise ValueError(f"months must be between 1 and 120 (got {self.months}).")


@dataclass
class DemoResult:
    """Rows created per model (in creation order) and the seconds it took."""

    counts: dict[str, int]
    elapsed: float
    start_date: dt.date
    end_date: dt.date


def demo_default_end_date() -> dt.date:
    """The last complete day, as every report's default period ends (the only clock read)."""
    return last_complete_day()


def demo_existing_counts() -> dict[str, int]:
    """Rows already in the demo tables (non-empty ones only), for the refusal message."""
    counts = {m._meta.verbose_name_plural: m.objects.count() for m in DEMO_MODELS}
    return {name: n for name, n in counts.items() if n}


def demo_tables_wipe() -> dict[str, int]:
    """Delete every row of the demo tables and the demo's own users (``@reps.demo.example``).

    Other users, groups and API tokens stay. Children go first so no
    cascade has to load rows into memory.
    """
    deleted: dict[str, int] = {}
    with transaction.atomic():
        # Holdouts hold accounts: with every account gone, no draw is left to compare.
        deleted["holdouts"] = Holdout.objects.count()
        Holdout.objects.all().delete()
        for model in DEMO_MODELS:
            n = model.objects.count()
            model.objects.all().delete()
            deleted[str(model._meta.verbose_name_plural)] = n
        owners = Owner.objects.filter(email__iendswith="@" + DEMO_USER_DOMAIN)
        deleted["demo owners"] = owners.count()
        owners.delete()
        users = get_user_model().objects.filter(email__iendswith="@" + DEMO_USER_DOMAIN)
        deleted["demo users"] = users.count()
        users.delete()
    return deleted


def demo_seed(
    config: DemoConfig,
    *,
    log: Callable[[str], None] | None = None,
    progress_file: TextIO | None = None,
) -> DemoResult:
    """Generate and write the whole demo data set in one transaction.

    ``log`` receives one line per step; ``progress_file`` (if given) shows a
    tqdm bar while touches stream in.
    """
    started = time.monotonic()
    steps = _Steps(log or (lambda _msg: None))
    window = Window(
        end=config.end_date,
        months=config.months,
        accounts=config.accounts,
        seed=config.seed,
        tz=zoneinfo.ZoneInfo(settings.TIME_ZONE),
    )
    with transaction.atomic():
        if connection.vendor == "sqlite":
            # Index pages of the touch table must stay in memory, or random index
            # inserts turn I/O-bound as the table grows (the default cache is 2 MB).
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")  # 256 MB, this connection only
        _write_all(window, config, steps, progress_file)
    _refresh_planner_statistics()
    return DemoResult(
        counts=steps.counts,
        elapsed=time.monotonic() - started,
        start_date=window.start,
        end_date=window.end,
    )


def _write_all(
    window: Window, config: DemoConfig, steps: _Steps, progress_file: TextIO | None
) -> None:
    """Plan every journey, then write the tables; this order fixes the random draws."""
    plan = Planner(window, config.accounts).plan()
    writer = TableWriter(window, plan, step=steps.step, progress_file=progress_file)
    writer.users()
    writer.reference_tables()
    writer.accounts()
    writer.stakeholders()
    writer.programs_and_spend()
    writer.visitors()
    writer.intent()
    writer.opportunities()
    writer.nps()
    writer.touches(config.touches)
    _holdout_with_effect(window, steps)
    writer.stage_changes()


#: The demo's holdout: 20 % of the target list, drawn this many days before the window's end.
DEMO_HOLDOUT_SHARE, DEMO_HOLDOUT_SEED, DEMO_HOLDOUT_DAYS = "0.2", "demo", 180
#: Held-out accounts (first by domain) whose program touches stay, to show contamination.
DEMO_CONTAMINATED = 3


def _holdout_with_effect(window: Window, steps: _Steps) -> None:
    """Hold out 20 % of the target list half a year before the end and give the programs a
    generated effect. Since the draw: every other held-out account lost all its touches and
    the rest their program touches (but for a few, the contamination the lift page shows),
    all moved to treated accounts so the touch count stays the budget; and three in four of
    the held-out accounts' new-business deals never happened. A fixed number of statements,
    before the stage history is rebuilt from the data.
    """
    drawn_on = window.end - dt.timedelta(days=DEMO_HOLDOUT_DAYS)
    holdout = holdout_draw(
        target_list(), DEMO_HOLDOUT_SHARE, DEMO_HOLDOUT_SEED, drawn_on, replace=True
    )
    groups = HoldoutAssignment.objects.filter(holdout=holdout).order_by("account__domain")
    held = list(groups.filter(held_out=True).values_list("account_id", flat=True))
    treated = list(groups.filter(held_out=False).values_list("account_id", flat=True))
    moved = list(zip(held[DEMO_CONTAMINATED:], treated, strict=False))
    if moved:
        quiet = [h for i, (h, _) in enumerate(moved) if i % 2 == 0]
        Touch.objects.filter(
            Q(account_id__in=quiet)
            | Q(account_id__in=[h for h, _ in moved], program__isnull=False),
            occurred_at__gte=day_start(drawn_on),
        ).update(
            account_id=Case(*(When(account_id=h, then=Value(t)) for h, t in moved)),
            stakeholder=None,
            visitor=None,
        )
    Opportunity.objects.filter(  # three in four: all but those created on days 4, 8, ...
        account_id__in=held,
        type=Opportunity.Type.NEW_BUSINESS,
        created_on__gte=drawn_on,
    ).exclude(created_on__day__in=range(4, 32, 4)).exclude(
        # a customer's renewals and expansions keep the deal they grew from
        account__opportunities__type__in=[Opportunity.Type.RENEWAL, Opportunity.Type.EXPANSION]
    ).delete()
    steps.step("holdout accounts", len(held))


class _Steps:
    """Rows written per table, and one log line per table with the seconds so far."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.counts: dict[str, int] = {}
        self._t0 = time.monotonic()

    def step(self, label: str, n: int) -> None:
        self.counts[label] = self.counts.get(label, 0) + n
        self.log(f"  {label:<22} {n:>9,}  ({time.monotonic() - self._t0:5.1f}s)")


def _refresh_planner_statistics() -> None:
    """ANALYZE the freshly loaded tables so the first queries get good plans.

    Autovacuum gets to a bulk load only later: until then PostgreSQL plans
    the KPI and snapshot queries for empty tables, and a 1-second query takes
    20. SQLite's planner likewise uses the statistics ``ANALYZE`` gathers.
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
