"""The programs page in headless Chromium: the revenue and spend chart is drawn and a click
on a column heading sorts the programs (``static/js/sort.js``), under the self-only CSP."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.browser.test_browser import (  # noqa: F401 - fixtures
    _async_unsafe_allowed,
    browser,
    make_user,
    pytestmark,
    shoot,
    sign_in,
)
from tests.factories import AccountFactory, ProgramFactory, SpendFactory, TouchFactory, at


@pytest.mark.django_db(transaction=True)
def test_programs_page_sorts_and_draws_the_chart(live_server, browser):  # noqa: F811
    make_user("vera", "viewer")
    spends = {"Alpha": "300", "Beta": "1200", "Gamma": "700"}
    for name, amount in spends.items():
        program = ProgramFactory(name=name)
        SpendFactory(program=program, spent_on=dt.date(2024, 3, 3), amount=Decimal(amount))
        account = AccountFactory(targeted_on=dt.date(2024, 1, 1))
        TouchFactory(
            account=account, program=program, kind="form_fill", occurred_at=at(dt.date(2024, 3, 5))
        )
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    base = live_server.url
    sign_in(page, base, "vera")
    page.goto(f"{base}/programs/?from=2024-03-01&to=2024-03-31")
    chart = page.locator("svg.programs-chart")
    assert chart.is_visible()
    assert chart.locator("g.program-bar").count() == 3
    table = page.locator("[data-sortable-table] table")

    def programs() -> list[str]:
        return [t.strip() for t in table.locator("tbody tr:not(.pinned) th").all_inner_texts()]

    assert programs() == ["Alpha", "Beta", "Gamma"]  # by name
    spend = table.locator("thead th", has_text="Spend").first
    spend.locator("button").click()
    assert programs() == ["Alpha", "Gamma", "Beta"]  # 300, 700, 1,200
    assert spend.get_attribute("aria-sort") == "ascending"
    spend.locator("button").click()
    assert programs() == ["Beta", "Gamma", "Alpha"]
    assert spend.get_attribute("aria-sort") == "descending"
    # "No program" stays under the programs, the totals row in the footer.
    assert table.locator("tbody tr").last.inner_text().startswith("No program")
    assert table.locator("tfoot tr").count() == 1
    shoot(page, "programs")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert chart.bounding_box()["width"] <= 390
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    page.close()
