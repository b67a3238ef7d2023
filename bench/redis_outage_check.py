"""Redis outage and restart check (issues 5 and 7): nothing is lost when Redis goes away.

WARNING: this stops and restarts the machine's Redis (which keeps nothing on
disk here, so every queue is emptied). Never run it while anyone else uses it.

    .venv/bin/python bench/redis_outage_check.py

It creates a dedicated PostgreSQL database (``abm_redis_check``) with a small
demo data set, serves the app with gunicorn (DEBUG=0) and runs one Celery
worker, both on Redis database 13, then:

A. Redis restarted during a recompute: enqueue the nightly recompute; once a
   few chunks are done, restart Redis (``SHUTDOWN NOSAVE``: queued and
   unacknowledged chunk tasks are gone); send the
   ``funnel.recompute_resume`` task (beat sends it every 5 minutes), which
   dispatches the chunks still open in PostgreSQL; the run must succeed.
B. Redis stopped: a page and an API read still answer 200, a bulk ingest
   still stores its touches and marks their accounts for recomputation (the
   mark is a column in PostgreSQL), ``/healthz`` answers 503 naming the broker;
   once Redis is back, ``funnel.recompute_marked`` recomputes the marked
   accounts and clears their marks.

Exit status 0 when every check passed.
"""

import datetime as dt
import http.cookiejar
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import outage_check as oc  # noqa: E402 - the shared HTTP helpers

ROOT = oc.ROOT
DB = "abm_redis_check"
BROKER = "redis://127.0.0.1:6379/13"
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
]
EDITOR = """
from django.contrib.auth.models import Group
from abm_site.models import ApiToken, User
user, _ = User.objects.get_or_create(username="redis-editor")
user.groups.add(Group.objects.get(name="editor"))
print(ApiToken.issue(user=user, name="ingest", scope="write")[1])
"""
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-tAc"]


def sql(query: str) -> str:
    return subprocess.run([*PSQL, query], check=True, capture_output=True, text=True).stdout.strip()


def redis_up() -> bool:
    return (
        subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip()
        == "PONG"
    )


def redis_stop() -> None:
    subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True)
    while redis_up():
        time.sleep(0.1)


def redis_start() -> None:
    subprocess.run(REDIS_START, check=True, capture_output=True)
    while not redis_up():
        time.sleep(0.1)


def send(env: dict, task: str, *args: str) -> None:
    code = f"from abm_site.celery import app; app.send_task({task!r}, args={list(args)!r})"
    oc.manage(env, "shell", "-c", code)


