"""The KPI result cache and the data version it is keyed by.

The version must change with every committed write to KPI input (or a cached
result would be stale) and with nothing else (or sign-ins and bookkeeping
would throw the cache away).
"""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from abm_site.models import ApiToken
from accounts.models import Account
from funnel.kpis import Filters, Period, compute, preset_period, version
from funnel.models import RecomputeRun
from reports import warm
from tests import factories as f

PERIOD = Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
IDS = ["target_accounts", "engaged_target_accounts"]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the data version and the cache need PostgreSQL"
)


def values(ids=IDS):
    return {k["id"]: k["value"] for k in compute(PERIOD, Filters(), ids)["kpis"]}


def statements(queries) -> int:
    """Queries run, not counting the transaction's BEGIN and COMMIT."""
    return sum(q["sql"] not in ("BEGIN", "COMMIT") for q in queries)


@pytest.fixture
def clear_cache():
    cache.clear()
    yield
    cache.clear()


# --- the data version -----------------------------------------------------------


def test_every_input_table_has_the_trigger(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s",
            [version.TRIGGER],
        )
        triggered = {row[0] for row in cursor.fetchall()}
    tables = set(version.input_tables())
    assert {"engagement_touch", "accounts_account", "funnel_opportunity"} <= tables
    assert "funnel_accountsnapshot" not in tables
    assert triggered == tables


def test_install_is_idempotent(db):
    version.install()
    version.install()
    assert version.data_version() is not None


