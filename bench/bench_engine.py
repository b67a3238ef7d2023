"""The KPI engine against one scan of the data: how many scans' worth a computation costs.

Seeds ``seed_demo`` at size S (2,000 accounts / 300,000 touches) or M
(20,000 / 3,000,000; ``--size L`` for 100,000 / 10,000,000) into its own
database (kept between runs: ``--reseed`` starts again), switches the
result cache off and times, alternating in one process so the machine's
noise falls on every variant alike, for a 90-day period ending with the
data:

* floor: ``SELECT kind, count(*) FROM touches WHERE occurred_at in the
  period GROUP BY kind`` (one scan of the period's touches);
* catalogue: ``compute()`` of every KPI;
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
  built in full (``copies`` off, as before); target: at most 2x the catalogue.

Each figure is the median over rounds of the ratio to the floor measured
in the same round, printed with the load average at that moment.

    .venv/bin/python bench/bench_engine.py --size S
"""

import argparse
import datetime as dt
import os
import statistics
import time
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

    from django.db import connection
    from django.db.models import Max

    from engagement.models import Program, Touch
    from funnel.kpis import Filters, Period, compute, compute_grouped, measures
    from funnel.kpis.sources.accounts import ACCOUNTS
    from reports.selectors import PROGRAM_KPIS, program_rows

    last = Touch.objects.aggregate(m=Max("occurred_at"))["m"].date()
    period = Period(last - dt.timedelta(days=89), last)
    start, end = period.start, period.end + dt.timedelta(days=1)

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT kind, count(*) FROM engagement_touch"
                " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY kind",
                [start, end],
            )
            cursor.fetchall()

    def five_unplanned() -> None:
        ACCOUNTS.prunes = False
        try:
            compute(period, ids=FIVE)
        finally:
            ACCOUNTS.prunes = True

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

    variants = {
        "floor scan": floor,
        "catalogue": lambda: compute(period),
        "five KPIs": lambda: compute(period, ids=FIVE),
        "five KPIs, facts not planned": five_unplanned,
        "programs page": lambda: program_rows(period, Filters()),
        "programs grouped (no totals)": lambda: compute_grouped(
            period, Filters(), "program", programs, PROGRAM_KPIS
        ),
        "programs, one compute each": programs_one_by_one,
        "nightly funnel snapshots": snapshots,
        "snapshots (groups in full)": snapshots_full_groups,
    }
    if args.only:
        keep = {"floor scan", "catalogue", *(v.strip() for v in args.only.split(","))}
        variants = {name: run for name, run in variants.items() if name in keep}
    for run in variants.values():  # warm the buffers and the code paths once
        run()
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.rounds):
        times = {}
        for name, run in variants.items():
            began = time.perf_counter()
            run()
            times[name] = time.perf_counter() - began
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
    print(f"{'variant':34} {'median s':>9} {'x floor':>8} {'x catalogue':>12}")
    for variant in variants:
        per_catalogue = statistics.median(
            a / b for a, b in zip(seconds[variant], seconds["catalogue"], strict=True)
        )
        print(
            f"{variant:34} {statistics.median(seconds[variant]):9.3f} "
            f"{statistics.median(ratios[variant]):8.1f} {per_catalogue:12.2f}"
        )


def _ensure_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin = urlparse(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
