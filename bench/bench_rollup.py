"""Would monthly partitions or a daily per-account roll-up of touches pay? (#18, item 1)

Issue #18 asks to consider monthly range partitioning of the touch table (so a period's
scans read only its months) and daily per-account roll-ups "where they pay; measure
before keeping either". This measures both without touching the product: on a copy of
the S (or M) bench data in its own database (``abm_h_rollup_<size>``, seeded with
``seed_demo`` as ``bench_engine.py`` does; never the engine benchmark's databases) it
builds, beside the real ``engagement_touch``:

* ``bench_touch_daily``: one row per (account, local day, kind, program, high-value
  flag, content flag, funnel position) with the row count, the summed quantity and
  engagement minutes. The flags are the engine's own conditions (``high_value_visit_q``
  with the patterns in force, ``content_touch_q``), evaluated once at build time, so
  the roll-up is exact only while the high-value patterns stay the same;
* ``bench_touch_daily_people``: (account, local day, stakeholder) of engagement touches,
  which is what "distinct engaged people in the period" needs (a count per day cannot
  be summed into a distinct count across days);
* ``bench_touch_part``: the touch table range-partitioned by month (local month starts)
  with the same indexes (the primary key becomes unique on (id, occurred_at), as a
  partitioned table requires).

It then captures the SQL the engine sends for the whole catalogue (at the driver, the
shared sets' ``WITH`` included, result cache and statement reuse off) and times, in
alternating rounds in one process with the load average printed: the floor scan over
the raw, partitioned and rolled-up touches; the catalogue; every captured statement
that reads touches, on the raw and on the partitioned table (the same text with the
table renamed); and hand-written statements over the roll-up for the touches source and
the program-touched set (the two a roll-up answers exactly in full), each checked equal
to the engine's statement first. It prints row counts, build times, ratios and two
estimates: the catalogue with its touch statements on partitions (catalogue + the
partitioned statements' differences), and with those two read from the roll-up
(catalogue - their engine statements + the roll-up statements).

    .venv/bin/python bench/bench_rollup.py --size S

Measured 2026-12-07 (2 shared cores, load 3-4.5; ratios to the raw floor scan): the roll-up
has 0.97 of the touches' rows at S and M (the seed's touches are sparse per account-day:
even distinct (account, day) is 0.76), so it is a narrower copy, not a summary. Its
touches-source statement is 0.43-0.59x the engine's (no LIKE per row, narrow rows), but the
catalogue estimate only moves from 16.5-17.7x to 14.4-16.3x the floor. Partitions halve
the floor and the period scans (touches source 0.73x, program-touched 0.5-0.6x) but slow
the per-account probes that cannot prune (accounts source 1.2x, stage ladder 1.5-2.8x,
planning 22 ms against 3 ms): the catalogue estimate is 16.8-18.5x, no better. Neither
reaches the target (3x): keep neither.

Not part of ``make bench``: an experiment whose result is written in issue #18.
"""

import argparse
import datetime as dt
import os
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_engine import SIZES, _ensure_database, seed
from bench_ingest import recreate_database, setup_django

ROLLUP = "bench_touch_daily"
PEOPLE = "bench_touch_daily_people"
PART = "bench_touch_part"
TOUCH = "engagement_touch"


