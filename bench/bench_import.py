"""Touch import benchmark (issue 3): rows per second through ``import_csv touches``.

Seeds accounts and stakeholders (once), writes N touch rows to a temporary
CSV (account by domain, a third with a stakeholder e-mail, half without an
external id so the content hash is exercised), then times

1. the import of the whole file (all new touches), and
2. the same import again (every row a duplicate: idempotency at speed),

and prints rows per second (target: at least 20,000 rows/s on PostgreSQL).

    .venv/bin/python bench/bench_import.py [--rows 200000] [--accounts 2000]

Uses ``DATABASE_URL`` when set, else ``postgres://postgres@127.0.0.1:5432/abm_bench_import``
(created on first use). Touches of the source ``bench`` are deleted first.
"""

import argparse
import csv
import datetime as dt
import os
import random
import sys
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=2_000)
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


if __name__ == "__main__":
    main()
