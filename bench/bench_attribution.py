"""Attribution benchmark (issue 14): each model's statement against the read it cannot avoid.

Builds (once, cached by size) the database of ``bench_recompute.py`` (N accounts, M
touches, a new-business opportunity for every fifth account) in a database of its own,
gives two thirds of the touches one of eight programs, then times, alternating the
contenders run after run so a change of machine load hits all of them alike:

* the floor: the same opportunities of a 90-day period (pipeline and revenue) joined to
  the program touches of their windows and counted, the read no model can do without;
* the attribution statement of every model (``funnel.kpis.attribution``), credits by
  program with cents by largest remainder.

It prints each model's median, the floor's, their ratio (target <= 3: the windows,
shares and rounding cost at most twice the read), that the credits add up to the period's
pipeline and revenue, and the load average.

    .venv/bin/python bench/bench_attribution.py [--accounts 100000] [--touches 10000000]

It uses the database ``abm_bench_attr_<accounts>_<touches>`` on 127.0.0.1 (created on
first use, reused after). Not part of the test run.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

from bench_recompute import DAY, ensure_database, populate, setup_django

PROGRAMS = 8


def assign_programs() -> None:
    """Eight programs, and two thirds of the touches given one of them (once, set-based)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM engagement_program")
        if c.fetchone()[0] >= PROGRAMS:
            return
        print("Giving two thirds of the touches a program (once)…", flush=True)
        c.execute(
            "INSERT INTO engagement_program (created_at, updated_at, name, program_type, budget)"
            " SELECT now(), now(), 'Program ' || g, 'one_to_many', 10000"
            " FROM generate_series(1, %s) g",
            [PROGRAMS],
        )
        c.execute("SELECT min(id) FROM engagement_program")
        first = c.fetchone()[0]
        c.execute(
            "UPDATE engagement_touch SET program_id = %s + (hashint4(id::int + 3) & 2147483647) %% %s"
            " WHERE (hashint4(id::int) & 2147483647) %% 3 <> 0",
            [first, PROGRAMS],
        )
        c.execute(
            "INSERT INTO engagement_spend (created_at, updated_at, program_id, spent_on, amount,"
            " channel, category, source, external_id) SELECT now(), now(), id, %s, 5000, '',"
            " 'marketing', '', '' FROM engagement_program",
            [DAY - dt.timedelta(days=10)],
        )
    connection.close()
    import psycopg

    name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as raw:
        raw.execute("VACUUM ANALYZE engagement_touch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--touches", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs (default 5)")
    args = parser.parse_args()
    db_name = f"abm_bench_attr_{args.accounts}_{args.touches}"
    ensure_database(db_name)
    setup_django(db_name)
    populate(args.accounts, args.touches)
    assign_programs()

    from django.db import connection

    from funnel.choices import Cohort
    from funnel.definitions import definitions_resolve
    from funnel.kpis import Filters, Period, compute
    from funnel.kpis.attribution import (
        MODELS,
        _opportunity_sets,
        _statement,
        attribute,
    )
    from funnel.kpis.context import Context

    period = Period(DAY - dt.timedelta(days=89), DAY)
    filters = Filters(cohort=str(Cohort.ALL))
    ctx = Context(period, filters, definitions=definitions_resolve("v2"))
    pipeline, revenue = _opportunity_sets(ctx, str(Cohort.ALL))
    floor_sql, floor_params = _statement(
        ctx,
        pipeline,
        revenue,
        "linear",
        "SELECT basis, COUNT(*), SUM(q) FROM touched GROUP BY basis",  # only the read
    )

    def floor() -> None:
        with connection.cursor() as c:
            c.execute(floor_sql, floor_params)
            c.fetchall()

    contenders = {"floor (window touches read)": floor}
    for model in MODELS:
        contenders[model] = lambda model=model: attribute(ctx, str(Cohort.ALL), model)

    with connection.cursor() as c:
        c.execute(floor_sql, floor_params)
        touched = {basis: (n, q) for basis, n, q in c.fetchall()}
    print(
        f"Period {period.start} – {period.end}; {args.accounts:,} accounts, "
        f"{args.touches:,} touches; window touches read: "
        + ", ".join(f"{b} {n:,}" for b, (n, _q) in sorted(touched.items()))
    )
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    for run in contenders.values():  # warm the cache for every contender alike
        run()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):
        for name, run in contenders.items():
            began = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - began)
    base = statistics.median(samples["floor (window touches read)"])
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"  {name:<28} median {median * 1000:8.1f} ms  (min {min(values) * 1000:.1f}, "
            f"max {max(values) * 1000:.1f})  ratio to floor {median / base:5.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")

    kpis = {
        i["id"]: i
        for i in compute(
            period, filters, ids=["influenced_pipeline_share", "new_revenue_won"], definitions="v2"
        )["kpis"]
    }
    pipeline_kpi, revenue_kpi = (
        kpis["influenced_pipeline_share"]["denominator"],
        kpis["new_revenue_won"]["value"],
    )
    worst = max(statistics.median(v) / base for k, v in samples.items() if k in MODELS)
    for model in MODELS:
        result = attribute(ctx, str(Cohort.ALL), model)
        ok = (
            float(result.total("pipeline")) == pipeline_kpi
            and float(result.total("revenue")) == revenue_kpi
        )
        print(f"  {model:<12} credits add up to pipeline and revenue: {'yes' if ok else 'NO'}")
    print(f"Worst model / floor ratio: {worst:.2f} (target <= 3.00)")


if __name__ == "__main__":
    sys.exit(main())
