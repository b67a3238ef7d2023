"""docker-compose.yml and the Dockerfiles describe a deployment that can run.

No Docker engine runs in CI, so this checks the files statically: the six
services, their health checks and start order, the environment the settings
read, that every program, module and management command the file names
exists in this project, and that the nginx proxy in front of gunicorn is the
only way in, with the app's limits. tests/test_proxy.py runs that nginx
config for real.
"""

import importlib
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

BASE_DIR = Path(settings.BASE_DIR)
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
NGINX_CONF = (BASE_DIR / "deploy" / "nginx.conf").read_text()
PROXY_DOCKERFILE = (BASE_DIR / "deploy" / "proxy.Dockerfile").read_text()
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def command_lines(command) -> list[list[str]]:
    """The simple commands a service runs, ``sh -c`` scripts split on ``&&`` and ``;``."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] in (["sh", "-c"], ["bash", "-c"]):
        parts = re.split(r"&&|;|\|\|", argv[2])
        lines = [shlex.split(part) for part in parts if part.strip()]
        return [line[1:] if line[0] == "exec" else line for line in lines]
    return [argv]


def health_lines(service: dict) -> list[list[str]]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return command_lines(["sh", "-c", test])
    kind, *rest = test
    if kind == "CMD-SHELL":
        return command_lines(["sh", "-c", rest[0]])
    assert kind == "CMD", test
    return [rest]


def all_app_lines() -> list[list[str]]:
    lines = []
    for name in APP_SERVICES:
        lines += command_lines(SERVICES[name]["command"])
        lines += health_lines(SERVICES[name])
    return lines


def test_the_six_services():
    assert set(SERVICES) == {"postgres", "redis", "proxy", "web", "worker", "beat"}


def test_postgres_16_keeps_its_data_in_a_named_volume():
    postgres = SERVICES["postgres"]
    assert postgres["image"].split(":")[1].startswith("16")
    mounts = dict(volume.split(":", 1) for volume in postgres["volumes"])
    assert mounts["pgdata"] == "/var/lib/postgresql/data"
    assert "pgdata" in COMPOSE["volumes"]
    assert postgres["environment"]["POSTGRES_DB"] == "abm"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(name):
    check = SERVICES[name]["healthcheck"]
    assert check["test"]
    assert check.get("interval")
    assert check.get("retries", 0) >= 1
    assert not check.get("disable", False)


def test_healthchecks_probe_what_each_service_does():
    assert health_lines(SERVICES["postgres"])[0][0] == "pg_isready"
    assert health_lines(SERVICES["redis"])[0] == ["redis-cli", "ping"]
    assert "/healthz" in " ".join(health_lines(SERVICES["web"])[0])
    worker = health_lines(SERVICES["worker"])[0]
    assert worker[:5] == ["celery", "-A", "abm_site", "inspect", "ping"]
    assert str(settings.CELERY_BEAT_SCHEDULE_FILENAME).endswith("celerybeat-schedule")
    assert "celerybeat-schedule" in " ".join(health_lines(SERVICES["beat"])[0])
    proxy = health_lines(SERVICES["proxy"])[0]
    assert proxy[0] == "curl" and proxy[-1] == "http://127.0.0.1/proxy-health"
    assert "location = /proxy-health" in NGINX_CONF


@pytest.mark.parametrize("line", [h for n in APP_SERVICES for h in health_lines(SERVICES[n])])
def test_python_healthchecks_compile(line):
    if line[:2] == ["python", "-c"]:
        compile(line[2], "<healthcheck>", "exec")


def test_start_order_waits_for_healthy_dependencies():
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for other, spec in depends.items():
            assert other in SERVICES, (name, other)
            assert spec["condition"] in CONDITIONS, (name, other)
    for name in APP_SERVICES:
        depends = SERVICES[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The web service runs the migrations; the others start once it is healthy.
    for name in ("worker", "beat"):
        assert SERVICES[name]["depends_on"]["web"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_in_production_mode(name):
    env = SERVICES[name]["environment"]
    assert env["DEBUG"] == "0"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "no default for the secret"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert "127.0.0.1" in env["ALLOWED_HOSTS"].split(","), "the healthcheck calls 127.0.0.1"
    assert SERVICES[name]["build"] == "."


def test_every_environment_variable_is_read_by_the_settings():
    source = (BASE_DIR / "abm_site" / "settings.py").read_text()
    read = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z0-9_]+)["']""", source))
    for name in APP_SERVICES:
        for variable in SERVICES[name]["environment"]:
            if variable == "DJANGO_SETTINGS_MODULE":
                continue
            assert variable in read, f"{name}: settings never read {variable}"


