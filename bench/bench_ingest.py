"""Bulk touch ingest, end to end: gunicorn + PostgreSQL, one client, 10,000 touches a request.

Creates (or recreates) a PostgreSQL database, migrates it, seeds accounts and
an editor's write token, starts gunicorn on 127.0.0.1, posts ``--touches``
touches in requests of ``--batch`` from one client over one keep-alive
connection, and prints touches per second (request bodies are encoded
before the clock starts; the server parses, validates, resolves and stores).

    .venv/bin/python bench/bench_ingest.py \
        --database-url postgres://postgres@127.0.0.1:5432/abm_bench_ingest --touches 200000
"""

import argparse
import datetime as dt
import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
KINDS = ["web_visit", "ad_impression", "ad_click", "email_open", "email_click", "meeting"]


def recreate_database(url: str) -> None:
    """Drop and create the database named in ``url`` (connecting to ``postgres``)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abm_site.settings")
    import django

    django.setup()


def seed(accounts: int) -> tuple[str, list[tuple[int, str]]]:
    """Migrate, create ``accounts`` accounts and an editor with a write token."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from abm_site.models import ApiToken, User
    from accounts.models import Account

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench", password=secrets.token_urlsafe(16))
    user.groups.add(Group.objects.get(name="editor"))
    _, key = ApiToken.issue(user=user, name="bench", scope="write")
    Account.objects.bulk_create(
        Account(name=f"Bench {i}", domain=f"bench{i}.example.com") for i in range(accounts)
    )
    return key, list(Account.objects.order_by("id").values_list("id", "domain"))


def bodies(total: int, batch: int, accounts: list[tuple[int, str]]) -> list[bytes]:
    """JSON request bodies: half the rows name the account by id, half by domain."""
    rng = random.Random(42)  # noqa: S311 - reproducible data, not security
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    out = []
    for first in range(0, total, batch):
        rows = []
        for n in range(first, min(first + batch, total)):
            account_id, domain = rng.choice(accounts)
            row = {
                "kind": rng.choice(KINDS),
                "occurred_at": (start + dt.timedelta(seconds=n * 7)).isoformat(),
                "channel": "web",
                "external_id": f"bench-{n}",
                "engagement_minutes": "1.5",
            }
            if n % 2:
                row["account"] = account_id
            else:
                row["account_domain"] = domain
            rows.append(row)
        out.append(json.dumps(rows).encode())
    return out


def server_env(database_url: str, broker_url: str) -> dict[str, str]:
    """Production settings for a local gunicorn: no TLS redirect, no practical rate limit."""
    return {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "ABM_API_RATE": "100000/min",
    }


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not listen on port {port} within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/abm_bench_ingest"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--touches", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    env = server_env(args.database_url, args.broker_url)
    recreate_database(args.database_url)
    setup_django(env)
    key, accounts = seed(args.accounts)
    payloads = bodies(args.touches, args.batch, accounts)
    print(
        f"{args.touches:,} touches in {len(payloads)} requests of up to {args.batch:,}; "
        f"{sum(map(len, payloads)) / 1e6:.1f} MB of JSON; {args.accounts:,} accounts"
    )

    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "abm_site.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        wait_for_port(args.port)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=300)
        headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
        conn.request("GET", "/api/v1/tiers/", headers=headers)  # warm the worker up
        conn.getresponse().read()
        accepted = duplicates = rejected = 0
        started = time.perf_counter()
        for body in payloads:
            conn.request("POST", "/api/v1/touches/bulk/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {data[:500]!r}")
            result = json.loads(data)
            accepted += result["accepted"]
            duplicates += result["duplicates"]
            rejected += result["rejected_count"]
        elapsed = time.perf_counter() - started
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    from engagement.models import Touch

    stored = Touch.objects.count()
    print(f"accepted {accepted:,}, duplicates {duplicates:,}, rejected {rejected:,}, ")
    print(f"stored {stored:,} touches in {elapsed:.2f} s")
    print(f"{accepted / elapsed:,.0f} touches/s end to end (target >= 20,000/s)")
    if stored != args.touches or accepted != args.touches:
        raise SystemExit("not every touch was stored exactly once")


if __name__ == "__main__":
    main()