def build_rollup(patterns: list[str]) -> tuple[float, float]:
    """Create the two roll-up tables from the engine's own conditions; (seconds, seconds)."""
    from django.db import connection
    from django.db.models import BooleanField, Case, Count, Q, Sum, Value, When
    from django.db.models.functions import TruncDate

    from engagement.models import Touch
    from engagement.selectors import content_touch_q, engagement_touch_q, high_value_visit_q

    def flag(q: Q) -> Case:
        return Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())

    daily = (
        Touch.objects.annotate(
            day=TruncDate("occurred_at"),  # the deployment's time zone: the periods' days
            high_value=flag(high_value_visit_q(patterns)),
            on_content=flag(content_touch_q()),
        )
        .values(
            "account_id", "day", "kind", "program_id", "high_value", "on_content", "funnel_position"
        )
        .annotate(n=Count("pk"), quantity=Sum("quantity"), minutes=Sum("engagement_minutes"))
        .order_by()
    )
    people = (
        Touch.objects.filter(engagement_touch_q(), stakeholder_id__isnull=False)
        .annotate(day=TruncDate("occurred_at"))
        .values("account_id", "day", "stakeholder_id")
        .distinct()
        .order_by()
    )
    took = []
    for table, rows, indexes in (
        (ROLLUP, daily, ["day", "account_id, day"]),
        (PEOPLE, people, ["account_id, day"]),
    ):
        sql, params = rows.query.sql_with_params()
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TABLE {table} AS {sql}", params)
            for i, columns in enumerate(indexes):
                cursor.execute(f"CREATE INDEX {table}_{i} ON {table} ({columns})")
            cursor.execute(f"ANALYZE {table}")
        took.append(time.perf_counter() - began)
    return took[0], took[1]


def build_partitioned() -> tuple[float, int]:
    """Create the monthly partitioned copy of the touch table with its indexes; (seconds,
    partitions)."""
    from django.db import connection

    from abm_site.db import day_start

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PART} CASCADE")
        cursor.execute(
            f"CREATE TABLE {PART} (LIKE {TOUCH} INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at)"
        )
        cursor.execute(f"SELECT min(occurred_at), max(occurred_at) FROM {TOUCH}")
        low, high = cursor.fetchone()
        month = low.astimezone(day_start(low.date()).tzinfo).date().replace(day=1)
        months = 0
        while day_start(month) <= high:
            following = (month + dt.timedelta(days=32)).replace(day=1)
            cursor.execute(
                f"CREATE TABLE {PART}_{month:%Y%m} PARTITION OF {PART}"
                " FOR VALUES FROM (%s) TO (%s)",
                [day_start(month), day_start(following)],
            )
            month, months = following, months + 1
        cursor.execute(f"INSERT INTO {PART} SELECT * FROM {TOUCH}")
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [TOUCH])
        for name, definition in cursor.fetchall():
            definition = definition.replace(f"public.{TOUCH} ", f"public.{PART} ")
            definition = definition.replace(f"INDEX {name} ", f"INDEX {PART}_{name} ")
            if "UNIQUE" in definition:  # a partitioned table's unique keys must hold its key
                definition = re.sub(
                    r"USING btree \(([^)]*)\)", r"USING btree (\1, occurred_at)", definition
                )
            cursor.execute(definition)
        cursor.execute(f"ANALYZE {PART}")
    return time.perf_counter() - began, months


