"""Report reads run under ABM_REPORT_TIMEOUT_SECONDS: a slow query is a 503 that says what
to do, never a killed worker; writes and other reads run without the limit.

A query is made slow by an execute wrapper that runs ``pg_sleep`` before every query
on the touch table, through the same connection (so under the same limit). The tests
run outside a transaction (PostgreSQL aborts a transaction whose query was cancelled).
"""

import pytest
from django.db import connection

from tests.conftest import token_client
from tests.factories import AccountFactory, TouchFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="statement_timeout is PostgreSQL's"
    ),
]


def _slow_touch_queries(execute, sql, params, many, context):
    if "engagement_touch" in sql:
        context["cursor"].execute("SELECT pg_sleep(0.5)")
    return execute(sql, params, many, context)


def _timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.fixture(autouse=True)
def _no_limit_afterwards():
    """The limit is kept on the connection; lift it so the database flush after the test runs."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    connection.close()


@pytest.fixture
def data(db):
    account = AccountFactory()
    TouchFactory(account=account)
    return account


def test_a_slow_kpi_read_is_a_503_naming_the_limit_and_what_to_do(data, viewer, settings):
    settings.ABM_REPORT_TIMEOUT_SECONDS = 0.1
    settings.ABM_KPI_CACHE_SECONDS = 0
    client = token_client(viewer)
    with connection.execute_wrapper(_slow_touch_queries):
        response = client.get("/api/v1/kpis/", {"preset": "last_90_days"})
    assert response.status_code == 503
    assert response["Retry-After"]
    detail = response.json()["detail"]
    assert "longer than 0.1 s" in detail and "narrower filters" in detail
    assert _timeout() == "100ms"
    # The connection still works, and the next report read is not slowed: it answers.
    assert client.get("/api/v1/kpis/", {"preset": "last_90_days"}).status_code == 200


def test_a_slow_page_is_a_503_page(data, viewer, client, settings):
    settings.ABM_REPORT_TIMEOUT_SECONDS = 0.1
    settings.ABM_KPI_CACHE_SECONDS = 0
    client.force_login(viewer)
    with connection.execute_wrapper(_slow_touch_queries):
        response = client.get(f"/accounts/{data.pk}/")
    assert response.status_code == 503
    assert b"longer than 0.1 s" in response.content


def test_other_requests_run_without_the_limit(data, viewer, settings):
    settings.ABM_REPORT_TIMEOUT_SECONDS = 0.1
    client = token_client(viewer)
    assert client.get("/api/v1/kpis/", {"preset": "last_90_days"}).status_code == 200
    assert _timeout() == "100ms"
    # A read outside reports (the touches resource) resets the limit and is not cancelled.
    with connection.execute_wrapper(_slow_touch_queries):
        response = client.get("/api/v1/touches/")
    assert response.status_code == 200
    assert _timeout() == "0"
