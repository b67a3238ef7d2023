"""The KPI engine against one scan of the data: how many scans' worth a computation costs.

Seeds ``seed_demo`` at size S (2,000 accounts / 300,000 touches) or M
(20,000 / 3,000,000; ``--size L`` for 100,000 / 10,000,000) into its own
database (kept between runs: ``--reseed`` starts again), switches the
result cache off and times, alternating in one process so the machine's
noise falls on every variant alike, for a 90-day period ending with the
data:

* floor: ``SELECT kind, count(*) FROM touches WHERE occurred_at in the
  period GROUP BY kind`` (one scan of the period's touches);
* catalogue: ``compute()`` of every KPI; and the same with every statement built and
  compiled (``ABM_KPI_STATEMENT_REUSE`` off: not the statements of the same shape compiled
  for an earlier computation, ``funnel.kpis.statements``);
* five by hand: one hand-written statement for the five KPIs below (the target
  list as of the period end, its engagement touches and opportunities), checked
  equal to ``compute(ids=FIVE)`` under the default definitions before timing;
* five: ``compute(ids=...)`` of five common KPIs, and the same with the
  accounts source's fact pruning switched off (every fact annotated, as
  before measures were planned), which shows what the planning saves;
* programs: what the Programs page computes (``reports.selectors.program_rows``: every
  program in one grouped computation, ``compute_grouped``, and the totals), the grouped
  computation alone, and one ``compute()`` per program as the page did before; the
  programs' ratios to the catalogue are printed too (target: at most 1.5);
* nightly funnel snapshots: ``funnel_snapshots_upsert`` for the last day, every slice
  (all, each tier, each program, each cohort) as the nightly task runs it (a rerun
  writes nothing: the figures are equal), and the same with each group's aggregates
  built in full (``copies`` off, as before), with attribution once per tier and per program
  (as before ``_run_grouped``), and with view-through (version 2's program slices), version
  2's tier spend and attribution once per group and Django's rewrite of every aggregate
  against the earlier ones, as before; target: at most 2x the catalogue;
* five KPIs in DuckDB over Parquet (when ``duckdb`` is installed: ``pip install -e
  '.[bench]'``): the tables the five KPIs read exported to Parquet once (the export's
  time printed apart), then the hand-written statement in DuckDB over the files, checked
  equal first; the stretch goal is ``compute(ids=FIVE)`` no slower than it at L.

Each figure is the median over rounds of the ratio to the floor (to the catalogue, to
the hand-written statement) measured in the same round, printed with the load average
(target: the five KPIs at most 2x the hand-written statement).

    .venv/bin/python bench/bench_engine.py --size S
"""

import argparse
import atexit
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlparse

from bench_ingest import recreate_database, setup_django

SIZES = {"S": (2_000, 300_000), "M": (20_000, 3_000_000), "L": (100_000, 10_000_000)}
FIVE = [
    "engaged_target_accounts",
    "opportunity_rate",
    "opportunity_win_rate",
    "new_revenue_won",
    "influenced_pipeline",
]

#: The variant the five KPIs' computations are compared with (target: at most 2x).
BY_HAND = "five KPIs, one statement by hand"
#: The stretch goal's comparison (the five KPIs no slower than it at L).
DUCKDB = "five KPIs in DuckDB over Parquet"


def floor_scan(period: Any) -> Callable[[], None]:
    """The floor every figure is a ratio to: one scan of the period's touches by kind."""
    from django.db import connection

    bounds = [period.start, period.end + dt.timedelta(days=1)]

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT kind, count(*) FROM engagement_touch"
                " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY kind",
                bounds,
            )
            cursor.fetchall()

    return floor


