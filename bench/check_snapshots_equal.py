"""The nightly funnel snapshots' slices with attribution grouped equal them with one attribution
statement per group, and how their costs compare.

For three periods ending on the last touch day (30, 90 and 365 days) under definitions v1
and v2, every slice of ``funnel.snapshots._slice_results`` (all, each tier, each program,
each cohort) is computed with the attribution source's grouped runner (``_run_grouped``:
one statement for every tier, one for every program) and without it (the source once per
group, as before), and compared as the JSON the snapshots store. With ``--rounds N``, the
90-day v2 slices old and new alternating in one process, with the load average.
Read-only: everything runs in one read-only transaction (the definitions versions are
not marked used).

    .venv/bin/python bench/check_snapshots_equal.py --database abm_bench_engine_s --rounds 5
"""

import argparse
import datetime as dt
import json
import os
import statistics
import time

from bench_ingest import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="abm_bench_engine_s")
    parser.add_argument("--rounds", type=int, default=0)
    args = parser.parse_args()
    url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    setup_django({"DATABASE_URL": url, "ABM_KPI_CACHE_SECONDS": "0"})

    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import connection, transaction
    from django.db.models import Max
    from django.test.utils import CaptureQueriesContext

    from engagement.models import Touch
    from funnel.definitions import definitions_resolve
    from funnel.kpis import Period
    from funnel.kpis.attribution import ATTRIBUTION
    from funnel.snapshots import _slice_results

    grouped = ATTRIBUTION.grouped_runner
    assert grouped is not None

    def slices(period: Period, rules, attribution_grouped: bool) -> tuple[str, int]:
        ATTRIBUTION.grouped_runner = grouped if attribution_grouped else None
        try:
            with CaptureQueriesContext(connection) as queries:
                results = _slice_results(period, rules, None)
        finally:
            ATTRIBUTION.grouped_runner = grouped
        return json.dumps(results, cls=DjangoJSONEncoder, sort_keys=True), len(queries)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
        last = Touch.objects.aggregate(m=Max("occurred_at"))["m"].date()
        periods = [Period(last - dt.timedelta(days=n - 1), last) for n in (30, 90, 365)]
        versions = {name: definitions_resolve(name) for name in ("v1", "v2")}
        for name, rules in versions.items():
            for period in periods:
                new, new_queries = slices(period, rules, True)
                old, old_queries = slices(period, rules, False)
                assert new == old, (name, period)
                attributed = new.count('"attributed_pipeline"')
                print(
                    f"{name} {period.start}..{period.end}: {len(json.loads(new))} slices equal "
                    f"({len(new):,} bytes of JSON, {attributed} attributed pipeline items), "
                    f"statements {old_queries} -> {new_queries}"
                )
        if not args.rounds:
            return
        period, rules = periods[1], versions["v2"]
        seconds: dict[bool, list[float]] = {True: [], False: []}
        loads = []
        for _ in range(args.rounds):
            for attribution_grouped in (False, True):
                began = time.perf_counter()
                slices(period, rules, attribution_grouped)
                seconds[attribution_grouped].append(time.perf_counter() - began)
            loads.append(os.getloadavg()[0])
        ratio = statistics.median(n / o for n, o in zip(seconds[True], seconds[False], strict=True))
        print(
            f"90-day v2 slices, {args.rounds} alternating rounds, load average "
            f"{min(loads):.1f}-{max(loads):.1f}: attribution per group "
            f"{statistics.median(seconds[False]):.3f} s, grouped "
            f"{statistics.median(seconds[True]):.3f} s, new / old {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
