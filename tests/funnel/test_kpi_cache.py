"""The KPI result cache: hits while nothing was committed, misses after any commit."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.kpis import Filters, Period, compute
from tests.factories import AccountFactory, TouchFactory, at

PERIOD = Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
IDS = ["target_accounts", "engaged_target_accounts"]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the cache is keyed by PostgreSQL snapshots"
)


def values():
    return {k["id"]: k["value"] for k in compute(PERIOD, Filters(), IDS)["kpis"]}


@pytest.mark.django_db(transaction=True)
def test_repeated_compute_is_served_from_the_cache_until_a_commit():
    cache.clear()
    account = AccountFactory()
    assert values() == {"target_accounts": 1, "engaged_target_accounts": 0}
    with CaptureQueriesContext(connection) as queries:
        assert values() == {"target_accounts": 1, "engaged_target_accounts": 0}
    assert len(queries) == 1  # only the snapshot lookup: the result came from the cache

    TouchFactory(account=account, kind="meeting", occurred_at=at(dt.date(2024, 3, 31), 23))
    assert values() == {"target_accounts": 1, "engaged_target_accounts": 1}
    AccountFactory()
    assert values() == {"target_accounts": 2, "engaged_target_accounts": 1}


@pytest.mark.django_db
def test_no_cache_inside_a_transaction_where_own_writes_are_invisible_to_the_key():
    cache.clear()
    AccountFactory()
    assert values()["target_accounts"] == 1
    AccountFactory()  # same transaction: the snapshot text would not change
    assert values()["target_accounts"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_broken_cache_falls_back_to_computing(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    AccountFactory()
    assert values()["target_accounts"] == 1