def seed(accounts: int, touches: int) -> None:
    from django.core.management import call_command

    from engagement.models import Touch

    call_command("migrate", verbosity=0)
    if not Touch.objects.exists():
        print(f"seeding {accounts:,} accounts and about {touches:,} touches ...", flush=True)
        call_command("seed_demo", accounts=accounts, touches=touches, verbosity=0)
        _analyze()


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", help="comma-separated variants to time (besides floor and catalogue)"
    )
    parser.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    parser.add_argument(
        "--database", help="an already seeded database to use (default abm_bench_engine_<size>)"
    )
    args = parser.parse_args()
    accounts, touches = SIZES[args.size]
    name = args.database or f"abm_bench_engine_{args.size.lower()}"
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    if args.reseed:
        recreate_database(url)
    else:
        _ensure_database(url)
    setup_django({"DATABASE_URL": url, "ABM_KPI_CACHE_SECONDS": "0"})
    seed(accounts, touches)

    from django.conf import settings
    from django.db import connection
    from django.db.models import Max

    from abm_site.db import shared_sets
    from engagement.models import Program, Touch
    from funnel.definitions import definitions_resolve
    from funnel.kpis import Filters, Period, compute, compute_grouped, measures
    from funnel.kpis.sources.accounts import ACCOUNTS
    from reports.selectors import PROGRAM_KPIS, program_rows

    last = Touch.objects.aggregate(m=Max("occurred_at"))["m"].date()
    period = Period(last - dt.timedelta(days=89), last)
    floor = floor_scan(period)

    def five_unplanned() -> None:
        ACCOUNTS.prunes = False
        try:
            compute(period, ids=FIVE)
        finally:
            ACCOUNTS.prunes = True

    rules = definitions_resolve(None)
    by_hand = five_by_hand(period, rules)
    check_five(period, by_hand)
    print(f"the five KPIs by hand (definitions {rules.name}, generation {rules.generation}):")
    for kpi_id, item in by_hand.items():
        print(f"  {kpi_id}: {item}")

    duck = _duckdb(name, period, rules, by_hand)

    programs = list(Program.objects.order_by("name").values_list("pk", flat=True))

    def programs_one_by_one() -> None:
        for pk in programs:  # the page before #18: one computation per program
            compute(period, Filters(program=(pk,)), ids=PROGRAM_KPIS)
        compute(period, Filters(program=tuple(programs)), ids=PROGRAM_KPIS)

    def snapshots() -> None:
        from funnel.snapshots import funnel_snapshots_upsert

        funnel_snapshots_upsert(last, window_days=90, reason="bench")

    def snapshots_full_groups() -> None:
        built = measures.pending_by_group

        def in_full(*args, copies=False, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            return built(*args, **kwargs)

        measures.pending_by_group = in_full
        try:
            snapshots()
        finally:
            measures.pending_by_group = built

    def snapshots_attribution_per_group() -> None:
        """Attribution once per tier and once per program (no ``_run_grouped``), as before."""
        from funnel.kpis.attribution import ATTRIBUTION

        grouped = ATTRIBUTION.grouped_runner
        ATTRIBUTION.grouped_runner = None
        try:
            snapshots()
        finally:
            ATTRIBUTION.grouped_runner = grouped

    def snapshots_as_before() -> None:
        """View-through (version 2, programs), version 2's tier spend and attribution once
        per group, and each aggregate rewritten by Django against all the earlier ones of its
        statement (``measures.Alone`` off), as before; the cohort slices' runners stay
        merged."""
        from funnel.kpis.sources.spend import SPEND
        from funnel.kpis.sources.touches import VIEW_THROUGH

        grouped_spend, split, aggregate = SPEND.grouped_runner, VIEW_THROUGH.split_rows, None

        def spend_per_tier(union, groups, cohorts):  # noqa: ANN001, ANN202
            if union.generation >= 2 and any(g.filters.tier for g in groups):
                return None  # one ``_spend`` per group (or per part of the groups)
            return grouped_spend(union, groups, cohorts)

        def rewritten(pending, wrapper=None):  # noqa: ANN001, ANN202
            with shared_sets(pending.queryset.db), ExitStack() as stack:
                if wrapper is not None:
                    stack.enter_context(connection.execute_wrapper(wrapper))
                return pending.queryset.aggregate(**pending.aggregates)

        aggregate, measures._aggregate = measures._aggregate, rewritten
        SPEND.grouped_runner, VIEW_THROUGH.split_rows = spend_per_tier, None
        try:
            snapshots_attribution_per_group()
        finally:
            measures._aggregate = aggregate
            SPEND.grouped_runner, VIEW_THROUGH.split_rows = grouped_spend, split

    def catalogue_compiled() -> None:
        settings.ABM_KPI_STATEMENT_REUSE = False
        try:
            compute(period)
        finally:
            settings.ABM_KPI_STATEMENT_REUSE = True

    variants = {
        "floor scan": floor,
        "catalogue": lambda: compute(period),
        "catalogue, statements compiled": catalogue_compiled,
        BY_HAND: lambda: five_by_hand(period, rules),
        "five KPIs": lambda: compute(period, ids=FIVE),
        "five KPIs, facts not planned": five_unplanned,
        "programs page": lambda: program_rows(period, Filters()),
        "programs grouped (no totals)": lambda: compute_grouped(
            period, Filters(), "program", programs, PROGRAM_KPIS
        ),
        "programs, one compute each": programs_one_by_one,
        "nightly funnel snapshots": snapshots,
        "snapshots (groups in full)": snapshots_full_groups,
        "snapshots (attribution per group)": snapshots_attribution_per_group,
        "snapshots (runners per group)": snapshots_as_before,
    }
    if duck is not None:
        variants[DUCKDB] = duck
    if args.only:
        keep = {"floor scan", "catalogue", BY_HAND, *(v.strip() for v in args.only.split(","))}
        keep.add("catalogue, statements compiled")
        variants = {name: run for name, run in variants.items() if name in keep}
    for run in variants.values():  # warm the buffers and the code paths; a second
        run()  # computation of a shape proves its statements (``funnel.kpis.statements``)
        run()
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.rounds):
        times = {}
        for name, run in variants.items():
            began, began_cpu = time.perf_counter(), time.process_time()
            run()
            times[name] = time.perf_counter() - began
            cpu[name].append(time.process_time() - began_cpu)
        loads.append(os.getloadavg()[0])
        for name, took in times.items():
            seconds[name].append(took)
            ratios[name].append(took / times["floor scan"])
    print(
        f"\nsize {args.size} ({accounts:,} accounts, {Touch.objects.count():,} touches), "
        f"period {period.start} to {period.end}, {args.rounds} alternating rounds, "
        f"load average {min(loads):.1f}-{max(loads):.1f}"
    )
    print(f"{len(programs)} programs")
    print(
        f"{'variant':34} {'median s':>9} {'x floor':>8} {'x catalogue':>12} {'x by hand':>10}"
        f" {'Python s':>9}"
    )

    def per(variant: str, base: str) -> float:
        return statistics.median(
            a / b for a, b in zip(seconds[variant], seconds[base], strict=True)
        )

    for variant in variants:
        print(
            f"{variant:34} {statistics.median(seconds[variant]):9.3f} "
            f"{statistics.median(ratios[variant]):8.1f} {per(variant, 'catalogue'):12.2f} "
            f"{per(variant, BY_HAND):10.2f} {statistics.median(cpu[variant]):9.3f}"
        )
    for before in ("snapshots (attribution per group)", "snapshots (runners per group)"):
        if before in variants and "nightly funnel snapshots" in variants:
            print(
                f"nightly funnel snapshots / {before}: {per('nightly funnel snapshots', before):.2f}"
            )
    if DUCKDB in variants and "five KPIs" in variants:
        print(
            f"five KPIs / DuckDB over Parquet: {per('five KPIs', DUCKDB):.2f}"
            " (stretch goal at L: at most 1)"
        )