def count_rows(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def capture(run: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The (sql, params) ``run`` sends through the driver, as sent (shared sets attached)."""
    import psycopg

    sent: list[tuple[str, Any]] = []
    execute = psycopg.Cursor.execute

    def recorded(self, query, params=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        sent.append((query if isinstance(query, str) else str(query), params))
        return execute(self, query, params, **kwargs)

    psycopg.Cursor.execute = recorded
    try:
        run()
    finally:
        psycopg.Cursor.execute = execute
    return sent


def label(sql: str) -> str:
    """A name for a captured statement that reads touches (the sources of the EXPLAIN map)."""
    if "scored_touches" in sql:
        return "accounts source"
    if '"engagement_touch"."url" AS' in sql and "OVER (" not in sql:
        return "touches source"
    if "view_through" in sql:
        return "view-through"
    if '"engaged"' in sql and "program_id" in sql:
        return "program-touched"
    if "stage_now" in sql or "stage_at_start" in sql:
        return "funnel (stage ladder)"
    if 'FROM "funnel_opportunity"' in sql:
        return "opportunities source"
    return "other"


def runner(sql: str, params: Any) -> Callable[[], Any]:
    from django.db import connection

    def run() -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return run


def same(a: Any, b: Any) -> bool:
    """Equal results, floats to 9 significant digits (partitions change the summing order)."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return f"{a:.9g}" == f"{b:.9g}"
    return a == b


def floor_sql(table: str) -> str:
    return (
        f"SELECT kind, count(*) FROM {table}"
        " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY kind"
    )


def rollup_touches_sql() -> tuple[str, dict]:
    """The touches source's measures over the roll-up, in the engine statement's column order
    (version 2: quantities summed; the default cohort: target accounts as of the end)."""
    from accounts.models import AccountList, ListMembership
    from engagement.choices import ENGAGEMENT_KINDS, WEB_VISIT_KINDS, TouchKind

    content = "kind = ANY(%(eng)s) AND on_content"
    sql = f"""
        SELECT sum(quantity) FILTER (WHERE kind = %(ad_click)s),
               sum(quantity) FILTER (WHERE kind = %(ad_impression)s),
               sum(quantity) FILTER (WHERE kind = %(chat)s),
               sum(quantity) FILTER (WHERE {content}),
               sum(minutes) FILTER (WHERE {content}),
               sum(minutes) FILTER (WHERE funnel_position = 'bofu' AND {content}),
               sum(minutes) FILTER (WHERE funnel_position = 'mofu' AND {content}),
               sum(minutes) FILTER (WHERE funnel_position = 'tofu' AND {content}),
               sum(quantity) FILTER (WHERE kind = %(email_click)s),
               sum(quantity) FILTER (WHERE kind = %(email_open)s),
               sum(quantity) FILTER (WHERE kind = %(email_reply)s),
               sum(quantity) FILTER (WHERE kind = %(email_sent)s),
               sum(quantity) FILTER (WHERE high_value),
               sum(quantity) FILTER (WHERE kind = ANY(%(web)s))
        FROM {ROLLUP}
        WHERE day BETWEEN %(start)s AND %(end)s
          AND account_id IN (
            SELECT m.account_id
            FROM {ListMembership._meta.db_table} m
            JOIN {AccountList._meta.db_table} l ON l.id = m.list_id
            WHERE l.is_target
              AND (m.joined_on IS NULL OR m.joined_on <= %(end)s)
              AND (m.left_on IS NULL OR m.left_on > %(end)s))
    """
    params = {
        "eng": list(ENGAGEMENT_KINDS),
        "web": list(WEB_VISIT_KINDS),
        "ad_click": TouchKind.AD_CLICK.value,
        "ad_impression": TouchKind.AD_IMPRESSION.value,
        "chat": TouchKind.CHAT_CONVERSATION.value,
        "email_click": TouchKind.EMAIL_CLICK.value,
        "email_open": TouchKind.EMAIL_OPEN.value,
        "email_reply": TouchKind.EMAIL_REPLY.value,
        "email_sent": TouchKind.EMAIL_SENT.value,
    }
    return sql, params


def rollup_program_sql() -> str:
    """The program-touched set (reached: any program touch; engaged: an engagement touch of a
    program, in the period) over the roll-up, in the engine statement's column order."""
    from accounts.models import AccountList, ListMembership

    return f"""
        WITH touched AS (
            SELECT account_id, bool_or(kind = ANY(%(eng)s)) AS engaged
            FROM {ROLLUP}
            WHERE day BETWEEN %(start)s AND %(end)s AND program_id IS NOT NULL
            GROUP BY account_id)
        SELECT count(*) FILTER (WHERE engaged), count(*)
        FROM touched
        WHERE account_id IN (
            SELECT m.account_id
            FROM {ListMembership._meta.db_table} m
            JOIN {AccountList._meta.db_table} l ON l.id = m.list_id
            WHERE l.is_target
              AND (m.joined_on IS NULL OR m.joined_on <= %(end)s)
              AND (m.left_on IS NULL OR m.left_on > %(end)s))
    """


def density() -> str:
    """How far the roll-up could compress at all: distinct account-days and account-day-kinds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(DISTINCT (account_id, day)), count(DISTINCT (account_id, day, kind))"
            f" FROM {ROLLUP}"
        )
        days, kinds = cursor.fetchone()
    return f"distinct (account, day): {days:,}; distinct (account, day, kind): {kinds:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    parser.add_argument(
        "--database", help="the database to seed and use (default abm_h_rollup_<size>)"
    )
    args = parser.parse_args()
    accounts, touches = SIZES[args.size]
    name = args.database or f"abm_h_rollup_{args.size.lower()}"
    if name.startswith("abm_bench_"):
        parser.error("this benchmark writes tables: use a database of its own, not the benchmarks'")
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    if args.reseed:
        recreate_database(url)
    else:
        _ensure_database(url)
    setup_django({"DATABASE_URL": url, "ABM_KPI_CACHE_SECONDS": "0"})
    seed(accounts, touches)

    from django.conf import settings
    from django.db.models import Max

    from abm_site.db import day_bounds
    from engagement.models import Touch
    from engagement.selectors import high_value_patterns_for
    from funnel.definitions import definitions_resolve
    from funnel.kpis import Period, compute

    last = Touch.objects.aggregate(m=Max("occurred_at"))["m"].date()
    period = Period(last - dt.timedelta(days=89), last)
    bounds = list(day_bounds(period.start, period.end))
    rules = definitions_resolve(None)
    assert rules.generation >= 2, "the roll-up statement is written for version 2 (quantities)"

    daily_s, people_s = build_rollup(high_value_patterns_for(rules.params))
    part_s, months = build_partitioned()
    n_touch, n_daily, n_people = count_rows(TOUCH), count_rows(ROLLUP), count_rows(PEOPLE)
    print(f"database {name}: {n_touch:,} touches, period {period.start} to {period.end}")
    print(
        f"roll-up {ROLLUP}: {n_daily:,} rows ({n_daily / n_touch:.3f} of the touches), built in {daily_s:.2f} s"
    )
    print(f"  {density()}")
    print(f"people roll-up {PEOPLE}: {n_people:,} rows, built in {people_s:.2f} s")
    print(
        f"partitioned {PART}: {months} monthly partitions, built (copy + indexes) in {part_s:.2f} s"
    )

    # The catalogue's statements as the engine sends them (compiled, not reused).
    compute(period)
    settings.ABM_KPI_STATEMENT_REUSE = False
    try:
        sent = capture(lambda: compute(period))
    finally:
        settings.ABM_KPI_STATEMENT_REUSE = True
    touch_statements = [(label(sql), sql, params) for sql, params in sent if f'"{TOUCH}"' in sql]
    print(f"the catalogue sends {len(sent)} statements, {len(touch_statements)} read touches:")
    names: dict[str, int] = {}
    variants: dict[str, Callable[[], Any]] = {
        "floor scan (raw)": runner(floor_sql(TOUCH), bounds),
        "floor scan (partitioned)": runner(floor_sql(PART), bounds),
        "floor scan (roll-up)": runner(
            f"SELECT kind, sum(n) FROM {ROLLUP} WHERE day BETWEEN %s AND %s GROUP BY kind",
            [period.start, period.end],
        ),
        "catalogue": lambda: compute(period),
    }
    floors = [sorted(variants[f]()) for f in ("floor scan (raw)", "floor scan (partitioned)")]
    floors.append(sorted((k, int(n)) for k, n in variants["floor scan (roll-up)"]()))
    assert floors[0] == floors[1] == floors[2], floors
    touches_source = None
    for kind, sql, params in touch_statements:
        names[kind] = names.get(kind, 0) + 1
        key = kind if names[kind] == 1 else f"{kind} #{names[kind]}"
        print(f"  {key}: {len(sql):,} characters")
        variants[f"{key} (raw)"] = runner(sql, params)
        variants[f"{key} (partitioned)"] = runner(sql.replace(f'"{TOUCH}"', f'"{PART}"'), params)
        assert same(variants[f"{key} (raw)"](), variants[f"{key} (partitioned)"]()), key
        if kind == "touches source":
            touches_source = key
    assert touches_source == "touches source", "the touches source's statement was not found"
    sql, params = rollup_touches_sql()
    params.update(start=period.start, end=period.end)
    variants["touches source (roll-up)"] = runner(sql, params)
    engine_row = variants["touches source (raw)"]()[0]
    rollup_row = variants["touches source (roll-up)"]()[0]
    assert tuple(engine_row) == tuple(rollup_row), f"engine {engine_row} != roll-up {rollup_row}"
    print(f"the roll-up's touches-source statement equals the engine's: {list(engine_row)}")
    variants["program-touched (roll-up)"] = runner(rollup_program_sql(), params)
    engine_rows, rollup_rows = (
        variants["program-touched (raw)"](),
        variants["program-touched (roll-up)"](),
    )
    assert engine_rows == rollup_rows, f"engine {engine_rows} != roll-up {rollup_rows}"
    print(f"the roll-up's program-touched statement equals the engine's: {list(engine_rows[0])}")

    for run in variants.values():  # warm the buffers and the code paths
        run()
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    loads = []
    for _ in range(args.rounds):
        for variant, run in variants.items():
            began = time.perf_counter()
            run()
            seconds[variant].append(time.perf_counter() - began)
        loads.append(os.getloadavg()[0])

    def per(variant: str, base: str) -> float:
        return statistics.median(
            a / b for a, b in zip(seconds[variant], seconds[base], strict=True)
        )

    floor = "floor scan (raw)"
    print(
        f"\nsize {args.size}, {args.rounds} alternating rounds, load average per round "
        f"{', '.join(f'{x:.1f}' for x in loads)}"
    )
    print(f"{'variant':40} {'median ms':>10} {'x floor':>8} {'x raw':>7}")
    for variant in variants:
        raw = re.sub(r"\((partitioned|roll-up)\)$", "(raw)", variant)
        vs_raw = f"{per(variant, raw):7.2f}" if raw != variant and raw in variants else ""
        print(
            f"{variant:40} {statistics.median(seconds[variant]) * 1000:10.1f} "
            f"{per(variant, floor):8.2f} {vs_raw:>7}"
        )

    # Estimates, per round then the median: the catalogue with its touch statements on the
    # partitions, and with the touches source read from the roll-up.
    keys = [
        v[: -len(" (raw)")] for v in variants if v.endswith(" (raw)") and not v.startswith("floor")
    ]
    served = ("touches source", "program-touched")
    on_partitions, from_rollup, touch_share = [], [], []
    for i in range(args.rounds):
        catalogue, base = seconds["catalogue"][i], seconds[floor][i]
        delta = sum(seconds[f"{k} (partitioned)"][i] - seconds[f"{k} (raw)"][i] for k in keys)
        on_partitions.append((catalogue + delta) / base)
        saved = sum(seconds[f"{k} (raw)"][i] - seconds[f"{k} (roll-up)"][i] for k in served)
        from_rollup.append((catalogue - saved) / base)
        touch_share.append(sum(seconds[f"{k} (raw)"][i] for k in keys) / catalogue)
    print(f"\ncatalogue x floor (measured): {per('catalogue', floor):.1f}")
    print(
        f"statements reading touches, share of the catalogue: {statistics.median(touch_share):.0%}"
    )
    print(
        f"estimate, touch statements on monthly partitions: {statistics.median(on_partitions):.1f} x floor"
    )
    print(
        f"estimate, touches source and program-touched from the roll-up: {statistics.median(from_rollup):.1f} x floor"
    )


if __name__ == "__main__":
    main()
