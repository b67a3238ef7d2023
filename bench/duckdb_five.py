"""The five KPIs the way an analyst would get them outside the product: the tables exported
to Parquet once, then one DuckDB statement over the files (the stretch goal of #18: the
engine no slower than this). Used by ``bench_engine.py`` when ``duckdb`` is installed
(``pip install -e '.[bench]'``; ``make bench`` installs it); never by the app.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

#: table -> (the columns the five KPIs read, DuckDB types of those columns). Touch times
#: are exported as local wall-clock times (the deployment's TIME_ZONE), so day bounds and
#: "the local day of a touch" need no time zone support in DuckDB.
TABLES: dict[str, tuple[str, str]] = {
    "memberships": (
        "SELECT account_id, list_id, joined_on, left_on FROM accounts_listmembership",
        "account_id BIGINT, list_id BIGINT, joined_on DATE, left_on DATE",
    ),
    "lists": (
        "SELECT id, is_target FROM accounts_accountlist",
        "id BIGINT, is_target BOOLEAN",
    ),
    "touches": (
        "SELECT account_id, kind, program_id, (occurred_at AT TIME ZONE %(tz)s) AS occurred_at"
        " FROM engagement_touch",
        "account_id BIGINT, kind VARCHAR, program_id BIGINT, occurred_at TIMESTAMP",
    ),
    "opportunities": (
        "SELECT account_id, type, status, amount, created_on, closed_on FROM funnel_opportunity",
        "account_id BIGINT, type VARCHAR, status VARCHAR, amount DECIMAL(14,2),"
        " created_on DATE, closed_on DATE",
    ),
}


def export(directory: str, tz: str) -> tuple[Any, float]:
    """Each table to ``directory/<table>.parquet`` (through CSV from PostgreSQL's COPY) and a
    DuckDB connection with a view per file; returns it with the export's seconds."""
    import duckdb
    from django.db import connection

    os.makedirs(directory, exist_ok=True)
    began = time.perf_counter()
    duck = duckdb.connect()
    connection.ensure_connection()
    raw = connection.connection
    for table, (select, types) in TABLES.items():
        csv_path = os.path.join(directory, f"{table}.csv")
        parquet = os.path.join(directory, f"{table}.parquet")
        query = select.replace("%(tz)s", "'" + tz.replace("'", "''") + "'")
        with (
            raw.cursor() as cursor,
            open(csv_path, "wb") as out,
            cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy,
        ):
            for block in copy:
                out.write(block)
        columns = (
            "{"
            + ", ".join(
                f"'{name}': '{kind}'"
                for name, kind in (part.strip().split(" ", 1) for part in types.split(", "))
            )
            + "}"
        )
        duck.execute(
            f"COPY (SELECT * FROM read_csv('{csv_path}', header=true, columns={columns}))"
            f" TO '{parquet}' (FORMAT parquet)"
        )
        os.remove(csv_path)
        duck.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{parquet}')")
    return duck, time.perf_counter() - began


def five_duckdb(duck: Any, period: Any, kinds: list[str], days: int, v2: bool) -> tuple:
    """The row of the five KPIs' statement in DuckDB over the Parquet files: the same
    statement and columns as ``bench_engine.five_by_hand``, in DuckDB's dialect (the
    caller shapes it with ``bench_engine.five_items``)."""
    influenced_type = "AND o.type = 'new_business'" if v2 else ""
    influenced_touch = "AND t.program_id IS NOT NULL" if v2 else ""
    start = dt.datetime.combine(period.start, dt.time())
    after = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time())
    return duck.execute(
        f"""
        WITH target AS (
            SELECT DISTINCT m.account_id
            FROM memberships m JOIN lists l ON l.id = m.list_id
            WHERE l.is_target
              AND (m.joined_on IS NULL OR m.joined_on <= $end)
              AND (m.left_on IS NULL OR m.left_on > $end)
        ),
        opps AS (SELECT o.* FROM opportunities o JOIN target USING (account_id))
        SELECT
            (SELECT count(*) FROM target),
            (SELECT count(DISTINCT t.account_id)
               FROM touches t JOIN target USING (account_id)
              WHERE t.kind IN (SELECT unnest($kinds))
                AND t.occurred_at >= $start_ts AND t.occurred_at < $after_ts),
            (SELECT count(DISTINCT account_id) FROM opps
              WHERE type = 'new_business' AND created_on BETWEEN $start AND $end),
            w.won, w.lost, w.won_amount, i.influenced, i.influenced_amount
        FROM (
            SELECT count(*) FILTER (WHERE status = 'won') AS won,
                   count(*) FILTER (WHERE status = 'lost') AS lost,
                   sum(amount) FILTER (WHERE status = 'won') AS won_amount
            FROM opps
            WHERE type = 'new_business' AND closed_on BETWEEN $start AND $end
        ) w, (
            SELECT count(*) AS influenced, sum(amount) AS influenced_amount
            FROM opps o
            WHERE o.created_on BETWEEN $start AND $end {influenced_type}
              AND EXISTS (
                SELECT 1 FROM touches t
                WHERE t.account_id = o.account_id AND t.kind IN (SELECT unnest($kinds))
                  {influenced_touch}
                  AND CAST(t.occurred_at AS DATE)
                      BETWEEN o.created_on - CAST($days AS INTEGER) AND o.created_on
              )
        ) i
        """,
        {
            "start": period.start,
            "end": period.end,
            "start_ts": start,
            "after_ts": after,
            "kinds": kinds,
            "days": days,
        },
    ).fetchone()
