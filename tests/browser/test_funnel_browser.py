"""The clickable funnel in headless Chromium at 1280 and 390 px: a click on a stage bar
lands on that stage's accounts, with the period and filters kept; stage velocity is a
chart; a money KPI lists its opportunities. Screenshots under var/screenshots/funnel-*."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from tests.browser.test_browser import (
    ARGS,
    CHROMIUM,
    MARCH,
    SHOTS,
    csp_refusals,
    make_user,
    shoot,
    signed_in_page,
)
from tests.factories import AccountStageChangeFactory, OpportunityFactory
from tests.reports.test_pages import build_world

pytestmark = [pytest.mark.browser]


@pytest.fixture(autouse=True)
def _async_unsafe_allowed(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_click_a_funnel_stage_to_its_accounts(live_server, browser, width):
    world = build_world(8)
    # Account 3 wins a deal of 24,000 in March: one customer. Account 0 leaves engaged
    # for opportunity on March 18 (8 days after engaging): a velocity bar.
    OpportunityFactory(
        account=world["accounts"][3],
        status="won",
        created_on=dt.date(2024, 2, 1),
        closed_on=dt.date(2024, 3, 20),
        amount=Decimal("24000"),
    )
    AccountStageChangeFactory(
        account=world["accounts"][0],
        changed_on=dt.date(2024, 3, 18),
        from_stage="engaged",
        to_stage="opportunity",
    )
    make_user("vera", "viewer")
    base = live_server.url
    context, page, errors = signed_in_page(browser, base, "vera", width)
    tier1 = world["tiers"][0].pk
    page.goto(f"{base}/?{MARCH}")
    assert page.locator("svg.funnel a.stage-link").count() == 6
    assert page.locator("svg.velocity").count() == 1
    shoot(page, "funnel-dashboard")
    # In print the charts keep their bars, counts and labels (no scroll box cuts them).
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(media="print")
    page.screenshot(path=str(SHOTS / f"funnel-dashboard-print-{width}.png"), full_page=True)
    assert page.locator("svg.funnel").bounding_box()["width"] > 0.8 * min(width, 900) - 60
    page.emulate_media(media="screen")

    # Engaged: all 8 target accounts (every snapshot is engaged at March 31).
    page.set_viewport_size({"width": width, "height": 900})
    page.locator('svg.funnel a.stage-link[data-stage="engaged"] rect').click()
    page.wait_for_url(re.compile(r".*/kpis/funnel/engaged/accounts/\?from=2024-03-01.*"))
    assert page.locator("h1").inner_text() == "ABM funnel: Engaged"
    assert page.locator("table.table tbody tr").count() == 8
    shoot(page, "funnel-stage-engaged")
    page.set_viewport_size({"width": width, "height": 900})

    # Filter on tier 1 on the dashboard, then the customer bar: account 3 is tier 2, so none.
    page.goto(f"{base}/?{MARCH}&tier={tier1}")
    page.locator('svg.funnel a.stage-link[data-stage="customer"] rect').click()
    page.wait_for_url(re.compile(rf".*/kpis/funnel/customer/accounts/\?.*tier={tier1}.*"))
    assert "Nothing behind this number" in page.content()

    # Without the filter, the customer stage is account 3.
    page.goto(f"{base}/?{MARCH}")
    page.locator('svg.funnel a.stage-link[data-stage="customer"] rect').click()
    page.wait_for_url(re.compile(r".*/kpis/funnel/customer/accounts/.*"))
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 1 and "Acme 003" in rows.first.inner_text()

    # A money KPI lists its opportunities and their total.
    page.goto(f"{base}/kpis/new_revenue_won/accounts/?{MARCH}")
    assert page.locator(".drill-total").inner_text() == "USD 24,000"
    shoot(page, "funnel-money-drill")
    assert not csp_refusals(errors), errors
    context.close()
