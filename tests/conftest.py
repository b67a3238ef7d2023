"""Shared fixtures: users of each role, API clients, and the service checks."""

import contextlib
import os
import socket
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from abm_site.models import ApiToken

#: What only PostgreSQL or Redis can show (server-side timeouts, outages, shared counters).
#: CI runs with both (ABM_REQUIRE_SERVICES), so there these tests always run.
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"
)
redis_only = pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"),
    reason="needs Redis (CELERY_BROKER_URL / the Redis cache)",
)


def pytest_configure(config):
    """In CI the suite must run on PostgreSQL and Redis, never silently on SQLite."""
    config.addinivalue_line(
        "markers", "proxy: runs nginx (deploy/nginx.conf) and gunicorn on loopback"
    )
    if os.environ.get("ABM_REQUIRE_SERVICES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            raise pytest.UsageError(f"ABM_REQUIRE_SERVICES=1 but the database is {engine}")
        if not settings.CELERY_BROKER_URL.startswith("redis"):
            raise pytest.UsageError("ABM_REQUIRE_SERVICES=1 but the broker is not Redis")


def make_user(django_user_model, username: str, role: str | None):
    user = django_user_model.objects.create_user(username=username, password="pw-Long-enough-1")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db, django_user_model):
    return make_user(django_user_model, "viewer", "viewer")


@pytest.fixture
def editor(db, django_user_model):
    return make_user(django_user_model, "editor", "editor")


@pytest.fixture
def admin_user(db, django_user_model):
    user = make_user(django_user_model, "boss", "admin")
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def no_role_user(db, django_user_model):
    return make_user(django_user_model, "nobody", None)


@pytest.fixture
def api_client():
    return APIClient()


def token_client(user, scope: str = "read") -> APIClient:
    _, key = ApiToken.issue(user=user, name=f"{user.username}-{scope}", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def viewer_api(viewer):
    return token_client(viewer)


@pytest.fixture
def editor_api(editor):
    return token_client(editor, "write")


@pytest.fixture
def admin_api(admin_user):
    return token_client(admin_user, "write")


def pytest_unconfigure(config):
    """Django removes a file SQLite test database but not its WAL companions."""
    from django.conf import settings as django_settings

    name = str(django_settings.DATABASES["default"].get("TEST", {}).get("NAME") or "")
    if name.endswith(".sqlite3"):
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name + suffix)


@pytest.fixture
def definitions_v1(db):
    """Definitions version 1 is the default for the test: the KPI tests written against
    KPIS.md's first definitions run through the same path a deployment pinned to v1 takes."""
    from funnel.definitions import (
        definitions_default_set,
        definitions_mark_used,
        definitions_resolve,
    )

    v1 = definitions_resolve("v1")
    definitions_mark_used(v1)  # as in a deployment that has computed results under it
    definitions_default_set(v1)


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default_policy))
        )
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback: ``(port, inbox)``; ``inbox.messages`` holds
    ``(recipients, message)`` of every mail received."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _fresh_health_checks():
    """/healthz reuses its broker check for a few seconds per process: not across tests."""
    from abm_site import views

    views._broker_checked.clear()
    yield
    views._broker_checked.clear()
