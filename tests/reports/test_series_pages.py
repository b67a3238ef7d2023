"""Live trends on the pages (#19 item 1): the KPI page's chart with the previous period,
the bucket picker, the dashboard's month-over-month table, and their query counts."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.reports.test_pages import MARCH, body, build_world


@pytest.fixture
def world(db):
    return build_world(6)


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def test_kpi_page_draws_the_weekly_series_over_the_previous_period(viewer_client, world):
    # Opportunities were created on March 5 for accounts 0 and 3: week 4-10 March holds 2.
    response = viewer_client.get(f"/kpis/opportunity_accounts/?{MARCH}")
    assert response.status_code == 200
    html = body(response)
    assert html.count('<svg class="trend series ') == 2  # wide, and narrow for phones
    assert '<polyline class="current"' in html and '<polyline class="previous"' in html
    assert 'stroke-dasharray="6 4"' in html
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="num">([^<]+)</td>', html)
    assert rows == [
        ("Mar 25 – Mar 31, 2024", "0"),
        ("Mar 18 – Mar 24, 2024", "0"),
        ("Mar 11 – Mar 17, 2024", "0"),
        ("Mar 4 – Mar 10, 2024", "2"),
        ("Feb 26 – Mar 3, 2024", "0"),
    ]
    assert "week ending Mar 10, 2024: 2" in html  # the dot's tooltip
    assert '<strong aria-current="true">By week</strong>' in html
    assert "bucket=month" in html
    assert "The accounts behind this number" in html


def test_kpi_page_by_month_and_money_formatted(viewer_client, world):
    html = body(
        viewer_client.get("/kpis/influenced_pipeline/?from=2023-10-01&to=2024-03-31&bucket=month")
    )
    assert '<strong aria-current="true">By month</strong>' in html
    assert "Oct 1 – Oct 31, 2023" in html and "Mar 1 – Mar 31, 2024" in html
    assert "USD" in html  # money keeps the money format, in the table and the axis


def test_kpi_page_without_a_series_says_why(viewer_client, world):
    html = body(viewer_client.get(f"/kpis/cost_per_engaged_account/?{MARCH}"))
    assert "has no live series" in html and "spend" in html
    assert viewer_client.get(f"/kpis/nope/?{MARCH}").status_code == 404


def test_dashboard_month_over_month_table(viewer_client, world):
    html = body(viewer_client.get(f"/?{MARCH}"))
    table = html[html.index('id="months-h"') :]
    table = table[: table.index("</table>")]
    heads = re.findall(r'<th scope="col" class="num">([^<]+)</th>', table)
    assert heads == ["Oct 2023", "Nov 2023", "Dec 2023", "Jan 2024", "Feb 2024", "Mar 2024"]
    row = table[table.index("Opportunity accounts") :]
    row = row[: row.index("</tr>")]
    values = re.findall(r'<td class="num">([^<]+)', row)
    assert values == ["0", "0", "0", "0", "0", "2"]
    assert "against the month before" in row


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_kpi_page_query_count_does_not_grow_with_the_buckets(viewer_client, world):
    url = "/kpis/engaged_rate/?from={}&to=2024-03-31&bucket=week"
    _count(viewer_client, url.format("2024-03-01"))  # marks the definitions used
    five = _count(viewer_client, url.format("2024-03-01"))
    year = _count(viewer_client, url.format("2023-04-03"))  # 53 weeks and 53 before
    assert five == year


def test_a_month_to_date_is_not_compared_with_a_whole_month(viewer_client, world):
    """A period ending mid-month makes its last month partial: its header says to which day
    and it shows no change against the whole month before (counts of 10 days against 31
    read as a fall)."""
    html = body(viewer_client.get("/?from=2024-03-01&to=2024-03-10"))
    table = html[html.index('id="months-h"') :]
    table = table[: table.index("</table>")]
    heads = re.findall(r'<th scope="col" class="num">(.*?)</th>', table)
    assert heads[-2] == "Feb 2024"
    assert "Mar 1–10, 2024" in heads[-1] and "to date" in heads[-1]
    for row in re.findall(r"<tr>.*?</tr>", table[table.index("<tbody>") :], re.S):
        last = re.findall(r'<td class="num">(.*?)</td>', row, re.S)[-1]
        assert "month before" not in last, row
