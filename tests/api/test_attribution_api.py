"""Attribution endpoints (issue 14): per-program credits of a period, one opportunity's credits."""

import datetime as dt
from decimal import Decimal

import pytest

from funnel.kpis import Filters, Period, compute
from tests.factories import AccountFactory, OpportunityFactory, ProgramFactory, TouchFactory, at

MARCH = {"from": "2024-03-01", "to": "2024-03-31"}


@pytest.fixture
def world(db):
    """One target account: p1 touched it 1 March, p2 10 March, p3 on 20 March (creation) and
    p2 again 25 March; a 1000.00 deal created 20 March, won 28 March. A second account's
    500.00 deal has no program touch: "no program"."""
    p1, p2, p3 = (ProgramFactory(name=n) for n in ("Alpha", "Beta", "Gamma"))
    account = AccountFactory(name="Acme")
    for program, day, kind in ((p1, 1, "web_visit"), (p2, 10, "form_fill"), (p3, 20, "meeting")):
        TouchFactory(
            account=account, program=program, kind=kind, occurred_at=at(dt.date(2024, 3, day))
        )
    TouchFactory(
        account=account, program=p2, kind="email_reply", occurred_at=at(dt.date(2024, 3, 25))
    )
    deal = OpportunityFactory(
        account=account,
        status="won",
        amount=Decimal("1000.00"),
        created_on=dt.date(2024, 3, 20),
        closed_on=dt.date(2024, 3, 28),
    )
    other = OpportunityFactory(
        account=AccountFactory(name="Quiet"),
        status="won",
        amount=Decimal("500.00"),
        created_on=dt.date(2024, 3, 2),
        closed_on=dt.date(2024, 3, 30),
    )
    return {"programs": (p1, p2, p3), "deal": deal, "other": other}


