"""Touch import benchmark (issue 3): rows per second through ``import_csv touches``.

Seeds accounts and stakeholders (once), writes N touch rows to a temporary
CSV (account by domain, a third with a stakeholder e-mail, half without an
external id so the content hash is exercised), then times

1. the import of the whole file (all new touches), and
2. the same import again (every row a duplicate: idempotency at speed),

and prints rows per second (target: at least 20,000 rows/s on PostgreSQL).

Then, on PostgreSQL, ``--rounds`` rounds alternate the import of the whole
file with its floor: one raw ``COPY`` of the same rows, already resolved to
account and stakeholder ids, into a table made ``LIKE`` the touch table with
its indexes (no foreign keys, no trigger); each import's ratio is taken to
the floor of its own round, so the machine's noise falls on both alike
(target: at least 0.6). Each round also times the same raw COPY into the touch
table itself (its foreign keys are checked per row, as the import's are: the
import's own floor) and, where the server's /proc is readable, prints the CPU
seconds of Python and of the PostgreSQL backend, which the load does not skew.

    .venv/bin/python bench/bench_import.py [--rows 200000] [--accounts 2000] [--rounds 3]

Uses ``DATABASE_URL`` when set, else ``postgres://postgres@127.0.0.1:5432/abm_bench_import``
(created on first use). Touches of the source ``bench`` are deleted first.
"""

import argparse
import csv
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "abm_bench_import"
KINDS = ["web_visit", "email_open", "email_click", "ad_impression", "ad_click", "meeting"]


