"""Warm ``GET /api/v1/kpis/``: requests/s against a hello-world DRF view.

By default no HTTP server: Django's test client drives the whole middleware
and DRF stack (token authentication, role, throttle in Redis, the KPI cache)
in one thread, so the figure is the per-request cost of the warm path. With
``--http``, gunicorn (2 workers, as deployed) serves both views and ``wrk``
(Debian package ``wrk``) loads each with 32 connections: the issue's measure. Seeds a small demo data set into a fresh database (``--reuse`` keeps
it), warms the KPI cache, then alternates timed rounds of the two views and
prints each one's requests/s and the ratio, with the machine's load.

    .venv/bin/python bench/bench_warm_api.py \
        --database-url postgres://postgres@127.0.0.1:5432/abm_bench_warm
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_ingest import recreate_database, server_env, setup_django, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def seed(reuse: bool, accounts: int, touches: int) -> str:
    """Demo data (unless reused) and a viewer with a read token; returns the token."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from abm_site.models import ApiToken, User
    from accounts.models import Account

    call_command("migrate", verbosity=0)
    if not (reuse and Account.objects.exists()):
        call_command(
            "seed_demo", "--force", f"--accounts={accounts}", f"--touches={touches}", verbosity=0
        )
    User.objects.filter(username="bench-viewer").delete()
    user = User.objects.create_user(username="bench-viewer", password="x" * 20)  # noqa: S106
    user.groups.add(Group.objects.get(name="viewer"))
    _, key = ApiToken.issue(user=user, name="bench", scope="read")
    return key


def hello_view():
    """The ceiling: a DRF view with the same authentication, permission and throttle."""
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Hello(APIView):
        def get(self, request):
            return Response({"hello": "world"})

    return Hello.as_view()


def install_hello() -> None:
    """Route ``/api/v1/hello/`` to the hello view, read by the access matrix like the KPI API."""
    from django.urls import path

    from abm_site import access, urls

    urls.urlpatterns.insert(0, path("api/v1/hello/", hello_view(), name="bench-hello"))
    access.rule_for = _allow_hello(access.rule_for)


def rate(call, seconds: float) -> float:
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        call()
        done += 1
    return done / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/abm_bench_warm"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--touches", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and view")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--show-queries", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile 200 warm KPI requests")
    parser.add_argument("--http", action="store_true", help="over gunicorn, wrk at 32 connections")
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    if not args.reuse:
        recreate_database(args.database_url)
    setup_django(server_env(args.database_url, args.broker_url))
    from django.core.cache import cache
    from django.test import Client

    from reports.warm import warm_kpi_cache

    key = seed(args.reuse, args.accounts, args.touches)
    cache.clear()
    warm_kpi_cache(force=True)
    if args.http:
        return over_http(key, args)
    install_hello()
    client = Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_HOST="127.0.0.1")

    def kpis():
        response = client.get("/api/v1/kpis/")
        assert response.status_code == 200, response.content[:300]

    def hello():
        response = client.get("/api/v1/hello/")
        assert response.status_code == 200, response.content[:300]

    kpis(), hello()  # first requests load what a process loads once
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        kpis()
    print(f"statements per warm KPI request: {len(queries)}")
    if args.show_queries:
        print("\n".join(q["sql"][:160] for q in queries))
    if args.profile:
        import cProfile
        import pstats

        with cProfile.Profile() as profile:
            for _ in range(200):
                kpis()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    results: dict[str, list[float]] = {"kpis": [], "hello": []}
    for _ in range(args.rounds):  # alternating, so drifting load hits both alike
        results["kpis"].append(rate(kpis, args.seconds))
        results["hello"].append(rate(hello, args.seconds))
    _report(results, args.rounds, "in process")


def over_http(key: str, args: argparse.Namespace) -> None:
    """Both views over gunicorn, each loaded by ``wrk`` with 32 connections, alternating."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--http needs wrk: apt-get install wrk")
    server = subprocess.Popen(  # noqa: S603
        [str(ROOT / ".venv/bin/gunicorn"), "hello_wsgi", "--bind", f"127.0.0.1:{args.port}",
         "--workers", "2", "--pythonpath", f"{ROOT},{ROOT / 'bench'}"],
        cwd=ROOT,
        env={**os.environ, "ABM_API_RATE": "100000000/min"},  # wrk alone passes 100,000/min
    )  # fmt: skip
    try:
        wait_for_port(args.port)

        def load(path: str) -> float:
            out = subprocess.run(  # noqa: S603
                [wrk, "-t2", "-c32", f"-d{max(1, round(args.seconds))}s", "-H", f"Authorization: Token {key}",
                 f"http://127.0.0.1:{args.port}{path}"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            if "Non-2xx" in out:
                raise SystemExit(f"{path} answered errors under load:\n{out}")
            return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

        load("/api/v1/kpis/"), load("/api/v1/hello/")  # the workers' first requests
        results: dict[str, list[float]] = {"kpis": [], "hello": []}
        for _ in range(args.rounds):
            results["kpis"].append(load("/api/v1/kpis/"))
            results["hello"].append(load("/api/v1/hello/"))
    finally:
        server.terminate()
        server.wait()
    _report(results, args.rounds, "over gunicorn (2 workers), wrk 32 connections")


def _report(results: dict[str, list[float]], rounds: int, how: str) -> None:
    load = os.getloadavg()
    k, h = statistics.median(results["kpis"]), statistics.median(results["hello"])
    print(f"warm GET /api/v1/kpis/ {how}: {k:,.0f} req/s (median of {rounds} rounds)")
    print(f"hello-world DRF view:   {h:,.0f} req/s")
    print(f"ratio: {k / h:.2f}   load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _allow_hello(rule_for):
    """The access matrix lists every route; the bench's own route reads like the KPI API."""

    def wrapped(route):
        return rule_for("api/v1/kpis/" if route == "api/v1/hello/" else route)

    return wrapped


if __name__ == "__main__":
    sys.exit(main())
