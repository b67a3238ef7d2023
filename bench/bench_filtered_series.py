"""A stage page's live series under a tier or program filter: one pass against side by side.

The stage's series KPIs (``--stage``, default 2) over ``--weeks`` weeks ending at the last
touch, and as many before (``previous=True``), under ``--tier`` (or ``--program``), result
cache off. "side" is the code before #18's one pass under filters: each period source's
buckets side by side (a ``UNION ALL`` of the buckets' own statements), a program set per
bucket, the tier's accounts by a tier lookup per account; "one" runs them in one pass, each
bucket's period, scope and cohorts flag columns of the fenced rows, the program touches of
all buckets one set, the tier's accounts one sorted pass. Checks both give identical points, then times them alternating in one process (``--rounds``), with
each source's share. Read-only: the definitions are resolved, never marked used.

    .venv/bin/python bench/bench_filtered_series.py --database abm_bench_engine_m --rounds 3
"""

import argparse
import datetime as dt
import os
import statistics
import time
from typing import Any

from bench_ingest import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="abm_bench_engine_s")
    parser.add_argument("--stage", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--tier", type=int, default=1)
    parser.add_argument("--program", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django({"DATABASE_URL": url, "ABM_KPI_CACHE_SECONDS": "0"})

    from django.db.models import F, Max

    import funnel.kpis.scope as scope
    import funnel.kpis.series as series
    from accounts.models import Account, tier_as_of
    from engagement.models import Touch
    from funnel.definitions import definitions_resolve
    from funnel.kpis import Filters, Period, catalogue
    from funnel.kpis.context import Context
    from funnel.kpis.scope import period_free
    from funnel.kpis.sources.accounts import PROGRAM_ACCOUNTS

    end = Touch.objects.aggregate(last=Max("occurred_at"))["last"].date()
    period = Period(end - dt.timedelta(days=7 * args.weeks - 1), end)
    filters = Filters(program=(args.program,)) if args.program else Filters(tier=(args.tier,))
    rules = definitions_resolve(None)
    ids = [s.id for s in series.series_kpis(catalogue(rules.generation)) if s.stage == args.stage]
    one_pass = series._groups_periods
    program_accounts = (PROGRAM_ACCOUNTS.period_q, PROGRAM_ACCOUNTS.group_q)

    def side_by_side(source: Any, ctx: Any) -> bool:
        return one_pass(source, ctx) and ctx.filters == period_free(ctx.filters)

    tiered = scope._tiered

    def tiered_per_account(day: dt.date, tiers: tuple[int, ...], shared: bool) -> Any:
        rows = Account.objects.annotate(tier_then=tier_as_of(day)).filter(tier_then__in=tiers)
        return rows.annotate(account_id=F("pk")).values("account_id")

    class Bucket(Context):
        """A context that never knows its series (a program set per bucket)."""

        series = property(lambda self: (), lambda self, value: None)

    def use(mode: str) -> None:
        series._groups_periods = one_pass if mode == "one" else side_by_side
        PROGRAM_ACCOUNTS.period_q = program_accounts[0] if mode == "one" else None
        series.Context = Context if mode == "one" else Bucket
        scope._tiered = tiered if mode == "one" else tiered_per_account

    sources: dict[str, float] = {}
    run = series._run

    def timed_run(source: Any, *a: Any) -> Any:
        started = time.perf_counter()
        try:
            return run(source, *a)
        finally:
            sources[source.name] = time.perf_counter() - started

    series._run = timed_run

    def compute(mode: str) -> tuple[float, dict[str, Any], dict[str, float]]:
        use(mode)
        sources.clear()
        started = time.perf_counter()
        result = series._series(
            series.buckets(period, "week"),
            series.previous_buckets(period, "week"),
            filters,
            series._specs(ids, rules.generation),
            rules,
            "week",
        )
        return time.perf_counter() - started, result, dict(sources)

    print(f"{args.database}: {len(ids)} stage-{args.stage} KPIs, {period}, {filters}")
    _, side, _ = compute("side")
    _, one, _ = compute("one")
    assert side == one, "one pass and side by side differ"
    print("identical points (one pass == side by side)")
    times: dict[str, list[float]] = {"side": [], "one": []}
    for r in range(args.rounds):
        for mode in ("side", "one") if r % 2 == 0 else ("one", "side"):
            elapsed, _, parts = compute(mode)
            times[mode].append(elapsed)
            shares = " ".join(f"{k} {v:.2f}" for k, v in parts.items())
            print(
                f"  round {r} {mode:4}: {elapsed:6.2f} s ({shares}) load {os.getloadavg()[0]:.2f}"
            )
    side_median, one_median = statistics.median(times["side"]), statistics.median(times["one"])
    print(
        f"median side by side {side_median:.2f} s, one pass {one_median:.2f} s: "
        f"{one_median / side_median:.2f}x"
    )


if __name__ == "__main__":
    main()
