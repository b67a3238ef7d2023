"""Drill-down lists sort by every column, the figure (the row's contribution) included, as
numbers, and the CSV keeps the page's order (#19 item 2: "sortable, exportable").

World: build_world(6) (one touch each on March 10) plus won new-business deals closed on
March 20, 21 and 22 for accounts 0, 1 and 2, of 9,000, 100,000 and 24,000, created Feb 1,
Jan 1 and Mar 1; account 1 has 9 more touches
before its win and account 2 one more. Touches to win: Acme 000 1, Acme 001 10,
Acme 002 2 (10 sorts after 2 as a number, before it as text).
"""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from tests.factories import OpportunityFactory, TouchFactory, at
from tests.reports.test_funnel_drill import viewer_client  # noqa: F401 - fixture
from tests.reports.test_pages import MARCH, body, build_world

D = dt.date


@pytest.fixture
def won_world(db):
    return make_won_world()


def make_won_world() -> dict:
    w = build_world(6)
    accounts = w["accounts"]
    for i, amount, created, closed in (
        (0, "9000", D(2024, 2, 1), 20),
        (1, "100000", D(2024, 1, 1), 21),
        (2, "24000", D(2024, 3, 1), 22),
    ):
        OpportunityFactory(
            account=accounts[i],
            name=f"Deal {i}",
            type="new_business",
            status="won",
            created_on=created,
            closed_on=D(2024, 3, closed),
            amount=Decimal(amount),
        )
    for day in range(11, 20):
        TouchFactory(account=accounts[1], occurred_at=at(D(2024, 3, day)))
    TouchFactory(account=accounts[2], occurred_at=at(D(2024, 3, 12)))
    return w


def names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/accounts/\d+/[^"]*">(Acme \d+)</a>', html)


def deals(html: str) -> list[str]:
    return re.findall(r'<th scope="row">(Deal \d)</th>', html)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body(response))))


URL = f"/kpis/touches_per_won_account/accounts/?{MARCH}"


def test_the_figure_column_sorts_as_a_number_both_ways(viewer_client, won_world):  # noqa: F811
    html = body(viewer_client.get(URL))
    assert names(html) == ["Acme 000", "Acme 001", "Acme 002"]  # by name by default
    assert 'aria-sort="none">Touches to win' in html  # the figure's heading is a sort link
    assert names(body(viewer_client.get(URL + "&sort=-figure"))) == [
        "Acme 001",
        "Acme 002",
        "Acme 000",
    ]
    up = body(viewer_client.get(URL + "&sort=figure"))
    assert names(up) == ["Acme 000", "Acme 002", "Acme 001"]
    assert 'aria-sort="ascending">Touches to win' in up


def test_every_account_column_is_a_sort_link(viewer_client, won_world):  # noqa: F811
    html = body(viewer_client.get(URL))
    for label in ("Domain", "Tier", "Fit", "Owner", "Stage", "Engagement", "Relationship"):
        assert re.search(rf'aria-sort="none">{label}<', html), label
    # Tier ascending: Tier 1 (accounts 0 and 2) before Tier 2, ties by name.
    assert names(body(viewer_client.get(URL + "&sort=tier"))) == [
        "Acme 000",
        "Acme 002",
        "Acme 001",
    ]
    # Engagement score i, largest first.
    assert names(body(viewer_client.get(URL + "&sort=-engagement"))) == [
        "Acme 002",
        "Acme 001",
        "Acme 000",
    ]


def test_the_csv_keeps_the_pages_order(viewer_client, won_world):  # noqa: F811
    page = body(viewer_client.get(URL + "&sort=-figure"))
    assert "sort=-figure&amp;format=csv" in page  # the CSV link carries the order
    rows = csv_rows(viewer_client.get(URL + "&sort=-figure&format=csv"))
    assert [r["name"] for r in rows] == ["Acme 001", "Acme 002", "Acme 000"]
    assert [r["contribution"] for r in rows] == ["10", "2", "1"]


def test_opportunities_sort_by_amount_as_a_number_and_export_in_that_order(
    viewer_client,  # noqa: F811
    won_world,
):
    url = f"/kpis/new_revenue_won/accounts/?{MARCH}"
    html = body(viewer_client.get(url))
    assert deals(html) == ["Deal 2", "Deal 1", "Deal 0"]  # newest close first by default
    for label in ("Opportunity", "Account", "Type", "Status", "Amount", "Created", "Closed"):
        assert re.search(rf'aria-sort="[a-z]+">{label}', html), label
    assert deals(body(viewer_client.get(url + "&sort=amount"))) == ["Deal 0", "Deal 2", "Deal 1"]
    assert deals(body(viewer_client.get(url + "&sort=-amount"))) == ["Deal 1", "Deal 2", "Deal 0"]
    # Sales cycles: Deal 0 48 days (Feb 1 - Mar 20), Deal 1 80 (Jan 1 - Mar 21), Deal 2 21.
    assert deals(body(viewer_client.get(url + "&sort=cycle"))) == ["Deal 2", "Deal 0", "Deal 1"]
    assert deals(body(viewer_client.get(url + "&sort=account"))) == ["Deal 0", "Deal 1", "Deal 2"]
    rows = csv_rows(viewer_client.get(url + "&sort=-amount&format=csv"))
    assert [r["amount"] for r in rows] == ["100000.00", "24000.00", "9000.00"]


@pytest.mark.parametrize(
    ("url", "statements"),
    [
        (URL + "&sort=-figure", 11),  # accounts, by their figure
        (URL + "&sort=tier", 11),
        (f"/kpis/new_revenue_won/accounts/?{MARCH}&sort=-amount", 9),  # opportunities
    ],
)
def test_the_drill_down_runs_once_for_the_order_and_the_figures(
    viewer_client,  # noqa: F811
    won_world,
    url,
    statements,
):
    """One query reads the ordered ids and their figures (#18: the engine's drill-down ran
    twice, once for the order and once for the figures); the count does not grow with rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert viewer_client.get(url).status_code == 200
    sqls = [q["sql"] for q in queries if "set_config('statement_timeout'" not in q["sql"]]
    assert len(sqls) == statements, "\n".join(sqls)
