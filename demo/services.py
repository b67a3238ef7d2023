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

from accounts.models import Account, IcpRule, Owner, Stakeholder, Tier
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
    writer.stage_changes()


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