def wait(label: str, condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    print(f"     (timed out after {timeout:.0f} s waiting for {label})")
    return False


def main() -> int:
    oc.DB_NAME = DB
    env = oc.app_env()
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}",
        CELERY_BROKER_URL=BROKER,
        CELERY_RESULT_BACKEND=BROKER,
        ABM_RECOMPUTE_CHUNK_SIZE="5",
        ABM_RECOMPUTE_RESUME_AFTER="3",
    )
    if not redis_up():
        redis_start()
    subprocess.run(["psql", oc.PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run(["psql", oc.PG_ADMIN, "-qc", f"CREATE DATABASE {DB}"], check=True)
    oc.manage(env, "migrate", "--noinput")
    oc.manage(env, "collectstatic", "--noinput")
    oc.manage(env, "seed_demo", "--accounts", "300", "--touches", "30000")
    token = oc.manage(env, "shell", "-c", oc.SETUP).strip().splitlines()[-1]
    editor_token = oc.manage(env, "shell", "-c", EDITOR).strip().splitlines()[-1]
    day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    server = subprocess.Popen(
        [str(oc.GUNICORN), "abm_site.wsgi", "-b", f"127.0.0.1:{oc.PORT}", "-w", "2"],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "abm_site",
            "worker",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
    )
    failures: list[str] = []

    def check(label: str, ok: bool, detail: str = "") -> None:
        print(("ok   " if ok else "FAIL ") + label + (f" ({detail})" if detail else ""))
        if not ok:
            failures.append(label)

    try:
        # --- A: Redis restarted in the middle of a recompute ---------------------------
        send(env, "funnel.recompute_nightly", day)
        wait(
            "the run to start",
            lambda: (
                sql(
                    f"SELECT count(*) FROM funnel_recomputerun "
                    f"WHERE date = '{day}' AND kind = 'nightly'"
                )
                == "1"
            ),
            60,
        )
        run = sql(f"SELECT id FROM funnel_recomputerun WHERE date = '{day}' AND kind = 'nightly'")
        total = int(sql(f"SELECT count(*) FROM funnel_recomputechunk WHERE run_id = {run}"))

        def done() -> int:
            return int(
                sql(
                    f"SELECT count(*) FROM funnel_recomputechunk "
                    f"WHERE run_id = {run} AND done_at IS NOT NULL"
                )
            )

        wait("three chunks", lambda: done() >= 3, 120)
        before = done()
        redis_stop()
        print(f"     Redis stopped with {before} of {total} chunks done")
        time.sleep(2)
        redis_start()
        time.sleep(5)  # the worker reconnects by itself
        lost = total - done()
        check("Redis restart lost queued chunk tasks", lost > 0, f"{lost} chunks open")
        send(env, "funnel.recompute_resume")
        finished = wait(
            "the resumed run",
            lambda: sql(f"SELECT status FROM funnel_recomputerun WHERE id = {run}") == "succeeded",
            300,
        )
        check(
            "run completed after Redis came back",
            finished,
            sql(f"SELECT status || ' ' || accounts FROM funnel_recomputerun WHERE id = {run}"),
        )
        check(
            "every account has its snapshot",
            sql(f"SELECT count(*) FROM funnel_accountsnapshot WHERE date = '{day}'")
            == sql("SELECT count(*) FROM accounts_account"),
        )

        # --- B: Redis stopped: reads and ingest go on ------------------------------------
        jar = http.cookiejar.CookieJar(policy=oc.LoopbackCookiePolicy())
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        api = {"Authorization": f"Token {token}", "Accept": "application/json"}
        writer = {"Authorization": f"Token {editor_token}", "Content-Type": "application/json"}
        redis_stop()
        try:
            status, _, _ = oc.request(opener, "/api/v1/accounts/", headers=api)
            check("API read with Redis down", status == 200, str(status))
            domain = sql(
                "SELECT domain FROM accounts_account WHERE domain IS NOT NULL ORDER BY id LIMIT 1"
            )
            sql("UPDATE accounts_account SET needs_recompute = false")
            rows = [
                {
                    "account_domain": domain,
                    "kind": "meeting",
                    "external_id": f"redis-{i}",
                    "occurred_at": f"{day}T1{i}:00:00Z",
                }
                for i in range(5)
            ]
            req = urllib.request.Request(  # noqa: S310 - loopback only
                oc.BASE + "/api/v1/touches/bulk/?source=redis-check",
                data=json.dumps(rows).encode(),
                headers=writer,
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=15) as response:  # noqa: S310
                body = json.loads(response.read())
            check("bulk ingest with Redis down", body.get("accepted") == 5, json.dumps(body))
            check(
                "its account is marked in PostgreSQL",
                sql("SELECT count(*) FROM accounts_account WHERE needs_recompute") == "1",
            )
            status, _, body = oc.request(opener, "/healthz")
            check(
                "healthz says the broker is down",
                status == 503 and json.loads(body)["checks"]["broker"]["ok"] is False,
                str(status),
            )
        finally:
            redis_start()
        time.sleep(3)
        send(env, "funnel.recompute_marked")
        check(
            "missed work ran when Redis returned",
            wait(
                "the marked recompute",
                lambda: sql("SELECT count(*) FROM accounts_account WHERE needs_recompute") == "0",
                120,
            ),
        )
    finally:
        for process in (worker, server):
            process.terminate()
            process.wait(timeout=30)
        subprocess.run(["psql", oc.PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {DB}"])
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
