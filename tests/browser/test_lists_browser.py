"""The account list pages in headless Chromium: the index, a list's members, its KPIs (#15)."""

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
from tests.factories import AccountFactory


@pytest.mark.django_db(transaction=True)
def test_list_pages_in_a_browser(live_server, browser):  # noqa: F811
    make_user("vera", "viewer")
    alpha = AccountFactory(name="Alpha", targeted_on=dt.date(2024, 1, 1))
    AccountFactory(name="Beta", targeted_on=dt.date(2024, 1, 1))
    named = AccountList.objects.create(name="Product X", tags=["q1"])
    ListMembership.objects.create(account=alpha, list=named, joined_on=dt.date(2024, 2, 1))
    page = browser.new_page()
    base = live_server.url
    sign_in(page, base, "vera")
    page.goto(f"{base}/lists/?from=2024-03-01&to=2024-03-31")
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 2
    target_row = rows.filter(has_text="Target accounts")
    assert target_row.locator("td.num").first.inner_text() == "2"
    shoot(page, "lists")
    page.click("text=Product X")
    page.wait_for_url(f"**/lists/{named.pk}/**")
    assert page.locator("h2", has_text="Members on Mar 31, 2024").is_visible()
    assert page.locator("table.table tbody tr").count() == 1
    assert "2024-02-01" in page.locator("table.table").inner_text()
    shoot(page, "list-detail")
    page.click("text=KPIs of this list")
    page.wait_for_url(f"**/?**list={named.pk}**")
    assert page.locator("text=List: Product X").first.is_visible()
    page.close()
