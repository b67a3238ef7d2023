"""Body size limits, API throttling (and failing open without Redis), statement timeouts."""

import json
import logging
import time

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test import override_settings
from rest_framework.settings import api_settings

from abm_site import throttling
from abm_site.db import StatementTimeout, statement_timeout
from tests.conftest import postgresql_only, redis_only, token_client


@pytest.mark.django_db
@override_settings(ABM_MAX_JSON_BYTES=1000, ABM_MAX_UPLOAD_BYTES=5000)
def test_json_and_upload_bodies_over_the_limit_get_a_json_413(editor_api):
    big = json.dumps({"rows": ["x" * 100] * 20})
    response = editor_api.post("/api/v1/tiers/", big, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "ABM_MAX_JSON_BYTES" in response.json()["detail"]
    assert response.json()["limit_bytes"] == 1000
    upload = editor_api.post(
        "/api/v1/tiers/", b"a" * 6000, content_type="text/csv", HTTP_ACCEPT="text/html"
    )
    assert upload.status_code == 413
    assert "ABM_MAX_UPLOAD_BYTES" in upload.json()["detail"]
    small = editor_api.post("/api/v1/tiers/", b"a" * 4000, content_type="text/csv")
    assert small.status_code != 413


@pytest.mark.django_db
def test_default_json_limit_fits_a_10000_touch_bulk_request(settings):
    touch = {
        "external_id": "evt-0000000001",
        "source": "marketing-automation",
        "account": 123456,
        "kind": "high_value_page_visit",
        "occurred_at": "2026-03-31T23:59:59.123456+00:00",
        "channel": "web",
        "url": "https://www.example.com/pricing/enterprise?utm_source=linkedin&utm_campaign=q1",
        "stakeholder_email": "firstname.lastname@example-customer.com",
    }
    body = json.dumps({"touches": [touch] * 10_000})
    assert len(body) < settings.ABM_MAX_JSON_BYTES
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.ABM_MAX_JSON_BYTES


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_form_body_django_refuses_is_a_json_413(client, viewer):
    client.force_login(viewer)
    response = client.post("/logout/", {"x": "y" * 200})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def _rates(rate: str) -> dict:
    return {**api_settings.user_settings, "DEFAULT_THROTTLE_RATES": {"api": rate}}


@pytest.mark.django_db
def test_api_is_throttled_per_token_with_retry_after(editor, viewer):
    cache.clear()
    with override_settings(REST_FRAMEWORK=_rates("3/min")):
        first = token_client(editor)
        for _ in range(3):
            assert first.get("/api/v1/tiers/").status_code == 200
        throttled = first.get("/api/v1/tiers/")
        assert throttled.status_code == 429
        assert 0 < int(throttled["Retry-After"]) <= 60
        assert "throttled" in throttled.json()["detail"]
        # Another token (even of the same user) has its own count.
        assert token_client(editor).get("/api/v1/tiers/").status_code == 200
    cache.clear()


@redis_only
@pytest.mark.django_db
def test_throttle_counts_live_in_redis_and_slide(settings, editor):
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.clear()
    backend = caches["default"]
    with override_settings(REST_FRAMEWORK=_rates("3/s")):
        client = token_client(editor)
        assert client.get("/api/v1/tiers/").status_code == 200
        token_id = editor.api_tokens.get().pk
        key = backend.make_and_validate_key(f"throttle_api_token:{token_id}")
        redis = backend._cache.get_client(key)
        assert redis.zcard(key) == 1
        assert 0 < redis.pttl(key) <= 1000
        assert [client.get("/api/v1/tiers/").status_code for _ in range(3)] == [200, 200, 429]
        assert redis.zcard(key) == 3  # refused requests are not counted
        time.sleep(1.05)  # the window slides: all three left it
        assert client.get("/api/v1/tiers/").status_code == 200
    cache.clear()


@pytest.mark.django_db
def test_without_redis_reads_keep_working_and_a_warning_is_logged(editor, caplog, monkeypatch):
    monkeypatch.setattr(throttling, "_last_warning", 0.0)
    closed = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with override_settings(CACHES=closed, REST_FRAMEWORK=_rates("1/min")):
        client = token_client(editor)
        with caplog.at_level(logging.WARNING, logger="abm_site.security"):
            assert client.get("/api/v1/tiers/").status_code == 200
            assert client.get("/api/v1/tiers/").status_code == 200  # no limit without Redis
        client.force_login(editor)
        assert client.get("/accounts/").status_code == 200
    assert "rate limits are off" in caplog.text


@postgresql_only
@pytest.mark.django_db
def test_statement_timeout_cancels_slow_queries_and_restores_the_limit():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        before = cursor.fetchone()[0]
    with (
        pytest.raises(StatementTimeout, match="200 ms"),
        statement_timeout(200),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_sleep(2)")
    with statement_timeout(2000), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == "2s"
        cursor.execute("SELECT pg_sleep(0.05)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == before
    with pytest.raises(ValueError), statement_timeout(0):
        pass
