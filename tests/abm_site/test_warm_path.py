"""The warm API path: the token, its user and role in one query, one Redis client per
process, the throttle by script hash, and /healthz reusing its broker check for a few seconds."""

import time

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from abm_site import views
from abm_site.models import ApiToken
from tests.conftest import redis_only


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- token, user and role in one query ---------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "role"),
    [([], None), (["viewer"], "viewer"), (["viewer", "editor"], "editor"), (["admin"], "admin")],
)
def test_a_token_comes_with_its_user_and_role_in_one_query(
    db, django_user_model, django_assert_num_queries, groups, role
):
    user = django_user_model.objects.create_user("u", password="pw-long-enough-1")
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
    token, key = ApiToken.issue(user=user, name="t")
    with django_assert_num_queries(1):
        found = ApiToken.lookup(key)
        assert found.pk == token.pk and found.user.pk == user.pk
        assert found.user.role == role
        assert sorted(g.name for g in found.user.groups.all()) == sorted(groups)


def test_unknown_expired_and_revoked_keys_find_nothing(db, viewer):
    _, key = ApiToken.issue(user=viewer, name="t")
    assert ApiToken.lookup(key + "x") is None
    ApiToken.objects.update(expires_at=timezone.now())
    assert ApiToken.lookup(key) is None


def test_a_revoked_token_is_refused_at_once(db, viewer):
    token, key = ApiToken.issue(user=viewer, name="t")
    client = _client(key)
    assert client.get("/api/v1/accounts/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/accounts/").status_code == 401


def test_a_role_taken_away_applies_at_once(db, editor):
    _, key = ApiToken.issue(user=editor, name="t", scope="write")
    client = _client(key)
    assert client.post("/api/v1/tiers/", {}, format="json").status_code == 400  # may write
    editor.groups.set([Group.objects.get(name="viewer")])
    assert client.post("/api/v1/tiers/", {}, format="json").status_code == 403


# --- one Redis client --------------------------------------------------------------------


@redis_only
def test_the_cache_uses_one_client_and_one_connection():
    backend = cache._cache
    assert backend.get_client() is backend.get_client()
    assert backend.get_client(write=True) is backend.get_client(write=True)
    for n in range(50):
        cache.set(f"warm-path-{n}", n, 5)
        assert cache.get(f"warm-path-{n}") == n
    pool = backend.get_client(write=True).connection_pool
    assert pool._created_connections == 1  # every call above reused one connection


# --- /healthz ------------------------------------------------------------------------------


@pytest.fixture
def broker_checks(monkeypatch):
    """Count the broker checks (each opens a real connection to the broker)."""
    calls = []
    real = views._check_broker

    def counted():
        calls.append(time.monotonic())
        return real()

    monkeypatch.setattr(views, "_check_broker", counted)
    return calls


@pytest.mark.django_db
def test_two_health_checks_within_the_ttl_open_one_broker_connection(
    client, broker_checks, settings
):
    settings.ABM_HEALTH_CACHE_SECONDS = 30
    first = client.get("/healthz")
    second = client.get("/healthz")
    assert first.status_code == second.status_code == 200
    assert len(broker_checks) == 1
    assert second.json()["checks"]["broker"]["ok"] is True
    assert "age_s" in second.json()["checks"]["broker"]


@pytest.mark.django_db
def test_a_broker_failure_shows_once_the_ttl_has_passed(
    client, broker_checks, settings, monkeypatch
):
    settings.ABM_HEALTH_CACHE_SECONDS = 0.5
    assert client.get("/healthz").status_code == 200
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # the broker goes away
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    assert client.get("/healthz").status_code == 200  # within the TTL: the last check
    time.sleep(0.6)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert len(broker_checks) == 2
