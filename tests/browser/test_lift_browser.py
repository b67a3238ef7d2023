"""The lift page in headless Chromium: from a list's page (with its contamination count) to
the lift of its holdout, treated against held out with intervals (#20 items 3 and 4)."""

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import HoldoutAssignment
from accounts.selectors import target_list
from accounts.services import holdout_draw
from tests.browser.test_browser import (  # noqa: F401 - fixtures
    _async_unsafe_allowed,
    browser,
    make_user,
    pytestmark,
    shoot,
    sign_in,
)
from tests.factories import AccountFactory, OpportunityFactory, ProgramFactory, TouchFactory, at

D = dt.date


@pytest.mark.django_db(transaction=True)
def test_lift_page_in_a_browser(live_server, browser):  # noqa: F811
    make_user("vera", "viewer")
    AccountFactory.create_batch(80)
    holdout = holdout_draw(target_list(), "0.25", "browser", D(2024, 6, 1))
    rows = HoldoutAssignment.objects.filter(holdout=holdout).order_by("account_id")
    treated = list(rows.filter(held_out=False).values_list("account_id", flat=True))
    held = list(rows.filter(held_out=True).values_list("account_id", flat=True))
    for pk in treated[:30]:  # 30 of 60 treated engaged with a deal of 1,000
        TouchFactory(account_id=pk, occurred_at=at(D(2024, 8, 1)))
        OpportunityFactory(account_id=pk, amount=Decimal(1000), created_on=D(2024, 8, 2))
    for pk in held[:2]:  # 2 of 20 held out engaged
        TouchFactory(account_id=pk, occurred_at=at(D(2024, 8, 1)))
    TouchFactory(
        account_id=held[5],
        program=ProgramFactory(name="Leaky ads"),
        kind="ad_impression",
        occurred_at=at(D(2024, 8, 3)),
    )
    page = browser.new_page()
    base = live_server.url
    sign_in(page, base, "vera")
    page.goto(f"{base}/lists/{target_list().pk}/?from=2024-07-01&to=2024-09-30")
    summary = page.locator("p.holdout-summary").inner_text()
    assert "25.0 %" in summary and "1 contaminating program touch on 1 held-out account" in summary
    page.click("text=Lift against the holdout")
    page.wait_for_url(f"**/lists/{target_list().pk}/lift/**")
    engaged = page.locator("tr#lift_engaged_rate")
    cells = engaged.locator("td").all_inner_texts()
    assert "50.0 %" in cells[0] and "30 of 60" in cells[0]
    assert "10.0 %" in cells[1] and "2 of 20" in cells[1]
    assert cells[2].strip() == "+40.0 pp"
    assert "newcombe" in cells[4]
    assert "Fewer than 30 accounts in a group" in cells[5]
    pipeline = page.locator("tr#lift_pipeline_per_account").locator("td").all_inner_texts()
    assert "USD 500" in pipeline[0] and "welch" in pipeline[4]
    assert page.locator("td", has_text="Leaky ads").is_visible()
    # The same KPIs as the catalogue's (compute with list=): the CSV and the KPI API call.
    assert page.locator("a.csv").get_attribute("href").endswith("format=csv")
    assert "/api/v1/kpis/?list=" in page.locator("section[aria-labelledby=lift-h]").inner_text()
    shoot(page, "list-lift")
