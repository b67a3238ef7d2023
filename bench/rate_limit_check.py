"""The API rate limit under concurrency: gunicorn (production settings) + Redis, 8 clients.

Starts gunicorn with ``--workers`` sync workers and ``ABM_API_RATE=<rate>/min``;
``--clients`` threads, each on its own keep-alive connection and all with the
same token, send ``GET /api/v1/tiers/`` as fast as they can, ``--requests``
each, well within one minute. Prints how many were let through against the
rate (the limit is the rate for any trailing minute, so the figure must be the
rate exactly) and the overshoot.

    .venv/bin/python bench/rate_limit_check.py \
        --database-url postgres://postgres@127.0.0.1:5432/abm_bench_rate
"""

import argparse
import http.client
import os
import subprocess
import threading
import time
from collections import Counter

import redis
from bench_ingest import ROOT, recreate_database, seed, server_env, setup_django, wait_for_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/abm_bench_rate"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--rate", type=int, default=300, help="requests per minute")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=150, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    env = server_env(args.database_url, args.broker_url)
    env["ABM_API_RATE"] = f"{args.rate}/min"
    recreate_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    setup_django(env)
    key, _ = seed(1)
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "abm_site.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    statuses: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(args.clients)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        headers = {"Authorization": f"Token {key}"}
        start.wait()
        for _ in range(args.requests):
            conn.request("GET", "/api/v1/tiers/", headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] += 1
        conn.close()

    try:
        wait_for_port(args.port)
        time.sleep(1)  # both workers up
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    allowed = statuses[200]
    print(
        f"{args.clients} clients x {args.requests} requests in {elapsed:.1f} s at "
        f"{args.rate}/min ({args.workers} gunicorn workers): {dict(statuses)}"
    )
    print(
        f"let through {allowed} of a rate of {args.rate}: overshoot {allowed / args.rate - 1:+.1%}"
    )
    if elapsed >= 60 or set(statuses) - {200, 429}:
        raise SystemExit(
            "the run took a minute or more, or answered other statuses: not comparable"
        )


if __name__ == "__main__":
    main()