WRITES = {
    "account": lambda: f.AccountFactory(),
    "tier": lambda: f.TierFactory(),
    "icp rule": lambda: f.IcpRuleFactory(),
    "stakeholder": lambda: f.StakeholderFactory(),
    "program": lambda: f.ProgramFactory(),
    "spend": lambda: f.SpendFactory(),
    "visitor": lambda: f.VisitorFactory(),
    "touch": lambda: f.TouchFactory(),
    "intent": lambda: f.IntentSignalFactory(),
    "high-value page": lambda: f.HighValuePageFactory(),
    "opportunity": lambda: f.OpportunityFactory(),
    "nps": lambda: f.NpsResponseFactory(),
    "stage change": lambda: f.AccountStageChangeFactory(),
    "update": lambda: Account.objects.update(name="Renamed"),
    "delete": lambda: Account.objects.all().delete(),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", list(WRITES.values()), ids=list(WRITES))
def test_each_committed_write_to_kpi_input_changes_the_version(write):
    f.AccountFactory()
    before = version.data_version()
    write()
    assert version.data_version() > before


@pytest.mark.django_db(transaction=True)
def test_one_transaction_counts_once_and_a_rollback_not_at_all():
    before = version.data_version()
    with transaction.atomic():
        f.AccountFactory()
        f.TouchFactory()
    assert version.data_version() == before + 1
    with pytest.raises(RuntimeError), transaction.atomic():
        f.AccountFactory()
        raise RuntimeError("rolled back")
    assert version.data_version() == before + 1


@pytest.mark.django_db(transaction=True)
def test_bookkeeping_writes_leave_the_version_alone(client):
    user = f.UserFactory(username="viewer")
    user.set_password("pw-long-enough-1")
    user.save()
    account = f.AccountFactory()
    before = version.data_version()
    assert client.login(username="viewer", password="pw-long-enough-1")  # sessions, last_login
    ApiToken.issue(user=user, name="integration")
    f.AccountSnapshotFactory(account=account)
    f.FunnelSnapshotFactory()
    RecomputeRun.objects.create(date=dt.date(2024, 1, 15), started_at=timezone.now())
    assert version.data_version() == before


@pytest.mark.django_db(transaction=True)
def test_compacting_the_log_keeps_the_version():
    for _ in range(3):
        f.AccountFactory()
    before = version.data_version()
    assert version.compact() >= 3
    assert version.data_version() == before
    assert version.compact() == 0
    f.AccountFactory()
    assert version.data_version() == before + 1


# --- the cache ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_repeated_compute_is_served_from_the_cache_until_a_write(clear_cache):
    account = f.AccountFactory()
    assert values() == {"target_accounts": 1, "engaged_target_accounts": 0}
    with CaptureQueriesContext(connection) as queries:
        assert values() == {"target_accounts": 1, "engaged_target_accounts": 0}
    # Only the data version (one statement, no transaction): the result came from the cache.
    assert statements(queries) == 1
    assert len(queries) == 1  # no BEGIN / COMMIT either

    f.TouchFactory(account=account, kind="meeting", occurred_at=f.at(dt.date(2024, 3, 31), 23))
    assert values() == {"target_accounts": 1, "engaged_target_accounts": 1}
    f.AccountFactory()
    assert values() == {"target_accounts": 2, "engaged_target_accounts": 1}


@pytest.mark.django_db(transaction=True)
def test_a_subset_is_served_from_a_cached_whole_catalogue(clear_cache):
    f.AccountFactory()
    whole = compute(PERIOD)
    with CaptureQueriesContext(connection) as queries:
        subset = compute(PERIOD, Filters(), IDS)
    assert statements(queries) == 1
    assert [k["id"] for k in subset["kpis"]] == IDS
    assert subset["kpis"] == [k for k in whole["kpis"] if k["id"] in IDS]


@pytest.mark.django_db(transaction=True)
def test_sign_ins_do_not_throw_the_cache_away(client, clear_cache):
    user = f.UserFactory(username="viewer")
    user.set_password("pw-long-enough-1")
    user.save()
    f.AccountFactory()
    values()
    assert client.login(username="viewer", password="pw-long-enough-1")
    with CaptureQueriesContext(connection) as queries:
        values()
    assert statements(queries) == 1


def _rewind_version(by: int) -> None:
    """Lower the version number, as another database (or a restored backup) would have it."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE funnel_kpi_data_version SET compacted = compacted - %s", [by])


@pytest.mark.django_db(transaction=True)
def test_another_database_at_the_same_version_number_computes_its_own(clear_cache):
    """Two databases sharing one Redis database: same version number, other data, other id."""
    f.AccountFactory()
    assert values()["target_accounts"] == 1  # cached under (this database, version v)
    first = version.database_id()
    v = version.data_version()
    f.AccountFactory()  # v + 1 ...
    _rewind_version(1)  # ... shown as v: the other database's own history
    assert version.data_version() == v
    assert version.new_database_id() != first
    assert values()["target_accounts"] == 2  # not the 1 cached for the first database
    with CaptureQueriesContext(connection) as queries:
        assert values()["target_accounts"] == 2  # and its own result is cached in turn
    assert statements(queries) == 1


@pytest.mark.django_db(transaction=True)
def test_a_restored_dump_with_the_same_id_and_version_computes_its_own(clear_cache):
    """pg_restore creates the counter table anew: the id in the key changes with it."""
    f.AccountFactory()
    assert values()["target_accounts"] == 1
    before = version.database_id()
    instance = before.split("/")[0]
    v = version.data_version()
    f.AccountFactory()
    with connection.cursor() as cursor:  # the dump's counter: same id, version v
        cursor.execute("DROP TABLE funnel_kpi_data_version")
    version.install()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE funnel_kpi_data_version SET instance = %s, compacted = "
            "%s - (SELECT count(*) FROM funnel_kpi_data_change)",
            [instance, v],
        )
    assert version.data_version() == v
    assert version.database_id() != before
    assert version.database_id().split("/")[0] == instance
    assert values()["target_accounts"] == 2


def test_the_database_id_is_stable(db):
    assert version.database_id() == version.database_id()
    assert len(version.database_id().split("/")[0]) == 36


@pytest.mark.django_db
def test_no_cache_inside_a_transaction_where_own_writes_are_uncommitted(clear_cache):
    f.AccountFactory()
    assert values()["target_accounts"] == 1
    f.AccountFactory()
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
    f.AccountFactory()
    assert values()["target_accounts"] == 1


# --- warming ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_warming_computes_the_presets_once_per_data_version(clear_cache):
    f.TierFactory()
    f.ProgramFactory()
    f.AccountFactory()
    done = warm.warm_kpi_cache()
    assert done["periods"] == 10  # five presets and the period before each
    assert warm.warm_kpi_cache() == {"skipped": "already warm", "version": done["version"]}

    # The dashboard's default period now answers from the cache.
    with CaptureQueriesContext(connection) as queries:
        result = compute(preset_period("last_90"), Filters(), ["target_accounts"])
    assert statements(queries) == 1
    assert result["kpis"][0]["value"] == 1

    f.AccountFactory()  # a write: the next run warms again, with the new numbers
    again = warm.warm_kpi_cache()
    assert again["version"] > done["version"]
    with CaptureQueriesContext(connection) as queries:
        result = compute(preset_period("last_90"), Filters(), ["target_accounts"])
    assert statements(queries) == 1
    assert result["kpis"][0]["value"] == 2


# --- live series (#19) ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_series_is_cached_under_the_data_version(clear_cache):
    from funnel.kpis import compute_series

    f.AccountFactory()
    first = compute_series(PERIOD, Filters(), IDS, "week", previous=True)
    with CaptureQueriesContext(connection) as queries:
        again = compute_series(PERIOD, Filters(), IDS, "week", previous=True)
    assert statements(queries) == 1  # the data version, then the cache
    assert again == first
    assert [p["kpis"][0]["value"] for p in again["points"]] == [1] * 5
    f.AccountFactory()  # a write: the next series computes, with the new number
    fresh = compute_series(PERIOD, Filters(), IDS, "week", previous=True)
    assert [p["kpis"][0]["value"] for p in fresh["points"]] == [2] * 5
    # By month is another series (another key).
    months = compute_series(PERIOD, Filters(), IDS, "month")
    assert len(months["points"]) == 1 and "previous" not in months


@pytest.mark.django_db(transaction=True)
def test_warming_covers_the_default_dashboards_live_trends(clear_cache):
    from reports import selectors

    f.AccountFactory()
    warm.warm_kpi_cache()
    period = preset_period("last_90")
    headline = list(selectors.HEADLINE_KPIS.values())
    with CaptureQueriesContext(connection) as queries:
        selectors.live_trend(period, Filters(), headline)
        selectors.month_over_month(period.end, Filters(), headline)
    # Each: the definitions in force, then the data version and the cache.
    assert statements(queries) <= 4, [q["sql"][:80] for q in queries.captured_queries]


#: A KPI statement: an aggregate over a source's rows (``FILTER`` per cohort and measure).
KPI_STATEMENT = re.compile(r"(COUNT|SUM)\([^)]*\) FILTER \(WHERE", re.IGNORECASE)


@pytest.mark.django_db(transaction=True)
def test_warming_covers_each_stage_pages_live_trends(clear_cache, client, viewer):
    """After the warmer, the first visit of each stage page (no snapshots yet: live trends)
    runs no KPI statement: its KPIs and its cards' series come from the cache."""
    f.AccountFactory()
    client.force_login(viewer)
    cold = CaptureQueriesContext(connection)
    with cold:
        assert client.get("/stages/2/").status_code == 200
    assert any(KPI_STATEMENT.search(q["sql"]) for q in cold.captured_queries)  # the probe
    f.AccountFactory()  # a write: a new data version, nothing of it cached
    warm.warm_kpi_cache()
    for stage in range(1, 7):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/stages/{stage}/")
        assert response.status_code == 200
        kpis = [q["sql"][:120] for q in queries.captured_queries if KPI_STATEMENT.search(q["sql"])]
        assert kpis == [], (stage, kpis)
        assert response.context["groups"][0]["items"][0]["trend"]  # the cards have trends
