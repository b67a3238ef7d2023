"""The list scorecard in headless Chromium: tick two lists on /lists/, compare, then one list
against its previous period (#15 item 2)."""

import datetime as dt

import pytest

from accounts.models import AccountList, ListMembership
from tests.browser.test_browser import (  # noqa: F401 - fixtures
    _async_unsafe_allowed,
    browser,
    make_user,
    pytestmark,
    shoot,
    sign_in,
)
from tests.factories import AccountFactory, TouchFactory, at


@pytest.mark.django_db(transaction=True)
def test_list_scorecard_in_a_browser(live_server, browser):  # noqa: F811
    make_user("vera", "viewer")
    alpha = AccountFactory(name="Alpha", targeted_on=dt.date(2024, 1, 1))
    beta = AccountFactory(name="Beta", targeted_on=dt.date(2024, 1, 1))
    TouchFactory(account=alpha, occurred_at=at(dt.date(2024, 3, 5)))
    x = AccountList.objects.create(name="Product X")
    y = AccountList.objects.create(name="Segment Y")
    for account, named in ((alpha, x), (beta, x), (beta, y)):
        ListMembership.objects.create(account=account, list=named, joined_on=dt.date(2024, 1, 1))
    page = browser.new_page()
    base = live_server.url
    sign_in(page, base, "vera")
    page.goto(f"{base}/lists/?from=2024-03-01&to=2024-03-31")
    page.check(f'input[name="list"][value="{x.pk}"]')
    page.check(f'input[name="list"][value="{y.pk}"]')
    page.click("text=Compare ticked lists")
    page.wait_for_url("**/lists/compare/**")
    table = page.locator("table.table").last
    headers = table.locator("thead th").all_inner_texts()
    assert headers == ["KPI", "Product X", "Segment Y"]
    engaged = table.locator("tbody tr", has_text="Engaged rate")
    # X = {alpha, beta}: alpha engaged, 1 / 2; Y = {beta}: 0 / 1.
    cells = engaged.locator("td").all_inner_texts()
    assert "1 / 2" in cells[0] and "0 / 1" in cells[1]
    shoot(page, "list-scorecard")
    page.goto(f"{base}/lists/{x.pk}/?from=2024-03-01&to=2024-03-31")
    page.click("text=Scorecard against the previous period")
    page.wait_for_url("**compare=previous**")
    assert page.locator(
        "h2", has_text="Product X: this period against the previous one"
    ).is_visible()
    assert page.locator("table.table").last.locator("thead th").count() == 3
    shoot(page, "list-scorecard-previous")
    page.goto(f"{base}/lists/compare/")
    assert page.locator("text=No list chosen yet.").is_visible()
    page.close()
