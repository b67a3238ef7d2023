"""KPI endpoints: the engine's result through the API, drill-downs, every bad parameter."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from funnel.kpis import REGISTRY, Filters, Period, compute
from tests.factories import (
    AccountFactory,
    OpportunityFactory,
    OwnerFactory,
    ProgramFactory,
    TierFactory,
    TouchFactory,
    at,
)

MARCH = {"from": "2024-03-01", "to": "2024-03-31"}


@pytest.fixture
def world(db):
    """Two target accounts (one in tier 1, engaged in March) and one non-target account."""
    tier = TierFactory(name="Tier 1", rank=1)
    engaged = AccountFactory(name="Engaged", tier=tier)
    quiet = AccountFactory(name="Quiet")
    outsider = AccountFactory(name="Outsider", is_target=False)
    TouchFactory(account=engaged, kind="meeting", occurred_at=at(dt.date(2024, 3, 5)))
    TouchFactory(account=outsider, kind="web_visit", occurred_at=at(dt.date(2024, 3, 6)))
    won = OpportunityFactory(
        account=engaged,
        status="won",
        amount=5000,
        created_on=dt.date(2024, 2, 1),
        closed_on=dt.date(2024, 3, 20),
    )
    return {"tier": tier, "engaged": engaged, "quiet": quiet, "outsider": outsider, "won": won}


def _items(body: dict) -> dict:
    return {k["id"]: k for k in body["kpis"]}


def test_list_returns_the_engine_result_exactly(world, viewer_api):
    response = viewer_api.get("/api/v1/kpis/", MARCH)
    assert response.status_code == 200
    expected = compute(Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)), Filters())
    # The engine's result, its period echo saying how the period stands against today and
    # the data (the first opportunity was created on Feb 1: March starts after it).
    expected["period"].update(
        ends_after_today=False, starts_before_data=False, data_start="2024-02-01"
    )
    assert response.json() == json.loads(json.dumps(expected))
    assert [k["id"] for k in response.json()["kpis"]] == list(REGISTRY)
    items = _items(response.json())
    assert items["target_accounts"]["value"] == 2
    assert items["engaged_target_accounts"]["value"] == 1
    assert items["engaged_rate"]["numerator"] == 1
    assert items["engaged_rate"]["denominator"] == 2
    assert items["engaged_rate"]["value"] == 0.5
    assert items["won_opportunities"]["value"] == 1


def test_ids_tier_and_cohort_filters(world, viewer_api):
    params = {**MARCH, "id": "target_accounts,engaged_rate", "tier": world["tier"].pk}
    body = viewer_api.get("/api/v1/kpis/", params).json()
    assert [k["id"] for k in body["kpis"]] == ["target_accounts", "engaged_rate"]
    assert body["filters"]["tier"] == [world["tier"].pk]
    assert _items(body)["target_accounts"]["value"] == 1
    assert _items(body)["engaged_rate"]["value"] == 1.0

    repeated = viewer_api.get(
        "/api/v1/kpis/?from=2024-03-01&to=2024-03-31&id=target_accounts&id=web_visits"
        "&cohort=non_abm"
    ).json()
    assert [k["id"] for k in repeated["kpis"]] == ["target_accounts", "web_visits"]
    assert repeated["filters"]["cohort"] == "non_abm"
    assert _items(repeated)["web_visits"]["value"] == 1


def test_program_and_owner_filters(world, viewer_api, viewer):
    program = ProgramFactory()
    TouchFactory(account=world["quiet"], program=program, occurred_at=at(dt.date(2024, 3, 2)))
    owner = OwnerFactory(name="Viewer", user=viewer)
    world["engaged"].owner = owner
    world["engaged"].save()
    by_program = viewer_api.get(
        "/api/v1/kpis/", {**MARCH, "id": "target_accounts", "program": program.pk}
    ).json()
    assert _items(by_program)["target_accounts"]["value"] == 1
    by_owner = viewer_api.get(
        "/api/v1/kpis/", {**MARCH, "id": "target_accounts", "owner": owner.pk}
    ).json()
    assert _items(by_owner)["target_accounts"]["value"] == 1
    assert by_owner["filters"]["owner"] == [owner.pk]


def test_default_period_is_the_90_days_ending_yesterday(world, viewer_api):
    body = viewer_api.get("/api/v1/kpis/", {"id": "target_accounts"}).json()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    assert body["period"] == {
        "from": (yesterday - dt.timedelta(days=89)).isoformat(),
        "to": yesterday.isoformat(),
        "ends_after_today": False,
        "starts_before_data": False,
        "data_start": "2024-02-01",
    }
    only_to = viewer_api.get("/api/v1/kpis/", {"id": "target_accounts", "to": "2024-03-31"})
    assert only_to.json()["period"] == {
        "from": "2024-01-02",
        "to": "2024-03-31",
        "ends_after_today": False,
        "starts_before_data": True,  # January 2 is before the first opportunity (Feb 1)
        "data_start": "2024-02-01",
    }


@pytest.mark.parametrize(
    "params,name,fragment",
    [
        ({"from": "2024-13-01"}, "from", "Date has wrong format"),
        ({"to": "yesterday"}, "to", "Date has wrong format"),
        ({"from": "2024-04-01", "to": "2024-03-01"}, "from", "is after 'to'"),
        ({"from": "0001-01-01", "to": "2024-03-01"}, "from", "between"),
        ({"id": "target_accounts,nope"}, "id", "Unknown KPI id(s): nope"),
        ({"tier": "999999"}, "tier", "Unknown tier id: 999999"),
        ({"tier": "abc"}, "tier", "valid integer"),
        ({"tier": "0"}, "tier", "greater than or equal to 1"),
        ({"program": "424242"}, "program", "Unknown program id: 424242"),
        ({"owner": "777777"}, "owner", "Unknown owner id: 777777"),
        ({"cohort": "vip"}, "cohort", "not a valid choice"),
    ],
)
def test_bad_parameters_answer_400_naming_them(world, viewer_api, params, name, fragment):
    for url in ("/api/v1/kpis/", "/api/v1/kpis/target_accounts/"):
        if name == "id" and url != "/api/v1/kpis/":
            continue
        response = viewer_api.get(url, params)
        assert response.status_code == 400, response.content
        body = response.json()
        assert list(body) == [name]
        assert fragment in json.dumps(body[name]), body
    drill = viewer_api.get("/api/v1/kpis/target_accounts/accounts/", params)
    assert drill.status_code == (200 if name == "id" else 400)


def test_retrieve_one_kpi(world, viewer_api):
    response = viewer_api.get("/api/v1/kpis/won_opportunities/", MARCH)
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == {
        "from": "2024-03-01",
        "to": "2024-03-31",
        "ends_after_today": False,
        "starts_before_data": False,
        "data_start": "2024-02-01",
    }
    assert [k["id"] for k in body["kpis"]] == ["won_opportunities"]
    assert body["kpis"][0]["value"] == 1
    missing = viewer_api.get("/api/v1/kpis/no_such_kpi/", MARCH)
    assert missing.status_code == 404
    assert "no_such_kpi" in missing.json()["detail"]


def test_drilldown_lists_accounts(world, viewer_api):
    response = viewer_api.get("/api/v1/kpis/target_accounts/accounts/", MARCH)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [r["name"] for r in body["results"]] == ["Engaged", "Quiet"]
    assert body["results"][0]["tier_name"] == "Tier 1"
    engaged = viewer_api.get("/api/v1/kpis/engaged_target_accounts/accounts/", MARCH).json()
    assert [r["id"] for r in engaged["results"]] == [world["engaged"].pk]


def test_drilldown_lists_opportunities(world, viewer_api):
    body = viewer_api.get("/api/v1/kpis/won_opportunities/accounts/", MARCH).json()
    assert body["count"] == 1
    assert body["results"][0]["id"] == world["won"].pk
    assert body["results"][0]["status"] == "won"


def test_money_kpi_drills_to_its_opportunities(world, viewer_api):
    """new_revenue_won (5,000: the won deal of March) lists that deal; its amount is the value."""
    value = _items(viewer_api.get("/api/v1/kpis/", {**MARCH, "id": "new_revenue_won"}).json())
    body = viewer_api.get("/api/v1/kpis/new_revenue_won/accounts/", MARCH).json()
    assert [r["id"] for r in body["results"]] == [world["won"].pk]
    assert float(body["results"][0]["amount"]) == value["new_revenue_won"]["value"] == 5000


def test_drilldown_of_a_ratio_names_its_parts_and_unknown_kpi_is_404(world, viewer_api):
    ratio = viewer_api.get("/api/v1/kpis/engaged_rate/accounts/", MARCH)
    assert ratio.status_code == 200
    assert ratio.json()["results"] == [] and set(ratio.json()["parts"]) == {
        "numerator",
        "denominator",
    }
    assert "part=denominator" in ratio.json()["parts"]["denominator"]
    top = viewer_api.get(ratio.json()["parts"]["numerator"])
    assert top.status_code == 200 and top.json()["part"] == "numerator"
    spend = viewer_api.get("/api/v1/kpis/cost_per_won_account/accounts/", MARCH)
    assert spend.status_code == 404 and "Spend is program money" in spend.json()["detail"]
    assert viewer_api.get("/api/v1/kpis/nope/accounts/", MARCH).status_code == 404


def test_drilldown_query_count_is_fixed(world, viewer_api):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = viewer_api.get(
                "/api/v1/kpis/target_accounts/accounts/", {**MARCH, "page_size": 1000}
            )
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()["count"]

    queries()  # warm up the token's last-used stamp
    small, n_small = queries()
    for i in range(15):
        AccountFactory(tier=TierFactory(name=f"T{i}", rank=10 + i))
    large, n_large = queries()
    assert (n_small, n_large) == (2, 17)
    assert small == large


@pytest.mark.parametrize(
    ("kpi_id", "count", "contribution"),
    [("engaged_target_accounts", 1, None), ("ad_clicks", 2, 2)],
)
def test_drilldown_runs_the_drill_once(world, viewer_api, kpi_id, count, contribution):
    """The drill-down (the heavy query, here the only one reading touches) runs once for
    the count, the page and each row's contribution: not again per use."""
    if kpi_id == "ad_clicks":
        for day in (3, 4):
            when = at(dt.date(2024, 3, day))
            TouchFactory(account=world["quiet"], kind="ad_click", occurred_at=when)
    with CaptureQueriesContext(connection) as ctx:
        response = viewer_api.get(f"/api/v1/kpis/{kpi_id}/accounts/", {**MARCH, "page_size": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and len(body["results"]) == 1
    expected = world["engaged"] if kpi_id == "engaged_target_accounts" else world["quiet"]
    assert body["results"][0]["id"] == expected.pk
    assert body["results"][0].get("contribution") == contribution
    reads = [q["sql"] for q in ctx.captured_queries if '"engagement_touch"' in q["sql"]]
    assert len(reads) == 1, reads


def test_drilldown_pages_keep_the_order_and_the_total(world, viewer_api):
    """Page by page the rows come in one stable order (name, then id) with the same count."""
    for i in range(3):
        AccountFactory(name=f"Extra {i}")
    seen = []
    for page in (1, 2, 3):
        body = viewer_api.get(
            "/api/v1/kpis/target_accounts/accounts/", {**MARCH, "page_size": 2, "page": page}
        ).json()
        assert body["count"] == 5
        seen += [r["name"] for r in body["results"]]
    assert seen == ["Engaged", "Extra 0", "Extra 1", "Extra 2", "Quiet"]
    past = viewer_api.get("/api/v1/kpis/target_accounts/accounts/", {**MARCH, "page": 9})
    assert past.status_code == 404


def test_access(world, api_client, viewer_api, editor_api, editor_read_api):
    assert api_client.get("/api/v1/kpis/").status_code == 401
    assert viewer_api.post("/api/v1/kpis/", {}).status_code == 403
    assert editor_read_api.post("/api/v1/kpis/", {}).status_code == 403
    assert editor_api.post("/api/v1/kpis/", {}).status_code == 405
    assert editor_api.delete("/api/v1/kpis/target_accounts/").status_code == 405


def test_format_suffix_routes(world, viewer_api, editor_api):
    """The router's ``.json`` suffix routes reach the same views."""
    assert (
        viewer_api.get("/api/v1/kpis.json", {**MARCH, "id": "target_accounts"}).status_code == 200
    )
    assert viewer_api.get("/api/v1/kpis/target_accounts.json", MARCH).status_code == 200
    assert viewer_api.get("/api/v1/kpis/target_accounts/accounts.json", MARCH).status_code == 200
    assert editor_api.post("/api/v1/touches/bulk.json", [], format="json").status_code == 200


# --- live series (#19) -----------------------------------------------------------------


def test_series_by_week_hand_computed(world, viewer_api):
    response = viewer_api.get(
        "/api/v1/kpis/engaged_target_accounts/series/", {**MARCH, "previous": "true"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == "engaged_target_accounts" and body["bucket"] == "week"
    weeks = [(p["from"], p["to"], p["value"]) for p in body["points"]]
    # Weeks end on the 31st and cover March: the engaged touch of 5 March is in 4-10 March.
    assert weeks == [
        ("2024-02-26", "2024-03-03", 0),
        ("2024-03-04", "2024-03-10", 1),
        ("2024-03-11", "2024-03-17", 0),
        ("2024-03-18", "2024-03-24", 0),
        ("2024-03-25", "2024-03-31", 0),
    ]
    assert len(body["previous"]) == 5
    assert body["previous"][-1] == {
        "from": "2024-02-19",
        "to": "2024-02-25",
        "value": 0,
        "count": 0,
    }


def test_series_by_month_with_a_rate_and_money_equals_compute(world, viewer_api):
    for kpi_id in ("engaged_rate", "new_revenue_won"):
        body = viewer_api.get(
            f"/api/v1/kpis/{kpi_id}/series/",
            {"from": "2024-01-01", "to": "2024-03-31", "bucket": "month", "tier": world["tier"].pk},
        ).json()
        assert [p["from"] for p in body["points"]] == ["2024-01-01", "2024-02-01", "2024-03-01"]
        march = compute(
            Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
            Filters(tier=(world["tier"].pk,)),
            [kpi_id],
        )["kpis"][0]
        assert body["points"][-1]["value"] == json.loads(json.dumps(march["value"]))
    rate = viewer_api.get("/api/v1/kpis/engaged_rate/series/", {**MARCH, "bucket": "month"}).json()[
        "points"
    ]
    assert rate == [
        {"from": "2024-03-01", "to": "2024-03-31", "value": 0.5, "numerator": 1, "denominator": 2}
    ]


def test_series_errors_name_the_parameter(world, viewer_api):
    bad = viewer_api.get("/api/v1/kpis/engaged_rate/series/", {**MARCH, "bucket": "day"})
    assert bad.status_code == 400 and "bucket" in bad.json()
    assert viewer_api.get("/api/v1/kpis/nope/series/", MARCH).status_code == 404
    maps = viewer_api.get("/api/v1/kpis/funnel/series/", MARCH)
    assert maps.status_code == 404 and "map" in maps.json()["detail"]