def setup_django() -> None:
    if "DATABASE_URL" not in os.environ:
        import psycopg

        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DEFAULT_DB]
            ).fetchone():
                conn.execute(f'CREATE DATABASE "{DEFAULT_DB}"')
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DEFAULT_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abm_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def seed(accounts: int) -> None:
    from django.core.management import call_command

    from accounts.models import Account, Stakeholder

    call_command("migrate", verbosity=0)
    have = set(
        Account.objects.filter(domain__endswith=".bench.example").values_list("domain", flat=True)
    )
    Account.objects.bulk_create(
        [
            Account(name=f"Bench {i}", domain=f"a{i}.bench.example")
            for i in range(accounts)
            if f"a{i}.bench.example" not in have
        ],
        batch_size=2000,
    )
    ids = dict(
        Account.objects.filter(domain__endswith=".bench.example").values_list("domain", "id")
    )
    Stakeholder.objects.bulk_create(
        [
            Stakeholder(
                account_id=ids[f"a{i}.bench.example"],
                name=f"P{i}",
                email=f"p{i}@a{i}.bench.example",
            )
            for i in range(accounts)
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )


def write_csv(path: Path, rows: int, accounts: int) -> None:
    rng = random.Random(42)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    buffer = StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "account_domain",
            "stakeholder_email",
            "kind",
            "occurred_at",
            "channel",
            "url",
            "engagement_minutes",
            "external_id",
        ]
    )
    for n in range(rows):
        a = rng.randrange(accounts)
        moment = start + dt.timedelta(seconds=rng.randrange(180 * 86400))
        writer.writerow(
            [
                f"a{a}.bench.example",
                f"p{a}@a{a}.bench.example" if n % 3 == 0 else "",
                KINDS[n % len(KINDS)],
                moment.isoformat(),
                "web" if n % 2 else "email",
                f"https://www.example.com/page/{n % 500}",
                f"{rng.randrange(0, 600) / 100:.2f}",
                f"ev-{n}" if n % 2 else "",
            ]
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")


def timed_import(path: Path) -> tuple[float, object]:
    from ingest.services import csv_import

    started, cpu = time.perf_counter(), time.process_time()
    report = csv_import("touches", path, source="bench")
    return time.perf_counter() - started, time.process_time() - cpu, report


FLOOR_TABLE = "bench_touch_floor"
NULL = "\\N"


def floor_copy_text(path: Path) -> bytes:
    """The file's rows as COPY text with ids resolved: the work a raw COPY is left with."""
    from accounts.models import Account, Stakeholder
    from engagement.ingest.writers import _COPY_COLUMNS

    accounts = dict(
        Account.objects.filter(domain__endswith=".bench.example").values_list("domain", "id")
    )
    people = dict(
        Stakeholder.objects.filter(email__endswith=".bench.example").values_list("email", "id")
    )
    assert len(_COPY_COLUMNS) == 15, _COPY_COLUMNS
    lines = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            person = people.get(row["stakeholder_email"]) or NULL
            lines.append(
                f"{accounts[row['account_domain']]}\t{person}\t\\N\t{row['kind']}\t"
                f"{row['channel']}\tinbound\t{row['occurred_at']}\t{row['url']}\t\t\t"
                f"{row['engagement_minutes']}\t0\t1\tbench\t{row['external_id']}\n"
            )
    return "".join(lines).encode()


def server_cpu() -> float | None:
    """CPU seconds this connection's PostgreSQL backend has used (None if not readable here).

    Unlike wall time it does not depend on the machine's load, so it shows how
    much of an import's work is the server's.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_floor(data: bytes, table: str = FLOOR_TABLE) -> float:
    """One raw COPY of ``data`` into ``table``: an emptied copy of the touch table (with its
    indexes), or the touch table itself (also its foreign keys and trigger)."""
    from django.db import connection, transaction

    from engagement.ingest.writers import _COLUMNS_SQL

    if table == FLOOR_TABLE:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {FLOOR_TABLE}")
    started = time.perf_counter()
    sql = f"COPY {table} ({_COLUMNS_SQL}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(data)
    return time.perf_counter() - started


def alternate(path: Path, rows: int, rounds: int) -> None:
    """Import and floor COPY in turn; each import's ratio to its own round's floor."""
    from django.db import connection

    from engagement.models import Touch

    table = Touch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE {table} INCLUDING ALL)")
    data = floor_copy_text(path)
    ratios, touch_ratios = [], []

    def fresh() -> None:
        Touch.objects.filter(source="bench").delete()
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute(f"VACUUM {FLOOR_TABLE}")

    def measured(step: Callable[[], float]) -> tuple[float, float | None]:
        before = server_cpu()
        seconds = step()
        after = server_cpu()
        return seconds, None if before is None or after is None else after - before

    python_cpu: list[float] = []

    def import_step() -> float:
        seconds, cpu, _ = timed_import(path)
        python_cpu.append(cpu)
        return seconds

    for round_ in range(1, rounds + 1):
        fresh()
        steps = {
            "import": import_step,
            "floor": lambda: timed_floor(data),
            "touch": lambda: timed_floor(data, table),
        }
        order = list(steps) if round_ % 2 else list(reversed(steps))
        times = {}
        for name in order:
            times[name] = measured(steps[name])
            if name == "import":
                assert Touch.objects.filter(source="bench").count() == rows
            fresh()
        (imported, server), (floor, floor_server), (touch, touch_server) = (
            times["import"],
            times["floor"],
            times["touch"],
        )
        ratios.append(floor / imported)
        touch_ratios.append(touch / imported)
        print(
            f"round {round_}: import {rows / imported:8,.0f} rows/s, raw COPY "
            f"{rows / floor:8,.0f} rows/s: import = {floor / imported:.2f}x the COPY, "
            f"{touch / imported:.2f}x a COPY into the touch table (load {os.getloadavg()[0]:.1f})"
        )
        if server is not None:
            print(
                f"  CPU s: import Python {python_cpu[-1]:.2f} + server {server:.2f}; raw COPY server "
                f"{floor_server:.2f}; COPY into the touch table server {touch_server:.2f}"
            )
    print(f"median: import = {statistics.median(ratios):.2f}x the raw COPY (target >= 0.6)")
    print(
        f"median: import = {statistics.median(touch_ratios):.2f}x a raw COPY into the touch "
        "table itself (its foreign keys checked per row, as the import's are)"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {FLOOR_TABLE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from engagement.models import Touch

    seed(args.accounts)
    Touch.objects.filter(source="bench").delete()
    # Reclaim the deleted rows of an earlier run (autovacuum may be off on a dev server),
    # so every run inserts into the same table state.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Touch._meta.db_table}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "touches.csv"
        write_csv(path, args.rows, args.accounts)
        size = path.stat().st_size / 1e6
        print(
            f"{connection.vendor}: {args.rows:,} touch rows ({size:.1f} MB), "
            f"{args.accounts:,} accounts"
        )
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for label, expect in (("first import ", "created"), ("second import", "unchanged")):
            seconds, cpu, report = timed_import(path)
            assert getattr(report, expect) == args.rows, report.summary()
            print(
                f"{label}: {seconds:6.2f} s wall, {args.rows / seconds:8,.0f} rows/s "
                f"(Python process CPU {cpu:5.2f} s = {args.rows / cpu:8,.0f} rows/CPU-s; "
                f"{report.summary()})"
            )
        if connection.vendor == "postgresql" and args.rounds:
            alternate(path, args.rows, args.rounds)


if __name__ == "__main__":
    main()
