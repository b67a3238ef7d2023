"""Live trends in headless Chromium at 1280 and 390 px (#19 item 1): on the dashboard with
a filter that has no snapshot slice (an owner), a card's trend line leads to the KPI page,
whose chart holds this period's line and the previous period's dashed one inside the
viewport; "By month" redraws it. Screenshots under /tmp/series/."""

import re
from pathlib import Path

import pytest

from tests.browser.test_browser import MARCH, csp_refusals, make_user, signed_in_page
from tests.browser.test_funnel_browser import _async_unsafe_allowed, browser  # noqa: F401
from tests.reports.test_pages import build_world

pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/series")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_a_cards_live_trend_opens_the_kpi_chart(live_server, browser, width):  # noqa: F811
    world = build_world(6)
    make_user("vera", "viewer")
    base = live_server.url
    context, page, errors = signed_in_page(browser, base, "vera", width)
    page.goto(f"{base}/?{MARCH}&owner={world['owner'].pk}")
    assert "computed live by week" in page.locator("#cards-h ~ p", has_text="Trends").inner_text()
    assert page.locator("svg.spark").count() >= 5
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#months-h").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"dashboard-{width}.png"), full_page=True)
    page.locator("a.spark-link").nth(2).click()  # the opportunity accounts card
    page.wait_for_url(re.compile(r".*/kpis/opportunity_accounts/\?.*owner=.*"))
    # A wide drawing and a narrow one (phones): exactly one shows.
    chart = page.locator("svg.trend.series:visible")
    assert chart.count() == 1
    assert ("narrow" if width < 600 else "wide") in chart.get_attribute("class")
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, box
    assert chart.locator("polyline.previous").count() == 1
    assert chart.locator("circle").count() == 5
    page.screenshot(path=str(SHOTS / f"kpi-week-{width}.png"), full_page=True)
    page.get_by_role("link", name="By month").click()
    page.wait_for_url(re.compile(r".*bucket=month.*"))
    assert page.locator('[aria-current="true"]').inner_text() == "By month"
    page.screenshot(path=str(SHOTS / f"kpi-month-{width}.png"), full_page=True)
    assert not csp_refusals(errors), errors
    context.close()
