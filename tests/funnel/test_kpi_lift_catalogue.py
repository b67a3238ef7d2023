"""The lift KPIs as catalogue KPIs (#20 item 4): compute(), the KPI API, the lift page and
API and its CSV, grouped computations and the snapshots all read the same numbers."""

import csv
import datetime as dt
import io

import pytest

from accounts.models import Tier
from accounts.selectors import target_list
from funnel.definitions import definitions_mark_used, definitions_resolve
from funnel.kpis import (
    LIFT_IDS,
    Filters,
    UnknownKpi,
    catalogue,
    compute,
    compute_grouped,
    format_basis,
    holdout_lift,
)
from funnel.kpis.lift import NO_LIST
from funnel.models import AccountSnapshot, FunnelSnapshot
from funnel.snapshots import account_snapshots_upsert, funnel_snapshots_upsert
from tests.conftest import postgresql_only, token_client
from tests.factories import AccountFactory, AccountListFactory
from tests.funnel.test_kpi_lift import PERIOD, build_experiment

pytestmark = [pytest.mark.django_db, postgresql_only]

D = dt.date
QUERY = "from=2024-07-01&to=2024-09-30"
#: The hand-built experiment's true effects (test_kpi_lift.build_experiment).
TRUE = {
    "lift_engaged_rate": 0.4,
    "lift_opportunity_rate": 0.2,
    "lift_win_rate": 0.08,
    "lift_pipeline_per_account": 200.0,
    "lift_revenue_per_account": 80.0,
}
#: What a lift item holds beyond the catalogue entry, in every surface.
FIELDS = ("value", "treated", "held_out", "difference", "relative_difference", "ci95", "warning")


def _items(result: dict) -> dict[str, dict]:
    return {item["id"]: item for item in result["kpis"]}


def _used_default():
    rules = definitions_resolve(None)
    definitions_mark_used(rules)
    return rules


def test_compute_runs_the_lift_kpis_for_a_list_in_one_statement(django_assert_num_queries):
    build_experiment()
    rules = _used_default()
    list_id = target_list().pk
    with django_assert_num_queries(1):  # the lift source: one grouped statement
        result = compute(PERIOD, Filters(list_id=list_id), ids=LIFT_IDS, definitions=rules)
    items = _items(result)
    assert list(items) == list(LIFT_IDS)
    for kpi_id, effect in TRUE.items():
        item = items[kpi_id]
        assert item["stage"] == 0 and item["cohort"] == "all" and item["reason"] is None
        assert item["value"] == item["difference"] == pytest.approx(effect)
        assert item["ci95"]["low"] < effect < item["ci95"]["high"]  # the interval covers it
    assert items["lift_engaged_rate"]["treated"] == {"n": 150, "numerator": 90, "value": 0.6}
    assert items["lift_pipeline_per_account"]["held_out"] == {
        "n": 50,
        "total": 5000.0,
        "value": 100.0,
    }
    assert format_basis(items["lift_engaged_rate"]) == "treated 90 / 150, held out 10 / 50"
    assert result["filters"]["list"] == list_id
    # The lift page's and API's function is compute(): the very same items.
    lift = holdout_lift(target_list().holdout, PERIOD, rules)
    assert lift["kpis"] == result["kpis"]
    assert (lift["holdout"]["treated"], lift["holdout"]["held_out"]) == (150, 50)


def test_the_whole_catalogue_includes_them_and_costs_no_query_without_a_list(
    django_assert_num_queries,
):
    build_experiment()
    rules = _used_default()
    with django_assert_num_queries(0):  # no list: null with the reason, nothing read
        items = _items(compute(PERIOD, ids=LIFT_IDS, definitions=rules))
    for kpi_id in LIFT_IDS:
        assert items[kpi_id]["value"] is None and items[kpi_id]["reason"] == NO_LIST
        assert items[kpi_id]["ci95"] is None and items[kpi_id]["treated"] is None
    whole = _items(compute(PERIOD, Filters(list_id=target_list().pk), definitions=rules))
    assert set(LIFT_IDS) <= set(whole)
    assert whole["lift_win_rate"]["value"] == pytest.approx(0.08)
    assert list(whole)[-len(LIFT_IDS) :] == list(LIFT_IDS)  # last in the catalogue