def five_by_hand(period, rules) -> dict[str, dict]:
    """The five KPIs from one hand-written statement, in ``compute()``'s item shape.

    What an analyst would write against the same tables and definitions: the target
    list as of the period end (membership intervals, ``accounts.models.target_q``), its
    accounts' engagement touches in the period, and their opportunities; version 2
    counts influence from touches of a program on new business only (KPIS.md).
    """
    from django.conf import settings
    from django.db import connection

    from abm_site.db import day_bounds
    from accounts.models import AccountList, ListMembership
    from engagement.choices import ENGAGEMENT_KINDS
    from engagement.models import Touch
    from funnel.models import Opportunity

    start_dt, end_dt = day_bounds(period.start, period.end)
    v2 = rules.generation >= 2
    influenced_type = "AND o.type = 'new_business'" if v2 else ""
    influenced_touch = "AND t.program_id IS NOT NULL" if v2 else ""
    sql = f"""
        WITH target AS (
            SELECT DISTINCT m.account_id
            FROM {ListMembership._meta.db_table} m
            JOIN {AccountList._meta.db_table} l ON l.id = m.list_id
            WHERE l.is_target
              AND (m.joined_on IS NULL OR m.joined_on <= %(end)s)
              AND (m.left_on IS NULL OR m.left_on > %(end)s)
        ),
        opps AS (
            SELECT o.* FROM {Opportunity._meta.db_table} o JOIN target USING (account_id)
        )
        SELECT
            (SELECT count(*) FROM target),
            (SELECT count(DISTINCT t.account_id)
               FROM {Touch._meta.db_table} t JOIN target USING (account_id)
              WHERE t.kind = ANY(%(kinds)s)
                AND t.occurred_at >= %(start_dt)s AND t.occurred_at < %(end_dt)s),
            (SELECT count(DISTINCT account_id) FROM opps
              WHERE type = 'new_business' AND created_on BETWEEN %(start)s AND %(end)s),
            w.won, w.lost, w.won_amount, i.influenced, i.influenced_amount
        FROM (
            SELECT count(*) FILTER (WHERE status = 'won') AS won,
                   count(*) FILTER (WHERE status = 'lost') AS lost,
                   sum(amount) FILTER (WHERE status = 'won') AS won_amount
            FROM opps
            WHERE type = 'new_business' AND closed_on BETWEEN %(start)s AND %(end)s
        ) w, (
            SELECT count(*) AS influenced, sum(amount) AS influenced_amount
            FROM opps o
            WHERE o.created_on BETWEEN %(start)s AND %(end)s {influenced_type}
              AND EXISTS (
                SELECT 1 FROM {Touch._meta.db_table} t
                WHERE t.account_id = o.account_id AND t.kind = ANY(%(kinds)s) {influenced_touch}
                  AND t.occurred_at >= (o.created_on - %(days)s - 1)::timestamptz
                  AND t.occurred_at < (o.created_on + 2)::timestamptz
                  AND (t.occurred_at AT TIME ZONE %(tz)s)::date
                      BETWEEN o.created_on - %(days)s AND o.created_on
              )
        ) i
    """
    params = {
        "start": period.start,
        "end": period.end,
        "start_dt": start_dt,
        "end_dt": end_dt,
        "kinds": list(ENGAGEMENT_KINDS),
        "days": int({**settings.ABM_SCORES, **rules.params}["influence_days"]),
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return five_items(cursor.fetchone())


def five_items(row: tuple) -> dict[str, dict]:
    """The five KPIs in ``compute()``'s item shape from the hand-written statement's row
    (PostgreSQL's or DuckDB's: the same columns)."""
    from funnel.kpis.results import count_result, ratio_result, sum_result

    targets, engaged, opp_accounts, won, lost, won_amount, infl, infl_amount = row
    return {
        "engaged_target_accounts": count_result(engaged),
        "opportunity_rate": ratio_result(opp_accounts, targets),
        "opportunity_win_rate": ratio_result(won, won + lost),
        "new_revenue_won": sum_result(won_amount, won),
        "influenced_pipeline": sum_result(infl_amount, infl),
    }


def _duckdb(name: str, period: Any, rules: Any, by_hand: dict) -> Callable[[], Any] | None:
    """The DuckDB variant (the tables exported to Parquet, checked equal to the hand-written
    statement), or None without ``duckdb`` installed."""
    try:
        import duckdb_five
    except ImportError:  # pragma: no cover - the optional extra
        return None
    try:
        import duckdb  # noqa: F401
    except ImportError:
        print("(duckdb not installed: pip install -e '.[bench]' for the DuckDB comparison)")
        return None
    from django.conf import settings

    from engagement.choices import ENGAGEMENT_KINDS

    directory = tempfile.mkdtemp(prefix=f"abm_bench_parquet_{name}_")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    duck, took = duckdb_five.export(directory, settings.TIME_ZONE)
    kinds = list(ENGAGEMENT_KINDS)
    days = int({**settings.ABM_SCORES, **rules.params}["influence_days"])
    v2 = rules.generation >= 2
    got = five_items(duckdb_five.five_duckdb(duck, period, kinds, days, v2))
    assert got == by_hand, f"DuckDB {got} != by hand {by_hand}"
    print(f"exported the five KPIs' tables to Parquet in {took:.1f} s; DuckDB agrees")
    return lambda: five_items(duckdb_five.five_duckdb(duck, period, kinds, days, v2))


def check_five(period, by_hand: dict[str, dict]) -> None:
    """The hand-written statement agrees with ``compute(ids=FIVE)`` on every figure."""
    from funnel.kpis import compute

    items = {item["id"]: item for item in compute(period, ids=FIVE)["kpis"]}
    for kpi_id, expected in by_hand.items():
        got = {key: items[kpi_id][key] for key in expected}
        assert got == expected, f"{kpi_id}: compute() {got} != by hand {expected}"


def _ensure_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin = urlparse(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
