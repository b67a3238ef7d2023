"""Production settings: the deploy check passes, secrets are required, health reports faults.

The settings module reads the environment once at import, so the production
cases run ``manage.py`` in a subprocess with a clean environment.
"""

import ast
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` with only the given environment (plus PATH and HOME)."""
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(**overrides: str) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(45)[:60],
        "ALLOWED_HOSTS": "abm.example.com",
        **overrides,
    }


def test_deploy_check_passes_without_any_warning(tmp_path):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("too-short-" * 3, "short"),
        ("django-insecure-dev-only-key-change-me", "the development default"),
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path, secret, why):
    env = production_env()
    if secret is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret
    result = manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0, why
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr
    assert "DEBUG=0" in result.stderr


def test_debug_mode_starts_without_a_secret_key(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def unreachable_broker(monkeypatch):
    """Point the real Celery app at a closed port for one test.

    Celery reads ``CELERY_BROKER_URL`` from the environment before its own
    configuration, so the variable is the override that always wins.
    """
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_broker_when_it_is_unreachable(client, unreachable_broker):
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]
    assert elapsed < 10, "a dead broker must not hang the load balancer's probe"


@pytest.mark.django_db
def test_healthz_is_open_to_anonymous_and_never_cached(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405


@pytest.mark.parametrize(
    "broker, visibility, expected",
    [
        # kombu's own sweep for expired unacknowledged tasks runs every 10 s x 10 calls:
        # a killed worker's task came back up to 100 s after its visibility timeout.
        ("redis://127.0.0.1:6379/0", None, {"visibility_timeout": 7200, "interval": 10}),
        ("redis://127.0.0.1:6379/0", "3", {"visibility_timeout": 3, "interval": 1}),
        ("redis://127.0.0.1:6379/0", "60", {"visibility_timeout": 60, "interval": 10}),
        ("sqla+sqlite:///broker.sqlite3", None, {}),  # create_engine() rejects Redis keys
    ],
)
def test_redis_sweeps_for_a_dead_workers_tasks_within_its_visibility_timeout(
    tmp_path, broker, visibility, expected
):
    env = {"DEBUG": "1", "CELERY_BROKER_URL": broker}
    if visibility:
        env["CELERY_VISIBILITY_TIMEOUT"] = visibility
    code = "from django.conf import settings; print(settings.CELERY_BROKER_TRANSPORT_OPTIONS)"
    done = manage("shell", "-c", code, tmp_path=tmp_path, **env)
    assert done.returncode == 0, done.stderr
    options = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    if not expected:
        assert options == {}
        return
    assert options == {
        "visibility_timeout": expected["visibility_timeout"],
        "unacked_restore_interval": expected["interval"],
        "unacked_restore_throttle": 1,
    }
