"""Outage check: stop PostgreSQL under a running app, expect 503s, start it, expect 200s.

WARNING: this stops the machine's shared PostgreSQL cluster for a few seconds.
Never run it while anyone else's tests or services use that cluster.

    .venv/bin/python bench/outage_check.py

It creates a dedicated database (``abm_outage``), migrates it, serves the app
with gunicorn on 127.0.0.1 (DEBUG=0), signs in a viewer (session) and issues a
token, then:

1. checks a page and an API call answer 200;
2. stops PostgreSQL (``pg_ctlcluster --skip-systemctl-redirect <ver> main stop``);
3. checks the page answers 503 HTML and the API 503 JSON, both with Retry-After;
4. starts PostgreSQL again and checks the very first page and API requests
   answer 200, without restarting gunicorn.

Exit status 0 when every check passed.
"""

import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
PORT = int(os.environ.get("OUTAGE_PORT", "8765"))
BASE = f"http://127.0.0.1:{PORT}"
DB_NAME = "abm_outage"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def pg_cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True
    )


def app_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "CONN_MAX_AGE": "60",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


SETUP = """
from django.contrib.auth.models import Group
from abm_site.models import ApiToken, User
user, _ = User.objects.get_or_create(username="outage-viewer")
user.set_password("outage-Long-pass-1"); user.save()
user.groups.add(Group.objects.get(name="viewer"))
print(ApiToken.issue(user=user, name="outage")[1])
"""


class LoopbackCookiePolicy(http.cookiejar.DefaultCookiePolicy):
    """Send the app's Secure cookies over plain HTTP to 127.0.0.1 (production mode, no TLS)."""

    def return_ok_secure(self, cookie, request) -> bool:
        return True


def request(opener, path: str, *, data: dict | None = None, headers: dict | None = None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(BASE + path, data=body, headers=headers or {})  # noqa: S310
    try:
        with opener.open(req, timeout=15) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def main() -> int:
    env = app_env()
    subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True)
    subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {DB_NAME}"], check=True)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    token = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
    server = subprocess.Popen(
        [str(GUNICORN), "abm_site.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", "2", "--timeout", "30"],
        cwd=ROOT,
        env=env,
    )
    failures: list[str] = []

    def check(label: str, ok: bool, detail: str = "") -> None:
        print(("ok   " if ok else "FAIL ") + label + (f" ({detail})" if detail else ""))
        if not ok:
            failures.append(label)

    try:
        jar = http.cookiejar.CookieJar(policy=LoopbackCookiePolicy())
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        api = {"Authorization": f"Token {token}", "Accept": "application/json"}
        for _ in range(50):
            try:
                if request(opener, "/login/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        status, _, html = request(opener, "/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        request(
            opener,
            "/login/",
            data={
                "username": "outage-viewer",
                "password": "outage-Long-pass-1",
                "csrfmiddlewaretoken": csrf,
            },
            headers={"Referer": BASE + "/login/"},
        )
        check("page before the outage", request(opener, "/accounts/")[0] == 200)
        check("API before the outage", request(opener, "/api/v1/accounts/", headers=api)[0] == 200)

        pg_cluster("stop")
        try:
            status, headers, body = request(opener, "/accounts/")
            check("page during the outage is 503", status == 503, str(status))
            check("page 503 has Retry-After", "Retry-After" in headers)
            check("page 503 is HTML", headers.get("Content-Type", "").startswith("text/html"))
            status, headers, body = request(opener, "/api/v1/accounts/", headers=api)
            check("API during the outage is 503", status == 503, str(status))
            check("API 503 has Retry-After", "Retry-After" in headers)
            check("API 503 is JSON", "detail" in json.loads(body or "{}"))
        finally:
            pg_cluster("start")

        status = request(opener, "/accounts/")[0]
        check("first page after the outage is 200", status == 200, str(status))
        status = request(opener, "/api/v1/accounts/", headers=api)[0]
        check("first API call after the outage is 200", status == 200, str(status))
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {DB_NAME}"])
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
