"""A warm dashboard: its surging and at-risk lists come from the cache, under the data
version and the snapshot run they read, so it runs none of their queries; any write to
KPI input or a new snapshot run brings fresh lists."""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from funnel.models import AccountSnapshot, RecomputeRun
from tests.factories import AccountSnapshotFactory
from tests.reports.test_pages import MARCH, body, build_world

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="the data version needs PostgreSQL"
    ),
]


@pytest.fixture
def world(transactional_db):
    cache.clear()
    yield build_world(6)
    cache.clear()


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    client.get(reverse("reports:status"))
    return client


def surging(html: str) -> list[str]:
    section = html.split("Surging accounts", 1)[1].split("At-risk customers", 1)[0]
    return re.findall(r"Acme \d{3}", section)


def get(client) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        html = body(client.get(f"/?{MARCH}"))
    return html, [q["sql"] for q in queries]


def counted(sqls: list[str]) -> list[str]:
    """The page's statements, without restoring the report timeout: that follows a previous
    request slow enough to shorten it (a cold one on a loaded machine), not this page."""
    return [s for s in sqls if "set_config('statement_timeout'" not in s]


def heavy(sqls: list[str]) -> list[str]:
    """The list queries: the snapshot join and the at-risk drill-down over accounts."""
    return [
        s
        for s in sqls
        if s.split(" WHERE ")[0].endswith('FROM "accounts_account"') or "accountsnapshot" in s
    ]


def test_a_warm_dashboard_runs_no_account_query(viewer_client, world):
    cold_html, cold = get(viewer_client)
    assert heavy(cold)  # the first request computes the lists
    warm_html, warm = get(viewer_client)
    assert heavy(warm) == []
    assert surging(warm_html) == surging(cold_html) == ["Acme 001"]
    csrf = re.compile(r'name="csrfmiddlewaretoken" value="\w+"')
    assert csrf.sub("", warm_html) == csrf.sub("", cold_html)  # the same page, lists included
    # Session, user and groups (once: the role is kept on the request's user), the filter
    # choices (tiers, programs, owners), the definitions versions, the KPI result's data
    # version with its definitions version (read once for the request: the lists, the live
    # trend and the month-over-month table reuse it, #18), the snapshot run and the trend.
    # The previous period (February) starts before the data does (March), so it is not
    # computed.
    assert "starts before the data does" in warm_html
    assert len(counted(warm)) == 10, "\n".join(warm)


def test_a_write_to_kpi_input_brings_fresh_lists(viewer_client, world):
    get(viewer_client)
    acme = world["accounts"][2]
    acme.name = "Acme 900"
    acme.save()
    html, sqls = get(viewer_client)
    assert heavy(sqls)


def test_a_new_snapshot_run_brings_fresh_lists(viewer_client, world):
    assert surging(get(viewer_client)[0]) == ["Acme 001"]
    AccountSnapshot.objects.filter(account=world["accounts"][4]).update(intent_surge=True)
    # Snapshots are not KPI input: the run that wrote them is what changes the lists.
    RecomputeRun.objects.create(
        date=dt.date(2024, 3, 31),
        kind="marked",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        accounts=1,
    )
    assert surging(get(viewer_client)[0]) == ["Acme 001", "Acme 004"]


def test_a_new_snapshot_day_brings_fresh_lists(viewer_client, world):
    assert surging(get(viewer_client)[0]) == ["Acme 001"]
    AccountSnapshotFactory(
        account=world["accounts"][3], date=dt.date(2024, 4, 1), is_target=True, intent_surge=True
    )
    RecomputeRun.objects.create(
        date=dt.date(2024, 4, 1),
        kind="nightly",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        accounts=6,
    )
    assert surging(get(viewer_client)[0]) == ["Acme 003"]


def test_the_cache_warmer_warms_the_default_dashboards_lists(viewer_client, world):
    """After ``warm_kpi_cache`` the first default dashboard (no query string) runs none of
    the list queries, and its lists are those an uncached page computes (#18: 3.2 s for the
    first dashboard after each warm at 20,000 accounts, the lists' queries)."""
    from reports.warm import warm_kpi_cache

    cold_html = body(viewer_client.get("/"))  # the cache is empty: the lists are computed
    cache.clear()
    warm_kpi_cache(force=True)
    with CaptureQueriesContext(connection) as queries:
        warm_html = body(viewer_client.get("/"))
    assert heavy([q["sql"] for q in queries]) == []
    # The same ten statements as any warm dashboard: the data version once, the groups once.
    sqls = counted([q["sql"] for q in queries])
    assert len(sqls) == 10, "\n".join(sqls)
    assert sum("funnel_kpi_data_version" in s for s in sqls) == 1
    assert sum('FROM "auth_group"' in s for s in sqls) == 1
    assert surging(warm_html) == surging(cold_html) == ["Acme 001"]
    csrf = re.compile(r'name="csrfmiddlewaretoken" value="\w+"')
    assert csrf.sub("", warm_html) == csrf.sub("", cold_html)


@pytest.mark.parametrize("size", [6, 18])
def test_a_warm_dashboards_statements_do_not_grow_with_the_data(viewer_client, size):
    """Ten statements at any size (#18: fourteen before, the data version read five times
    and the groups twice)."""
    cache.clear()
    build_world(size)
    viewer_client.get(f"/?{MARCH}")
    html, sqls = get(viewer_client)
    assert heavy(sqls) == []
    assert len(counted(sqls)) == 10, "\n".join(sqls)
    assert sum("funnel_kpi_data_version" in s for s in sqls) == 1
    cache.clear()
