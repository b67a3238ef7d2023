"""docker-compose.yml and the Dockerfile describe a deployment that can run.

No Docker engine runs in CI, so this checks the file statically: the five
services, their health checks and start order, the environment the settings
read, and that every program, module and management command the file names
exists in this project.
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


def test_the_five_services():
    assert set(SERVICES) == {"postgres", "redis", "web", "worker", "beat"}


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
