"""Report reads run under ABM_REPORT_TIMEOUT_SECONDS: a slow query is a 503 that says what
to do, never a killed worker; writes and other reads run without the limit.

A query is made slow by an execute wrapper that runs ``pg_sleep`` before every query
on the touch table, through the same connection (so under the same limit). The tests
run outside a transaction (PostgreSQL aborts a transaction whose query was cancelled).
"""

import time

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
    assert 0 < int(_timeout().removesuffix("ms")) <= 100  # the rest of the request's 100 ms
    # The connection still works, and the next report read is not slowed: it answers (in
    # the time a whole computation takes: 0.1 s is for the whole request, not per query).
    settings.ABM_REPORT_TIMEOUT_SECONDS = 30
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
    client = token_client(viewer)
    assert client.get("/api/v1/kpis/", {"preset": "last_90_days"}).status_code == 200  # cached
    settings.ABM_REPORT_TIMEOUT_SECONDS = 0.3  # 0.3 s is for the whole request: a cached one
    assert client.get("/api/v1/kpis/", {"preset": "last_90_days"}).status_code == 200
    assert _timeout() == "300ms"
    # A read outside reports (the touches resource) resets the limit and is not cancelled.
    with connection.execute_wrapper(_slow_touch_queries):
        response = client.get("/api/v1/touches/")
    assert response.status_code == 200
    assert _timeout() == "0"


class _SlowPython:
    """Every query "takes" 0.05 s, none of them long for PostgreSQL; counts them."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        time.sleep(0.05)
        return execute(sql, params, many, context)


def test_many_quick_queries_share_one_budget(data, viewer, client, settings):
    """No single statement reaches the limit, but together they pass it: still a 503,
    answered when the limit is reached, not after every query of the page has run."""
    settings.ABM_REPORT_TIMEOUT_SECONDS = 0.25
    settings.ABM_KPI_CACHE_SECONDS = 0
    client.force_login(viewer)
    cut = _SlowPython()
    with connection.execute_wrapper(cut):
        response = client.get("/")
    assert response.status_code == 503
    assert b"longer than 0.25 s" in response.content
    # The next report starts with the whole limit again, and runs all of its queries.
    settings.ABM_REPORT_TIMEOUT_SECONDS = 60
    whole = _SlowPython()
    with connection.execute_wrapper(whole):
        assert client.get("/").status_code == 200
    assert cut.count < whole.count / 2  # stopped at the limit: 0.25 s is about 5 queries


def test_a_later_query_runs_under_what_is_left(data, viewer, settings):
    """Past a tenth of the budget, a query gets only the remainder as its statement limit."""
    settings.ABM_REPORT_TIMEOUT_SECONDS = 5
    settings.ABM_KPI_CACHE_SECONDS = 0
    seen = []

    def spend_then_read(execute, sql, params, many, context):
        if "engagement_touch" in sql and not seen:
            time.sleep(2.5)
            seen.append(True)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spend_then_read):
        response = token_client(viewer).get("/api/v1/kpis/", {"preset": "last_90_days"})
    assert response.status_code == 200
    assert 0 < int(_timeout().removesuffix("ms")) <= 2500
