"""The list scorecard: /lists/compare/ and GET /api/v1/lists/compare/ (#15 item 2)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ListMembership
from accounts.selectors import target_list
from funnel.kpis import Filters, Period, compute
from reports.selectors import SCORECARD_KPIS
from tests.conftest import postgresql_only, token_client
from tests.factories import (
    AccountFactory,
    AccountListFactory,
    OpportunityFactory,
    TouchFactory,
    at,
)

pytestmark = [pytest.mark.django_db, postgresql_only]
D = dt.date
MARCH = "from=2024-03-01&to=2024-03-31"
PERIOD = Period(D(2024, 3, 1), D(2024, 3, 31))


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    client.get("/status/")  # the session's first request writes its timestamps
    return client


@pytest.fixture
def world():
    """Four target accounts (always targeted). List X: a, b; list Y: c (d joins in April).

    March: a and c touched; a won 5,000 (created Mar 2), b lost 2,000 (created Mar 3),
    c has an open 3,000 deal (created Mar 4); d nothing."""
    a, b, c, d = (AccountFactory(name=n) for n in ("Alpha", "Beta", "Gamma", "Delta"))
    x = AccountListFactory(name="List X")
    y = AccountListFactory(name="List Y")
    for account, named, joined in ((a, x, D(2024, 1, 1)), (b, x, D(2024, 1, 1))):
        ListMembership.objects.create(account=account, list=named, joined_on=joined)
    ListMembership.objects.create(account=c, list=y, joined_on=D(2024, 1, 1))
    ListMembership.objects.create(account=d, list=y, joined_on=D(2024, 4, 1))
    TouchFactory(account=a, occurred_at=at(D(2024, 3, 5)))
    TouchFactory(account=c, occurred_at=at(D(2024, 3, 10)))
    OpportunityFactory(
        account=a,
        created_on=D(2024, 3, 2),
        status="won",
        closed_on=D(2024, 3, 20),
        amount=Decimal("5000.00"),
    )
    OpportunityFactory(
        account=b,
        created_on=D(2024, 3, 3),
        status="lost",
        closed_on=D(2024, 3, 25),
        amount=Decimal("2000.00"),
    )
    OpportunityFactory(account=c, created_on=D(2024, 3, 4), amount=Decimal("3000.00"))
    return {"x": x, "y": y, "accounts": (a, b, c, d)}


def api(viewer, query: str):
    return token_client(viewer).get(f"/api/v1/lists/compare/?{query}")


def values(body: dict, key: str) -> dict:
    return {k["id"]: k["values"][key] for k in body["kpis"]}


def test_two_lists_hand_computed(viewer, world):
    x, y = world["x"].pk, world["y"].pk
    response = api(viewer, f"{MARCH}&list={x}&list={y}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [c["list"]["name"] for c in body["columns"]] == ["List X", "List Y"]
    assert [k["id"] for k in body["kpis"]] == list(SCORECARD_KPIS)
    vx, vy = values(body, f"list_{x}"), values(body, f"list_{y}")
    # X = {a, b}: 2 targets; a engaged (1/2); both opened a deal (2/2); 1 won of 1 won + 1 lost;
    # nothing open at Mar 31; 5,000 won in 1 deal; no renewal due; a is a customer, no expansion.
    assert vx["target_accounts"] == {"value": 2, "count": 2}
    assert vx["engaged_rate"] == {"value": 0.5, "numerator": 1, "denominator": 2}
    assert vx["opportunity_rate"] == {"value": 1.0, "numerator": 2, "denominator": 2}
    assert vx["opportunity_win_rate"] == {"value": 0.5, "numerator": 1, "denominator": 2}
    assert Decimal(str(vx["target_account_pipeline"]["value"])) == 0
    assert vx["target_account_pipeline"]["count"] == 0
    assert Decimal(str(vx["new_revenue_won"]["value"])) == Decimal("5000")
    assert vx["new_revenue_won"]["count"] == 1
    assert vx["renewal_rate"] == {"value": None, "numerator": 0, "denominator": 0}
    assert vx["expansion_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    # Y = {c} on Mar 31 (d joins Apr 1): 1 target, engaged 1/1, deal 1/1, none closed,
    # 3,000 open in 1 deal, nothing won, no customer.
    assert vy["target_accounts"] == {"value": 1, "count": 1}
    assert vy["engaged_rate"] == {"value": 1.0, "numerator": 1, "denominator": 1}
    assert vy["opportunity_rate"] == {"value": 1.0, "numerator": 1, "denominator": 1}
    assert vy["opportunity_win_rate"] == {"value": None, "numerator": 0, "denominator": 0}
    assert Decimal(str(vy["target_account_pipeline"]["value"])) == Decimal("3000")
    assert vy["target_account_pipeline"]["count"] == 1
    assert Decimal(str(vy["new_revenue_won"]["value"])) == 0
    assert vy["expansion_rate"] == {"value": None, "numerator": 0, "denominator": 0}
    # Two ways: the lists are disjoint and together hold 3 of the 4 targets' engaged accounts.
    engaged = vx["engaged_rate"]["numerator"] + vy["engaged_rate"]["numerator"]
    assert engaged == 2


def test_target_list_column_equals_the_dashboard(viewer, world):
    target = target_list().pk
    body = api(viewer, f"{MARCH}&list={target}").json()
    column = values(body, f"list_{target}")
    default = {i["id"]: i for i in compute(PERIOD, Filters(), ids=SCORECARD_KPIS)["kpis"]}
    abm = {i["id"]: i for i in compute(PERIOD, Filters(cohort="abm"), ids=SCORECARD_KPIS)["kpis"]}
    for kpi_id in SCORECARD_KPIS:
        for part, value in column[kpi_id].items():
            expected = abm[kpi_id][part]
            if value is None:
                assert expected is None, (kpi_id, part)
            else:
                assert Decimal(str(value)) == Decimal(str(expected)), (kpi_id, part)
            if default[kpi_id].get("cohort") == "abm":  # stages 1-4: the dashboard itself
                assert column[kpi_id]["value"] == pytest.approx(default[kpi_id]["value"])
    assert column["target_accounts"]["value"] == 4  # hand: a, b, c, d
    assert column["engaged_rate"] == {"value": 0.5, "numerator": 2, "denominator": 4}


def test_compare_previous_period(viewer, world):
    x = world["x"].pk
    body = api(viewer, f"{MARCH}&list={x}&compare=previous").json()
    assert [(c["key"], c["from"], c["to"]) for c in body["columns"]] == [
        ("current", "2024-03-01", "2024-03-31"),
        ("previous", "2024-01-30", "2024-02-29"),
    ]
    before = values(body, "previous")
    # Feb: a and b are members (joined Jan 1), nothing happened.
    assert before["target_accounts"]["value"] == 2
    assert before["engaged_rate"] == {"value": 0.0, "numerator": 0, "denominator": 2}


def test_api_errors_name_the_parameter(viewer, world):
    x, y = world["x"].pk, world["y"].pk
    four = AccountListFactory().pk
    target = target_list().pk
    response = api(viewer, f"{MARCH}&list={x}&list={y}&list={target}&list={four}")
    assert response.status_code == 400
    assert "at most 3 lists side by side (got 4" in response.json()["list"][0]
    response = api(viewer, f"{MARCH}&list=999999")
    assert response.status_code == 400
    assert "no account list has id 999999" in response.json()["list"][0]
    response = api(viewer, f"{MARCH}&list={x}&list={y}&compare=previous")
    assert response.status_code == 400 and "compare" in response.json()
    assert api(viewer, MARCH).status_code == 400  # no list at all
    assert api(viewer, f"{MARCH}&list=abc").status_code == 400


def test_page_shows_values_with_counts_and_links(viewer_client, world):
    x, y = world["x"].pk, world["y"].pk
    response = viewer_client.get(f"/lists/compare/?{MARCH}&list={x}&list={y}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "List X" in page and "List Y" in page
    assert "Engaged rate" in page
    assert "1 / 2" in page  # X's engaged rate's counts
    assert f'href="/lists/{x}/?{MARCH.replace("&", "&amp;")}"' in page
    assert f'name="list" value="{x}" checked' in page
    assert "List: List X" not in page  # ``list`` here names the compared lists, not a filter
    # The same rows under definitions version 1 (each KPI of the scorecard exists in both).
    v1 = viewer_client.get(f"/lists/compare/?{MARCH}&list={x}&definitions=v1").content.decode()
    assert "1 / 2" in v1 and "Definitions: no version" not in v1


def test_page_errors_and_empty_state(viewer_client, world):
    x, y = world["x"].pk, world["y"].pk
    empty = viewer_client.get(f"/lists/compare/?{MARCH}").content.decode()
    assert "No list chosen yet." in empty and "Tick up to 3 lists" in empty
    extra = [AccountListFactory().pk, AccountListFactory().pk]
    ids = "&".join(f"list={pk}" for pk in (x, y, *extra))
    page = viewer_client.get(f"/lists/compare/?{MARCH}&{ids}").content.decode()
    assert "List: at most 3 lists side by side (got 4:" in page
    assert "showing the first 3" in page
    page = viewer_client.get(f"/lists/compare/?{MARCH}&list={x}&list=999999").content.decode()
    assert "List: no account list has id 999999 (see /lists/); left out." in page
    assert "List X" in page
    page = viewer_client.get(f"/lists/compare/?{MARCH}&list=abc").content.decode()
    assert "List: &#x27;abc&#x27; is not a list id" in page
    page = viewer_client.get(f"/lists/compare/?{MARCH}&list={x}&compare=sideways").content.decode()
    assert "Compare: &#x27;sideways&#x27; is not a comparison" in page


def test_csv_has_values_and_counts(viewer_client, world):
    x, y = world["x"].pk, world["y"].pk
    response = viewer_client.get(f"/lists/compare/?{MARCH}&list={x}&list={y}&format=csv")
    assert response.status_code == 200
    text = (
        b"".join(response.streaming_content).decode()
        if response.streaming
        else response.content.decode()
    )
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(text))}
    assert list(rows) == list(SCORECARD_KPIS)
    engaged = rows["engaged_rate"]
    assert (
        engaged[f"list_{x}"],
        engaged[f"list_{x}_numerator"],
        engaged[f"list_{x}_denominator"],
    ) == ("0.5", "1", "2")
    assert (engaged[f"list_{y}"], engaged[f"list_{y}_numerator"]) == ("1.0", "1")
    assert rows["new_revenue_won"][f"list_{x}_count"] == "1"


def test_query_count_constant_in_data_size(viewer_client, viewer, world):
    x, y = world["x"].pk, world["y"].pk
    query = f"{MARCH}&list={x}&list={y}&list={target_list().pk}"
    url = f"/lists/compare/?{query}"
    client = token_client(viewer)
    viewer_client.get(url)  # warm anything a first request loads once
    client.get(f"/api/v1/lists/compare/?{query}")  # (and the token's first use)
    with CaptureQueriesContext(connection) as small:
        assert viewer_client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as api_small:
        assert client.get(f"/api/v1/lists/compare/?{query}").status_code == 200
    for i in range(15):
        account = AccountFactory()
        ListMembership.objects.create(account=account, list=world["x"], joined_on=D(2024, 1, 1))
        TouchFactory(account=account, occurred_at=at(D(2024, 3, 1 + i)))
        OpportunityFactory(account=account, created_on=D(2024, 3, 1 + i))
    with CaptureQueriesContext(connection) as large:
        assert viewer_client.get(url).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    # Pinned: three lists = three engine computations (the bounded loop), plus the session,
    # the bar's choices, the list names and the picker's lists; the API has no bar or picker
    # and finds the token, its user and role in one query; the page reads the user's groups
    # once (the role is kept on the request's user, #18). No computation reads the
    # high-value page patterns (only the research grade does, and none of these KPIs).
    assert not [q for q in small.captured_queries if "highvaluepage" in q["sql"]]
    assert (len(small.captured_queries), len(api_small.captured_queries)) == (16, 10)
    with CaptureQueriesContext(connection) as api_large:
        assert client.get(f"/api/v1/lists/compare/?{query}").status_code == 200
    assert len(api_large.captured_queries) == len(api_small.captured_queries)


def test_links_from_the_list_pages(viewer_client, world):
    x = world["x"].pk
    index = viewer_client.get(f"/lists/?{MARCH}").content.decode()
    assert 'action="/lists/compare/"' in index
    assert f'name="list" value="{x}"' in index
    assert (
        f"/lists/compare/?{MARCH.replace('&', '&amp;')}&amp;list={x}&amp;compare=previous" in index
    )
    detail = viewer_client.get(f"/lists/{x}/?{MARCH}").content.decode()
    assert "Scorecard against the previous period" in detail
    assert f"list={x}&amp;compare=previous" in detail


def test_api_schema_documents_the_endpoint():
    from tests.api.test_schema import _schema

    schema = _schema()
    operation = schema["paths"]["/api/v1/lists/compare/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"list", "compare", "from", "to"} <= names
    assert "ScorecardResult" in str(operation["responses"]["200"])