def test_a_list_without_holdout_gives_null_with_the_reason():
    AccountFactory.create_batch(3)
    other = AccountListFactory(name="No control")
    items = _items(compute(PERIOD, Filters(list_id=other.pk), ids=LIFT_IDS))
    for item in items.values():
        assert item["value"] is None
        assert f"List {other.pk} has no holdout" in item["reason"]
        assert f"holdout_draw --list {other.pk}" in item["reason"]


def test_under_version_1_the_lift_kpis_do_not_exist(definitions_v1):
    build_experiment()
    with pytest.raises(UnknownKpi, match="generation 1"):
        compute(PERIOD, Filters(list_id=target_list().pk), ids=["lift_engaged_rate"])
    assert not set(LIFT_IDS) & {spec.id for spec in catalogue(1)}
    items = _items(compute(PERIOD, Filters(list_id=target_list().pk), ids=["engaged_rate"]))
    assert list(items) == ["engaged_rate"]


def test_grouped_by_tier_every_group_reads_the_one_holdout(django_assert_num_queries):
    build_experiment()
    rules = _used_default()
    tiers = [Tier.objects.create(name=f"T{i}", rank=i).pk for i in (1, 2)]
    filters = Filters(list_id=target_list().pk)
    with django_assert_num_queries(1):
        grouped = compute_grouped(PERIOD, filters, "tier", tiers, ids=LIFT_IDS, definitions=rules)
    alone = compute(PERIOD, filters, ids=LIFT_IDS, definitions=rules)["kpis"]
    for key in tiers:
        assert grouped[key]["kpis"] == alone


def test_the_kpi_api_lists_them_with_the_lift_apis_numbers(viewer):
    build_experiment()
    api = token_client(viewer)
    list_id = target_list().pk
    listed = api.get(f"/api/v1/kpis/?{QUERY}&list={list_id}")
    assert listed.status_code == 200
    items = _items(listed.json())
    lift = _items(api.get(f"/api/v1/lists/{list_id}/lift/?{QUERY}").json())
    for kpi_id in LIFT_IDS:
        assert {k: items[kpi_id][k] for k in FIELDS} == {k: lift[kpi_id][k] for k in FIELDS}
        assert items[kpi_id]["value"] == pytest.approx(TRUE[kpi_id])
    one = api.get(f"/api/v1/kpis/lift_win_rate/?{QUERY}&list={list_id}").json()
    assert one["kpis"][0]["value"] == pytest.approx(0.08)
    bare = api.get(f"/api/v1/kpis/lift_engaged_rate/?{QUERY}").json()["kpis"][0]
    assert bare["value"] is None and bare["reason"] == NO_LIST


def test_the_lift_pages_csv_holds_the_same_numbers(client, viewer):
    build_experiment()
    client.force_login(viewer)
    list_id = target_list().pk
    response = client.get(f"/lists/{list_id}/lift/?{QUERY}&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(body))}
    assert list(rows) == list(LIFT_IDS)
    engaged = rows["lift_engaged_rate"]
    assert (engaged["treated_n"], engaged["treated_numerator"]) == ("150", "90")
    assert (engaged["held_out_n"], engaged["held_out_numerator"]) == ("50", "10")
    assert float(engaged["difference"]) == pytest.approx(0.4)
    assert engaged["ci95_method"] == "newcombe"
    assert float(rows["lift_revenue_per_account"]["difference"]) == pytest.approx(80.0)
    assert rows["lift_revenue_per_account"]["ci95_method"] == "welch"


def test_snapshot_slices_without_a_list_leave_the_lift_kpis_out():
    build_experiment()
    funnel_snapshots_upsert(D(2024, 9, 30), window_days=30)
    published = FunnelSnapshot.objects.filter(date=D(2024, 9, 30))
    assert published.exists()
    for snapshot in published:
        ids = {item["id"] for item in snapshot.kpis["kpis"]}
        assert "engaged_rate" in ids and not ids & set(LIFT_IDS)


def test_account_snapshots_record_their_definitions_version():
    accounts = AccountFactory.create_batch(2)
    rules = definitions_resolve(None)
    account_snapshots_upsert(D(2024, 9, 30), accounts[0].pk, accounts[-1].pk)
    snapshots = AccountSnapshot.objects.filter(date=D(2024, 9, 30))
    assert snapshots.count() == 2
    assert set(snapshots.values_list("definitions_id", flat=True)) == {rules.pk}
    rules.refresh_from_db()
    assert rules.used_at is not None  # a version that made a published score is not edited
