"""KPI API and page latency on the default demo data: gunicorn + PostgreSQL + Redis.

Seeds the default demo data set into a fresh database (``--reuse`` keeps an
existing one), starts gunicorn, and times over HTTP, with a viewer's token
and a signed-in session:

* cold: the result cache emptied before every request, so the KPI engine
  computes everything (what the first request after a data change costs
  when the cache has not been warmed yet);
* warm: after ``reports.warm_kpi_cache`` (beat runs it every minute), the
  state in which users and integrations normally find the cache;
* the warm dashboard in process (Django's test client, no HTTP server): its
  median and the statements each request runs (#18's target: 50 ms at M).

    .venv/bin/python bench/bench_kpis.py \
        --database-url postgres://postgres@127.0.0.1:5432/abm_bench_kpis

``--database`` uses an already seeded database instead (e.g. size M of
``bench_engine.py``: ``--database abm_bench_engine_m --warm-only``); nothing in
it is dropped or reseeded, only a viewer and cache rows are added.
"""

import argparse
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import time
from urllib.parse import urlencode

from bench_ingest import ROOT, recreate_database, server_env, setup_django, wait_for_port

PASSWORD = secrets.token_urlsafe(16)
PAGES = [
    "/",
    "/stages/1/",
    "/stages/2/",
    "/stages/4/",
    "/kpis/engaged_rate/",
    "/programs/",
    "/cohorts/",
    "/accounts/",
]


def seed(reuse: bool) -> str:
    """Demo data (unless reused) and a viewer with a read token; returns the token."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from abm_site.models import ApiToken, User
    from accounts.models import Account

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # production mode serves the manifest
    if not (reuse and Account.objects.exists()):
        call_command("seed_demo", "--force", verbosity=0)
    User.objects.filter(username="bench-viewer").delete()
    user = User.objects.create_user(username="bench-viewer", password=PASSWORD)
    user.groups.add(Group.objects.get(name="viewer"))
    _, key = ApiToken.issue(user=user, name="bench", scope="read")
    return key


class Client:
    """One keep-alive HTTP connection that keeps the cookies it is given."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status, data

    def sign_in(self) -> None:
        self.request("GET", "/login/")
        token = self.cookies["csrftoken"]
        body = urlencode({"username": "bench-viewer", "password": PASSWORD})
        status, data = self.request(
            "POST",
            "/login/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": token,
                "Referer": "http://127.0.0.1/login/",
            },
        )
        if status != 302:
            raise SystemExit(f"sign-in failed: HTTP {status} {data[:300]!r}")


def timed(client: Client, path: str, headers=None) -> float:
    began = time.perf_counter()
    status, data = client.request("GET", path, headers=headers)
    elapsed = (time.perf_counter() - began) * 1000
    if status != 200:
        raise SystemExit(f"GET {path}: HTTP {status} {data[:300]!r}")
    return elapsed


def report(label: str, samples: list[float], target: float) -> None:
    median = statistics.median(samples)
    verdict = "ok" if median < target else "over"
    print(
        f"  {label:<28} median {median:7.1f} ms  min {min(samples):7.1f}  "
        f"max {max(samples):7.1f}  (target < {target:.0f} ms: {verdict})"
    )


def warm_dashboard(repeat: int) -> None:
    """The warm dashboard in this process: median time and statements per request."""
    from django.db import connection
    from django.test import Client as TestClient
    from django.test.utils import CaptureQueriesContext

    from abm_site.models import User

    client = TestClient(SERVER_NAME="localhost")
    client.force_login(User.objects.get(username="bench-viewer"))
    timed_in_process = []
    statements = set()
    for _ in range(repeat + 1):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.get("/")
            timed_in_process.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET / in process: HTTP {response.status_code}")
        statements.add(len(queries))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"warm dashboard in process (Django test client), load average {load}:")
    report(f"GET / ({'/'.join(map(str, sorted(statements)))} statements)", timed_in_process[1:], 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/abm_bench_kpis"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument(
        "--database", help="an already seeded database on 127.0.0.1 to use (implies --reuse)"
    )
    parser.add_argument(
        "--warm-only", action="store_true", help="skip the cold requests (minutes at size M)"
    )
    parser.add_argument("--pages", help="comma-separated pages to time (default: all)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    if args.database:
        args.database_url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
        args.reuse = True

    env = server_env(args.database_url, args.broker_url)
    if not args.reuse:
        recreate_database(args.database_url)
    setup_django(env)
    key = seed(args.reuse)

    from django.conf import settings
    from django.core.cache import cache

    from reports.warm import warm_kpi_cache

    # Production settings mark cookies Secure; ``Client`` sends them back over local HTTP.
    process_env = {**os.environ, **env}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "abm_site.wsgi", "--bind", f"127.0.0.1:{args.port}",
         "--workers", "2", "--timeout", "300"],
        cwd=ROOT,
        env=process_env,
    )  # fmt: skip
    try:
        wait_for_port(args.port)
        api = Client(args.port)
        token = {"Authorization": f"Token {key}"}
        pages = Client(args.port)
        pages.sign_in()
        paths = args.pages.split(",") if args.pages else PAGES

        def warm() -> None:
            cache.clear()
            began = time.perf_counter()
            done = warm_kpi_cache(force=True)
            print(f"warm: reports.warm_kpi_cache took {time.perf_counter() - began:.1f} s ({done})")

        if args.warm_only:  # a cold page at size M can outlast the statement timeout
            warm()
        for path in paths:  # load code and templates in both workers
            timed(pages, path)
        data = args.database or "default demo data"
        print(f"KPI API and pages, {data}, cache {settings.CACHES['default']['BACKEND']}")

        if not args.warm_only:
            print("cold (result cache emptied before each request):")
        samples: dict[str, list[float]] = {}
        for _ in range(0 if args.warm_only else args.repeat):
            cache.clear()
            samples.setdefault("GET /api/v1/kpis/ (90 days)", []).append(
                timed(api, "/api/v1/kpis/", token)
            )
            for path in paths:
                cache.clear()
                samples.setdefault(f"GET {path}", []).append(timed(pages, path))
        for label, values in samples.items():
            report(label, values, 300 if "api" in label else 500)

        if not args.warm_only:
            warm()
        print("warm:")
        samples = {}
        for _ in range(args.repeat):
            samples.setdefault("GET /api/v1/kpis/ (90 days)", []).append(
                timed(api, "/api/v1/kpis/", token)
            )
            for path in paths:
                samples.setdefault(f"GET {path}", []).append(timed(pages, path))
        for label, values in samples.items():
            report(label, values, 300 if "api" in label else 500)
        warm_dashboard(args.repeat)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
