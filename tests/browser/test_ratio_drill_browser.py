"""A rate's two sides and a mean's deals in headless Chromium at 1280 and 390 px: from the
stage page a click on "numerator →" and "denominator →" lists each side, the sides link
each other, and the sales cycle's list states the mean of its rows. Screenshots under
var/screenshots/ratio-*."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from tests.browser.test_browser import MARCH, csp_refusals, make_user, shoot, signed_in_page
from tests.browser.test_funnel_browser import _async_unsafe_allowed, browser  # noqa: F401
from tests.factories import OpportunityFactory
from tests.reports.test_pages import build_world

pytestmark = [pytest.mark.browser]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_click_a_rates_sides_and_a_means_deals(live_server, browser, width):  # noqa: F811
    world = build_world(6)
    for i, status, amount in ((3, "won", "24000"), (4, "lost", "7000")):
        OpportunityFactory(
            account=world["accounts"][i],
            status=status,
            created_on=dt.date(2024, 2, 1),
            closed_on=dt.date(2024, 3, 20),
            amount=Decimal(amount),
        )
    make_user("vera", "viewer")
    base = live_server.url
    context, page, errors = signed_in_page(browser, base, "vera", width)
    page.goto(f"{base}/stages/4/?{MARCH}")
    card = page.locator("#kpi-opportunity_win_rate")
    card.get_by_role("link", name="numerator →").click()
    page.wait_for_url(re.compile(r".*/kpis/opportunity_win_rate/numerator/accounts/\?from=.*"))
    assert page.locator("h1").inner_text() == "Opportunity win rate: numerator"
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 1 and "Acme 003" in rows.first.inner_text()
    shoot(page, "ratio-numerator")
    page.get_by_role("link", name="denominator list").click()
    page.wait_for_url(re.compile(r".*/kpis/opportunity_win_rate/denominator/accounts/.*"))
    assert page.locator("table.table tbody tr").count() == 2
    shoot(page, "ratio-denominator")
    page.goto(f"{base}/kpis/sales_cycle_days/accounts/?{MARCH}")
    assert re.fullmatch(r"48(\.0)? days", page.locator(".drill-mean").inner_text())
    shoot(page, "ratio-mean-cycle")
    # A money KPI: the won deal with its amount, the total stated; a rate's page names
    # both sides; a spend ratio lists the accounts it divides by.
    page.goto(f"{base}/kpis/new_revenue_won/accounts/?{MARCH}")
    assert page.locator(".drill-total").inner_text() == "USD 24,000"
    assert "USD 24,000" in page.locator("table.table tbody tr").first.inner_text()
    shoot(page, "ratio-money-drill")
    page.goto(f"{base}/kpis/opportunity_win_rate/accounts/?{MARCH}")
    page.get_by_role("link", name="denominator").first.click()
    page.wait_for_url(re.compile(r".*/kpis/opportunity_win_rate/denominator/accounts/.*"))
    assert page.locator("table.table tbody tr").count() == 2
    page.goto(f"{base}/kpis/cost_per_won_account/denominator/accounts/?{MARCH}")
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 1 and "Engaged" in rows.first.inner_text()  # the stage name
    assert page.get_by_role("link", name="numerator list").count() == 0  # spend: no rows
    shoot(page, "ratio-spend-denominator")
    # A mean over accounts shows each account's figure: days from first touch to the win.
    page.goto(f"{base}/kpis/deal_cycle_days/accounts/?{MARCH}")
    assert page.locator(".drill-mean").inner_text() == "10.0 days"
    shoot(page, "ratio-deal-cycle")
    assert not csp_refusals(errors), errors
    context.close()
