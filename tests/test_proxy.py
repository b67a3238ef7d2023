"""The production shape on loopback: nginx (deploy/nginx.conf) in front of gunicorn.

gunicorn's sync workers (2 here) each serve one connection at a time, so a
few clients that send their requests a byte at a time ("slowloris": headers
never finished, bodies trickled) hold every worker and nobody else is
served until gunicorn's timeout kills the workers. The first test shows that
on bare gunicorn; the second opens many more such sockets against nginx in
front of the same gunicorn and shows other clients still served at once.
The others check what the config passes on: client address and scheme,
static files, the JSON 413 and the app's limits.

Runs Debian's nginx (``make test`` installs it, ``CI=true`` requires it);
skipped where nginx is not installed.
"""

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from funnel.models import RecomputeRun
from tests.conftest import postgresql_only

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
WORKERS = 2
PROBE_TIMEOUT = 2.0

pytestmark = [
    pytest.mark.proxy,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


def render_config(
    tmp: Path, *, listen: int, upstream: int, static_root: Path, env: dict[str, str]
) -> Path:
    """deploy/nginx.conf as the container renders it, pointed at loopback, in a main config.

    ``${VAR}`` are filled in as the image's envsubst does; the compose host
    names, port and volume are replaced by loopback ones (each must occur).
    """
    text = CONFIG.read_text()
    for name, value in env.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, re.findall(r"\$\{\w+\}", text)
    for old, new in (
        ("set $abm_web http://web:8000;", f"set $abm_web http://127.0.0.1:{upstream};"),
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("root /srv;", f"root {static_root};"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    (tmp / "abm.conf").write_text(text)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    main = tmp / "nginx.conf"
    main.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/abm.conf;
}}
"""
    )
    return main


@contextlib.contextmanager
def running(command: list[str], port: int, log: Path, env: dict | None = None) -> Iterator[None]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def nginx(tmp: Path, **kwargs) -> contextlib.AbstractContextManager:
    listen = kwargs["listen"]
    main = render_config(tmp, **kwargs)
    subprocess.run([NGINX, "-t", "-q", "-c", str(main), "-e", str(tmp / "error.log")], check=True)
    command = [NGINX, "-c", str(main), "-e", str(tmp / "error.log"), "-g", "daemon off;"]
    return running(command, listen, tmp / "nginx.out")


def gunicorn_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        DEBUG="0",
        SECRET_KEY="slow-client-test-" + "x" * 50,
        SECURE_SSL_REDIRECT="0",
        ABM_TRUSTED_PROXY_COUNT="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def gunicorn(port: int, log: Path, timeout: int = 30) -> contextlib.AbstractContextManager:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "abm_site.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--timeout",
        str(timeout),
    ]
    return running(command, port, log, env=gunicorn_env())


class SlowClients:
    """Sockets that never finish their request: half stop in the headers, half in the body.

    A thread sends each one more byte or header line every second, as a
    slowloris client does to stay under idle timeouts.
    """

    def __init__(self, port: int, count: int) -> None:
        self.sockets: list[tuple[socket.socket, bytes]] = []
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2 == 0:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.sockets.append((sock, b"X-Slow: 1\r\n"))
            else:
                # With a CSRF cookie, the sign-in form's CSRF check reads the body.
                sock.sendall(
                    b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 100000\r\n\r\nusername="
                )
                self.sockets.append((sock, b"a"))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(1.0):
            for sock, more in self.sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(more)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock, _ in self.sockets:
            sock.close()


def probe(port: int) -> float | None:
    """Seconds until a new client gets a complete answer to GET /healthz, or None."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        return time.monotonic() - started
    except (TimeoutError, OSError):
        return None
    finally:
        conn.close()


def ready(port: int, within: float = 30.0) -> bool:
    """Whether ``WORKERS`` probes in a row are answered within ``within`` seconds.

    A worker boots after the port listens and its first request loads the views: about
    2.7 s here, longer than a probe's timeout, so a single first probe was a race.
    """
    deadline, answered = time.monotonic() + within, 0
    while answered < WORKERS and time.monotonic() < deadline:
        answered = answered + 1 if probe(port) is not None else 0
    return answered >= WORKERS


def probes(port: int, count: int) -> list[float | None]:
    results = []
    for _ in range(count):
        results.append(probe(port))
        time.sleep(0.2)
    return results


def warm_up(port: int, timeout: float = 60.0) -> None:
    """Probe until 2 x WORKERS probes in a row answer: each worker's first request loads
    the views, which on a loaded machine takes longer than a probe waits (a first probe
    timed out in one full run). The test's own probes, under the slow clients, come after
    and stay as strict."""
    deadline, in_a_row = time.monotonic() + timeout, 0
    while in_a_row < 2 * WORKERS:
        assert time.monotonic() < deadline, f"the workers did not all answer within {timeout} s"
        in_a_row = in_a_row + 1 if probe(port) is not None else 0
        time.sleep(0.2)


@pytest.fixture
def healthy(transactional_db):
    """A database /healthz answers 200 for (the nightly run it reports has run)."""
    RecomputeRun.objects.create(
        date=timezone.localdate(),
        kind="nightly",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )


@postgresql_only
def test_without_the_proxy_two_slow_clients_stop_gunicorn(healthy, tmp_path):
    """Reproduces the failure: bare gunicorn with 2 sync workers and 2 slow sockets."""
    port = free_port()
    with gunicorn(port, tmp_path / "gunicorn.log"):
        assert ready(port)  # served while nobody is slow
        slow = SlowClients(port, WORKERS)
        try:
            time.sleep(0.5)
            blocked = probes(port, 3)
        finally:
            slow.close()
        after = probes(port, 2)
    print(f"bare gunicorn, {WORKERS} slow sockets: probes {blocked}; after closing them {after}")
    assert blocked == [None, None, None], "a slow client did not hold a worker"
    assert all(seconds is not None for seconds in after)


@postgresql_only
def test_behind_nginx_many_slow_clients_do_not_stop_other_clients(healthy, tmp_path):
    upstream, listen = free_port(), free_port()
    static = tmp_path / "srv"
    (static / "static").mkdir(parents=True)
    env = {"ABM_MAX_UPLOAD_BYTES": str(settings.ABM_MAX_UPLOAD_BYTES), "WEB_TIMEOUT": "30"}
    with (
        gunicorn(upstream, tmp_path / "gunicorn.log"),
        nginx(tmp_path, listen=listen, upstream=upstream, static_root=static, env=env),
    ):
        warm_up(listen)
        slow = SlowClients(listen, 40)
        try:
            time.sleep(0.5)
            served = probes(listen, 10)
        finally:
            slow.close()
    print(f"nginx + gunicorn, 40 slow sockets: probe seconds {served}")
    assert None not in served, f"a probe waited over {PROBE_TIMEOUT} s: {served}"


class _Echo(BaseHTTPRequestHandler):
    """An upstream that answers with the headers it received."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = "\n".join(f"{k}: {v}" for k, v in self.headers.items()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo_proxy(tmp_path):
    """nginx with deploy/nginx.conf in front of the echo upstream; its port and static dir."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    static = tmp_path / "srv"
    (static / "static" / "css").mkdir(parents=True)
    listen = free_port()
    env = {"ABM_MAX_UPLOAD_BYTES": "1000", "WEB_TIMEOUT": "7"}
    try:
        with nginx(
            tmp_path,
            listen=listen,
            upstream=server.server_address[1],
            static_root=static,
            env=env,
        ):
            yield listen, static / "static"
    finally:
        server.shutdown()


def _get(port: int, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def _echoed(text: bytes) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.decode().splitlines())


def test_the_proxy_passes_client_address_scheme_and_host(echo_proxy):
    port, _ = echo_proxy
    _, body = _get(port, "/accounts/", {"Host": "abm.example.com:8443"})
    seen = _echoed(body)
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["Host"] == "abm.example.com:8443"
    # Behind a TLS proxy: its scheme passes, and the client address is appended to its list,
    # so ABM_TRUSTED_PROXY_COUNT=2 would name 10.0.0.7 (the address the TLS proxy saw).
    _, body = _get(port, "/", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.7"})
    seen = _echoed(body)
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-For"] == "10.0.0.7, 127.0.0.1"


def test_client_ip_with_the_compose_proxy_count_is_the_address_nginx_saw(rf, settings):
    from abm_site.security import client_ip

    settings.ABM_TRUSTED_PROXY_COUNT = 1  # docker-compose.yml's value
    # A client sending its own header cannot choose its address: nginx appends the real one.
    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="172.18.0.5")
    assert client_ip(request) == "203.0.113.9"


def test_static_files_are_served_by_nginx_and_missing_ones_asked_of_the_app(echo_proxy):
    port, static = echo_proxy
    (static / "css" / "site.css").write_text("body { color: black }")
    (static / "css" / "site.0123456789ab.css").write_text("body { color: black }")
    response, body = _get(port, "/static/css/site.css")
    assert (response.status, body) == (200, b"body { color: black }")
    assert response.getheader("Content-Type") == "text/css"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    response, _ = _get(port, "/static/css/site.0123456789ab.css")
    assert "immutable" in response.getheader("Cache-Control")
    response, body = _get(port, "/static/css/missing.css")
    assert response.status == 200 and b"X-Forwarded-For" in body  # the upstream answered


def test_bodies_over_the_upload_limit_get_a_json_413(echo_proxy):
    port, _ = echo_proxy
    response, body = _get(port, "/api/v1/imports/", body=b"x" * 2000)
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert "ABM_MAX_UPLOAD_BYTES" in body.decode() and "1000 bytes" in body.decode()
    response, _ = _get(port, "/api/v1/imports/", body=b"x" * 900)
    assert response.status == 200


def test_the_config_takes_the_app_limits_from_the_environment():
    text = CONFIG.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == {"ABM_MAX_UPLOAD_BYTES", "WEB_TIMEOUT"}
    assert "client_max_body_size ${ABM_MAX_UPLOAD_BYTES};" in text
    assert "proxy_read_timeout ${WEB_TIMEOUT}s;" in text
    assert "proxy_request_buffering on;" in text and "proxy_buffering on;" in text
