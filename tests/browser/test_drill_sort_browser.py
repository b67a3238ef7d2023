"""Sorting a drill-down in headless Chromium at 1280 and 390 px: a click on the figure's
heading (touches to win) orders the accounts by it as a number, largest first, a second
click reverses it, and the CSV link carries the order. Screenshots under /tmp/drill-sort-*."""

import re
from pathlib import Path

import pytest

from tests.browser.test_browser import MARCH, csp_refusals, make_user, signed_in_page
from tests.browser.test_funnel_browser import _async_unsafe_allowed, browser  # noqa: F401
from tests.reports.test_drill_sort import make_won_world

pytestmark = [pytest.mark.browser]

SHOTS = Path("/tmp/drill-sort")


def _names(page) -> list[str]:
    return [t.strip() for t in page.locator("table.table tbody th[scope=row] a").all_inner_texts()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_click_the_figure_heading_to_sort_by_it(live_server, browser, width):  # noqa: F811
    make_won_world()
    make_user("vera", "viewer")
    base = live_server.url
    context, page, errors = signed_in_page(browser, base, "vera", width)
    page.goto(f"{base}/kpis/touches_per_won_account/accounts/?{MARCH}")
    assert _names(page) == ["Acme 000", "Acme 001", "Acme 002"]
    page.get_by_role("link", name="Touches to win").click()
    page.wait_for_url(re.compile(r".*sort=-figure.*"))
    # 10, 2, 1 touches: numeric order (as text "2" would come before "10").
    assert _names(page) == ["Acme 001", "Acme 002", "Acme 000"]
    cells = page.locator("table.table tbody td.num[data-sort]")
    assert cells.last.inner_text().strip() == "1"
    assert "sort=-figure" in page.get_by_role("link", name="Download CSV").get_attribute("href")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"figure-desc-{width}.png"), full_page=True)
    page.get_by_role("link", name=re.compile("Touches to win")).click()
    page.wait_for_url(re.compile(r".*sort=figure.*"))
    assert _names(page) == ["Acme 000", "Acme 002", "Acme 001"]
    page.screenshot(path=str(SHOTS / f"figure-asc-{width}.png"), full_page=True)
    page.goto(f"{base}/kpis/new_revenue_won/accounts/?{MARCH}")
    page.get_by_role("link", name="Amount").click()
    page.wait_for_url(re.compile(r".*sort=-amount.*"))
    amounts = page.locator("table.table tbody td.num").all_inner_texts()
    assert [a for a in amounts if a.startswith("USD")] == ["USD 100,000", "USD 24,000", "USD 9,000"]
    page.screenshot(path=str(SHOTS / f"amount-desc-{width}.png"), full_page=True)
    assert not csp_refusals(errors), errors
    context.close()