def test_period_credits_by_program_reconcile(world, viewer_api):
    p1, p2, p3 = world["programs"]
    response = viewer_api.get("/api/v1/attribution/", {**MARCH, "model": "w_shaped"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "w_shaped" and body["lookback_days"] == 90
    rows = {(r["program"] or {}).get("name"): r for r in body["programs"]}
    # Pipeline: first 3, last before creation 3, rest 1 (of 7); revenue 30/30/30/10.
    assert rows["Alpha"]["pipeline"] == "428.57" and rows["Alpha"]["revenue"] == "300.00"
    assert rows["Beta"]["pipeline"] == "142.86" and rows["Beta"]["revenue"] == "400.00"
    assert rows["Beta"]["revenue_pre"] == "100.00" and rows["Beta"]["revenue_post"] == "300.00"
    assert rows["Gamma"]["pipeline"] == "428.57"
    assert rows[None]["program"] is None and rows[None]["pipeline"] == "500.00"
    assert list(rows) == ["Alpha", "Beta", "Gamma", None]  # programs by id, no program last
    assert body["totals"] == {"pipeline": "1500.00", "revenue": "1500.00"}
    assert body["selected"] == {"pipeline": "1000.00", "revenue": "1000.00"}
    # The same totals as the pipeline and revenue KPIs.
    items = {
        i["id"]: i
        for i in compute(
            Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
            Filters(),
            ids=["influenced_pipeline_share", "new_revenue_won"],
        )["kpis"]
    }
    assert items["influenced_pipeline_share"]["denominator"] == 1500.0
    assert items["new_revenue_won"]["value"] == 1500.0


def test_program_filter_selects_accounts_and_sums_the_programs(world, viewer_api):
    p1, p2, p3 = world["programs"]
    body = viewer_api.get(
        "/api/v1/attribution/", {**MARCH, "model": "linear", "program": p2.pk}
    ).json()
    # Only the account p2 engaged; every program credited on it is listed.
    assert body["totals"] == {"pipeline": "1000.00", "revenue": "1000.00"}
    assert body["selected"] == {"pipeline": "333.33", "revenue": "500.00"}
    assert body["filters"]["program"] == [p2.pk]


def test_bad_model_and_program_are_400s_naming_the_parameter(world, viewer_api):
    response = viewer_api.get("/api/v1/attribution/", {**MARCH, "model": "pie"})
    assert response.status_code == 400 and "model" in response.json()
    response = viewer_api.get("/api/v1/attribution/", {**MARCH, "program": 999999})
    assert response.status_code == 400 and "program" in response.json()


def test_opportunity_credits(world, viewer_api):
    p1, p2, p3 = world["programs"]
    url = f"/api/v1/opportunities/{world['deal'].pk}/attribution/"
    body = viewer_api.get(url, {"model": "u_shaped"}).json()
    assert body["model"] == "u_shaped" and body["amount"] == "1000.00"
    assert [(c["program"]["name"], c["amount"], c["share"]) for c in body["pipeline"]] == [
        ("Alpha", "400.00", "0.4000"),
        ("Beta", "200.00", "0.2000"),
        ("Gamma", "400.00", "0.4000"),
    ]
    # Revenue: t1 40, t4 (p2) 40, t2 (p2) and t3 (p3) 10 each.
    assert [(c["program"]["name"], c["amount"], c["pre"]) for c in body["revenue"]] == [
        ("Alpha", "400.00", "400.00"),
        ("Beta", "500.00", "100.00"),
        ("Gamma", "100.00", "100.00"),
    ]
    quiet = viewer_api.get(f"/api/v1/opportunities/{world['other'].pk}/attribution/").json()
    assert quiet["model"] == "w_shaped"
    assert [c["program"] for c in quiet["pipeline"]] == [None]
    assert viewer_api.get("/api/v1/opportunities/999999/attribution/").status_code == 404


def test_query_counts_are_pinned(world, viewer_api, django_assert_num_queries):
    viewer_api.get("/api/v1/attribution/", MARCH)  # the definitions version is marked used
    # Token, user and groups (1), the statement timeout (1), the default definitions
    # version (1), the attribution statement (1), the program names (1).
    with django_assert_num_queries(5):
        viewer_api.get("/api/v1/attribution/", MARCH)
    url = f"/api/v1/opportunities/{world['deal'].pk}/attribution/"
    viewer_api.get(url)
    # Token (1), timeout (1), the opportunity (1), definitions (1), statement (1), names (1).
    with django_assert_num_queries(6):
        viewer_api.get(url)


def test_both_endpoints_are_in_the_schema():
    from tests.api.test_schema import _schema

    schema = _schema()
    period = schema["paths"]["/api/v1/attribution/"]["get"]
    names = {p["name"] for p in period["parameters"]}
    assert {"from", "to", "tier", "program", "owner", "cohort", "model", "definitions"} <= names
    model = next(p for p in period["parameters"] if p["name"] == "model")
    assert "u_shaped" in str(model["schema"])
    one = schema["paths"]["/api/v1/opportunities/{id}/attribution/"]["get"]
    assert {"200", "400", "404"} <= set(one["responses"])
    row = schema["components"]["schemas"]["AttributionRow"]["properties"]
    assert {"program", "pipeline", "revenue", "revenue_pre", "revenue_post"} <= set(row)


def test_a_database_that_cannot_attribute_answers_503_and_null_kpis(world, viewer_api, monkeypatch):
    """SQLite (the embedded default) has no form of the statement: the API says so, the
    catalogue still computes with the attribution KPIs null."""
    from funnel.kpis import attribution as engine

    monkeypatch.setattr(engine, "available", lambda: False)
    response = viewer_api.get("/api/v1/attribution/", MARCH)
    assert response.status_code == 503 and "PostgreSQL" in response.json()["detail"]
    url = f"/api/v1/opportunities/{world['deal'].pk}/attribution/"
    assert viewer_api.get(url).status_code == 503
    items = {
        i["id"]: i
        for i in compute(
            Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
            Filters(),
            ids=["attributed_pipeline", "attribution_roi", "program_engaged_accounts"],
        )["kpis"]
    }
    assert items["attributed_pipeline"]["value"] is None  # unknown, not zero
    assert items["attribution_roi"]["value"] is None
    assert items["program_engaged_accounts"]["value"] == 1


def test_the_account_page_shows_how_each_deal_was_credited(world, client, viewer):
    """Issue #14 item 4: the account page shows, per opportunity, the programs' shares
    under the version's model (W-shaped here), in one statement for all its deals."""
    client.force_login(viewer)
    deal = world["deal"]
    html = client.get(f"/accounts/{deal.account_id}/").content.decode()
    assert "Credited (W-shaped" in html
    # Pipeline 3/7, 1/7, 3/7 of 1,000.00; revenue 30/40/30 (as the API test above).
    assert "Alpha 42.9 % (USD 428.57)" in html and "Beta 14.3 % (USD 142.86)" in html
    assert "Beta 40.0 % (USD 400)" in html and "Gamma 30.0 % (USD 300)" in html
    quiet = client.get(f"/accounts/{world['other'].account_id}/").content.decode()
    assert "No program 100.0 % (USD 500)" in quiet


def test_a_programs_page_figure_drills_to_its_deals_and_their_shares(world, client, viewer):
    """Issue #14 item 4: from a program's attributed figure to the opportunities behind it,
    each with its share; the credits add up to the figure (the same attribution)."""
    import csv
    import io
    import re

    client.force_login(viewer)
    p1, p2, p3 = world["programs"]
    query = "from=2024-03-01&to=2024-03-31&model=w_shaped"
    programs = client.get(f"/programs/?{query}").content.decode()
    link = f"/programs/{p2.pk}/credits/?from=2024-03-01&amp;to=2024-03-31&amp;basis=revenue"
    assert link in programs
    assert "/programs/none/credits/?" in programs  # the "no program" row drills too
    html = client.get(f"/programs/{p2.pk}/credits/?{query}&basis=revenue").content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # Beta: 30 % (last touch before close, 25 March) + 10 % (the rest) of 1,000.00 won.
    assert "1 opportunity, credited USD 400 in all" in text
    assert "40.0 %" in text
    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(
                    client.get(
                        f"/programs/{p2.pk}/credits/?{query}&basis=revenue&format=csv"
                    ).streaming_content
                ).decode()
            )
        )
    )
    assert [(r["opportunity_id"], r["credited"], r["credited_pre"]) for r in rows] == [
        (str(world["deal"].pk), "400.00", "100.00")
    ]
    none = client.get(f"/programs/none/credits/?{query}&basis=pipeline").content.decode()
    assert "Quiet" in none and "USD 500" in none
    assert client.get(f"/programs/{p2.pk}/credits/?{query}&basis=cost").status_code == 404
