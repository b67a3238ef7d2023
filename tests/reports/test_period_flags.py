"""A period ending after today, or starting before the data, says so on the stage pages,
the KPI page and in the API's period echo, not only on the dashboard (#19 item 6), with
one rule (``reports.selectors.period_status``).

build_world(3): the data starts on March 5, 2024 (the first opportunity; touches on
March 10). March 2024 starts before it; May 2024 (compared with April) does not.
"""

import datetime as dt
import re

import pytest
from django.utils import timezone

from funnel.kpis import Period
from reports.selectors import PeriodStatus, starts_before_data
from tests.reports.test_pages import MARCH, body, build_world

D = dt.date
MAY = "from=2024-05-01&to=2024-05-31"
BEFORE = "This period starts on Mar 1, 2024, before the data does"
SINCE = "the first touch or opportunity is on Mar 5, 2024"


@pytest.fixture
def signed_in(client, viewer, db):
    build_world(3)
    client.force_login(viewer)
    return client


def _future_query() -> tuple[str, dt.date]:
    today = timezone.localdate()
    end = today + dt.timedelta(days=30)
    return f"from={today - dt.timedelta(days=10)}&to={end}", end


def test_the_rule_on_its_own():
    may = Period(D(2024, 5, 1), D(2024, 5, 31))
    assert not starts_before_data(may, D(2024, 3, 5))
    assert starts_before_data(may, D(2024, 5, 2))
    assert not starts_before_data(may, D(2024, 5, 1))  # the first day with data: no gap
    assert starts_before_data(may, None)  # no data at all
    status = PeriodStatus(may, D(2024, 3, 5), today=D(2024, 5, 31))
    assert status.echo() == {
        "ends_after_today": False,
        "starts_before_data": False,
        "data_start": "2024-03-05",
    }
    assert PeriodStatus(may, D(2024, 3, 5), today=D(2024, 5, 30)).ends_after_today
    assert status.note() == ""


@pytest.mark.parametrize("url", ["/stages/2/", "/kpis/engaged_target_accounts/", "/"])
def test_pages_say_a_period_starts_before_the_data(signed_in, url):
    march = body(signed_in.get(f"{url}?{MARCH}"))
    assert BEFORE in march and SINCE in march
    may = body(signed_in.get(f"{url}?{MAY}"))
    assert "before the data does" not in may


@pytest.mark.parametrize("url", ["/stages/5/", "/kpis/renewal_rate/"])
def test_pages_say_a_period_ends_after_today(signed_in, url):
    query, end = _future_query()
    html = body(signed_in.get(f"{url}?{query}"))
    assert f"This period ends on {end:%b %-d, %Y}, after today" in html
    assert "after today" not in body(signed_in.get(f"{url}?{MAY}"))


def test_the_kpi_page_shows_no_change_against_a_period_before_the_data(signed_in):
    march = body(signed_in.get(f"/kpis/engaged_target_accounts/?{MARCH}"))
    head = march[: march.index('id="trend-h"')]
    assert "no earlier data to compare" in head
    assert not re.search(r"[+−-]\d+\.\d %", head)  # no change against an empty February
    may = body(signed_in.get(f"/kpis/engaged_target_accounts/?{MAY}"))
    assert "no earlier data to compare" not in may[: may.index('id="trend-h"')]


def test_kpi_page_weeks_before_the_data_show_no_previous_value(signed_in):
    """A week of the previous period before the data has no value, not a zero."""
    march = body(signed_in.get(f"/kpis/engaged_target_accounts/?{MARCH}"))
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", march, re.S)
    before = [r for r in rows if "no earlier data" in r]
    assert before, "the March page has weeks compared with weeks before the data"
    for row in before:
        cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
        assert "before the data starts" in cells[1] and ">0<" not in cells[1]


def test_the_api_echo_says_so(signed_in, viewer_api):
    for path in ("/api/v1/kpis/", "/api/v1/kpis/engaged_target_accounts/"):
        march = viewer_api.get(path, {"from": "2024-03-01", "to": "2024-03-31"}).json()
        assert march["period"] == {
            "from": "2024-03-01",
            "to": "2024-03-31",
            "ends_after_today": False,
            "starts_before_data": True,
            "data_start": "2024-03-05",
        }
        may = viewer_api.get(path, {"from": "2024-05-01", "to": "2024-05-31"}).json()
        assert may["period"]["starts_before_data"] is False
    today = timezone.localdate()
    future = viewer_api.get(
        "/api/v1/kpis/engaged_target_accounts/series/",
        {"from": str(today - dt.timedelta(days=10)), "to": str(today + dt.timedelta(days=30))},
    ).json()
    assert future["period"]["ends_after_today"] is True
    assert future["period"]["starts_before_data"] is False