def test_settings_module_and_wsgi_application_exist():
    for name in APP_SERVICES:
        module = SERVICES[name]["environment"]["DJANGO_SETTINGS_MODULE"]
        assert importlib.util.find_spec(module) is not None, module
    gunicorn = [line for line in all_app_lines() if line[0] == "gunicorn"]
    assert len(gunicorn) == 1
    module, _, attribute = gunicorn[0][1].partition(":")
    wsgi = importlib.import_module(module)
    assert callable(getattr(wsgi, attribute or "application"))
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def test_celery_app_and_subcommands_exist():
    from celery import Celery
    from celery.app.control import Inspect
    from celery.bin.celery import celery as celery_cli

    celery_lines = [line for line in all_app_lines() if line[0] == "celery"]
    assert {line[3] for line in celery_lines} == {"worker", "beat", "inspect"}
    for line in celery_lines:
        assert line[1] == "-A"
        app = importlib.import_module(line[2])
        assert isinstance(getattr(app, "celery_app", None) or app.app, Celery)
        assert line[3] in celery_cli.commands
        if line[3] == "inspect":
            assert callable(getattr(Inspect, line[4]))


def test_every_management_command_exists():
    commands = get_commands()
    invoked = [line[2] for line in all_app_lines() if line[:2] == ["python", "manage.py"]]
    assert invoked == ["migrate", "collectstatic"]
    for name in invoked:
        assert name in commands, name


def test_every_executable_is_installed():
    bin_dir = Path(sys.executable).parent
    for line in all_app_lines():
        program = line[0]
        if program in ("sh", "python"):
            continue
        assert os.access(bin_dir / program, os.X_OK), f"{program} is not in {bin_dir}"


def test_dockerfile_builds_a_non_root_python_311_image():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1) for line in dockerfile.splitlines() if line and line[0].isupper()
    ]
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    runs = " ".join(arg for kind, arg in instructions if kind == "RUN")
    assert "pip install ." in runs
    users = [arg.strip() for kind, arg in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    copied = " ".join(arg for kind, arg in instructions if kind == "COPY")
    assert "pyproject.toml" in copied and "README.md" in copied  # pip install . needs both
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)


def _default(expression: str) -> str:
    """``${NAME:-default}`` -> ``default``."""
    match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", expression)
    assert match, expression
    return match.group(2)


