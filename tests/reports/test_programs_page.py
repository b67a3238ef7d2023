"""The programs page (#14 item 4, #18 item 2): all programs in one grouped computation, the
revenue and spend chart, and the sortable table."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import postgresql_only
from tests.factories import OpportunityFactory, ProgramFactory, SpendFactory, TouchFactory, at
from tests.reports.test_pages import MARCH, D, body, build_world

pytestmark = postgresql_only


@pytest.fixture
def world(db):
    return build_world(6)


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/programs/?{MARCH}")
        body(response)
    assert response.status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_the_programs(viewer_client, world):
    page_queries(viewer_client)  # the first computation marks the definitions used
    two = page_queries(viewer_client)
    for i in range(4):  # four more programs, each with spend and a touch in March
        program = ProgramFactory(name=f"Extra {i}")
        SpendFactory(program=program, spent_on=D(2024, 3, 5), amount=Decimal("100"))
        TouchFactory(account=world["accounts"][i], program=program, occurred_at=at(D(2024, 3, 12)))
    assert page_queries(viewer_client) == two


def test_chart_of_attributed_revenue_and_spend(viewer_client, world):
    """Alpha: spend 1,000; Beta: spend 500. Account 0 wins a 2,000 deal created March 2 and
    won March 20 after Alpha's web visits of March 10 (and no other program): under the
    linear model Alpha is credited the 2,000 of revenue, Beta nothing."""
    OpportunityFactory(
        account=world["accounts"][0],
        status="won",
        amount=Decimal("2000"),
        created_on=D(2024, 3, 2),
        closed_on=D(2024, 3, 20),
    )
    html = body(viewer_client.get(f"/programs/?{MARCH}&model=linear"))
    chart = re.search(r'<svg class="programs-chart".*?</svg>', html, re.S)
    assert chart, "the programs chart is on the page"
    svg = chart.group(0)
    label = re.search(r'aria-label="([^"]*)"', svg).group(1)
    assert "Alpha revenue USD 2,000, spend USD 1,000" in label
    assert "Beta revenue USD 0, spend USD 500" in label or "Beta revenue none" in label
    assert "No program" not in svg  # no spend: not a program
    # Bars are percentages of the largest figure (2,000 = 70 %): Alpha's spend is 35 %.
    assert 'width="70.00%"' in svg and 'width="35.00%"' in svg
    assert "style=" not in svg  # the CSP: presentation attributes only


def test_table_is_sortable_by_raw_values(viewer_client, world):
    html = body(viewer_client.get(f"/programs/?{MARCH}"))
    assert re.search(r'<script src="/static/js/sort\.js[^"]*" defer>', html)
    assert "data-sortable-table" in html
    # Numeric cells carry their raw value: Alpha's spend 1,000 and Beta's 500.
    assert 'data-sort="1000' in html and 'data-sort="500' in html
    assert '<tr class="pinned">' in html  # "No program" stays under the programs
    assert "<script>" not in html  # no inline script (CSP 'self')