def test_only_the_proxy_is_published_and_it_waits_for_a_healthy_web():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"proxy"}
    assert SERVICES["proxy"]["ports"] == ["${WEB_PORT:-8000}:80"]
    assert "listen 80;" in NGINX_CONF
    assert SERVICES["web"]["expose"] == ["8000"]
    gunicorn = next(line for line in all_app_lines() if line[0] == "gunicorn")
    assert gunicorn[gunicorn.index("--bind") + 1] == "0.0.0.0:8000"
    assert "set $abm_web http://web:8000;" in NGINX_CONF  # the service name, gunicorn's port
    assert SERVICES["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_proxy_is_debian_nginx_with_the_repository_config():
    proxy = SERVICES["proxy"]
    assert proxy["build"] == {"context": "deploy", "dockerfile": "proxy.Dockerfile"}
    lines = [line.strip() for line in PROXY_DOCKERFILE.splitlines()]
    assert lines[[line.startswith("FROM") for line in lines].index(True)].startswith(
        "FROM debian:bookworm"
    )
    assert re.search(
        r"apt-get install .*\bnginx\b.*\bgettext-base\b.*\bcurl\b", PROXY_DOCKERFILE, re.S
    )
    assert "COPY nginx.conf /etc/nginx/abm.conf.template" in PROXY_DOCKERFILE
    assert "rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default" in PROXY_DOCKERFILE
    # envsubst fills in exactly the variables the config uses, and the compose file sets them.
    used = set(re.findall(r"\$\{(\w+)\}", NGINX_CONF))
    cmd = re.search(r"envsubst '([^']*)'", PROXY_DOCKERFILE).group(1)
    assert set(re.findall(r"\$\{(\w+)\}", cmd)) == used == set(proxy["environment"])


def test_the_proxy_and_the_app_share_their_limits():
    proxy_env = SERVICES["proxy"]["environment"]
    for name in APP_SERVICES:
        app_env = SERVICES[name]["environment"]
        assert app_env["ABM_MAX_UPLOAD_BYTES"] == proxy_env["ABM_MAX_UPLOAD_BYTES"], name
    assert int(_default(proxy_env["ABM_MAX_UPLOAD_BYTES"])) == settings.ABM_MAX_UPLOAD_BYTES
    assert "client_max_body_size ${ABM_MAX_UPLOAD_BYTES};" in NGINX_CONF
    # nginx waits for an answer as long as gunicorn lets a request run.
    gunicorn = next(line for line in all_app_lines() if line[0] == "gunicorn")
    assert gunicorn[gunicorn.index("--timeout") + 1] == proxy_env["WEB_TIMEOUT"]
    assert "proxy_read_timeout ${WEB_TIMEOUT}s;" in NGINX_CONF
    assert "proxy_send_timeout ${WEB_TIMEOUT}s;" in NGINX_CONF
    assert "proxy_request_buffering on;" in NGINX_CONF and "proxy_buffering on;" in NGINX_CONF


def test_report_reads_stop_before_gunicorn_kills_the_worker():
    """The app gets gunicorn's timeout and stops report reads 5 s before it."""
    gunicorn = next(line for line in all_app_lines() if line[0] == "gunicorn")
    for name in APP_SERVICES:
        assert (
            SERVICES[name]["environment"]["WEB_TIMEOUT"]
            == gunicorn[gunicorn.index("--timeout") + 1]
        ), name
    assert int(_default(SERVICES["web"]["environment"]["WEB_TIMEOUT"])) == settings.WEB_TIMEOUT
    assert settings.ABM_REPORT_TIMEOUT_SECONDS == settings.WEB_TIMEOUT - 5


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_app_trusts_exactly_the_compose_proxy(name):
    env = SERVICES[name]["environment"]
    assert _default(env["ABM_TRUSTED_PROXY_COUNT"]) == "1"
    assert "X-Forwarded-For $proxy_add_x_forwarded_for;" in NGINX_CONF
    assert "X-Forwarded-Proto $abm_forwarded_proto;" in NGINX_CONF


def test_static_files_go_from_web_to_the_proxy_through_a_volume():
    assert settings.STATIC_URL == "/static/"
    static_in_image = "/app/" + str(Path(settings.STATIC_ROOT).relative_to(BASE_DIR))
    assert SERVICES["web"]["volumes"] == [f"static:{static_in_image}"]
    assert SERVICES["proxy"]["volumes"] == ["static:/srv/static:ro"]
    assert "static" in COMPOSE["volumes"]
    assert "root /srv;" in NGINX_CONF and "location /static/" in NGINX_CONF
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert f"mkdir -p {static_in_image}" in dockerfile  # the volume starts owned by abm
