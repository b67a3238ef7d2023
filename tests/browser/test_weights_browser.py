"""The score weights page in headless Chromium (#20 item 2): an admin edits a weight, sees a
bad value named, previews the change, saves it as a new default version."""

import datetime as dt

import pytest
from django.utils import timezone

from funnel.definitions import definitions_resolve
from funnel.models import DefinitionsVersion
from tests.browser.test_browser import (  # noqa: F401 - fixtures
    _async_unsafe_allowed,
    browser,
    make_user,
    pytestmark,
    shoot,
    sign_in,
)
from tests.factories import AccountFactory, TouchFactory

FORM_FILL = 'input[name="engagement_weights.form_fill"]'


@pytest.mark.django_db(transaction=True)
def test_edit_preview_save_in_a_browser(live_server, browser):  # noqa: F811
    make_user("ada", "admin")
    noon = timezone.make_aware(
        dt.datetime.combine(timezone.localdate() - dt.timedelta(days=1), dt.time(12))
    )
    TouchFactory(account=AccountFactory(is_target=True), kind="form_fill", occurred_at=noon)
    TouchFactory(account=AccountFactory(is_target=True), kind="web_visit", occurred_at=noon)
    page = browser.new_page()
    base = live_server.url
    sign_in(page, base, "ada")
    page.click("nav >> text=Weights")
    page.wait_for_url("**/weights/")
    assert page.input_value(FORM_FILL) == "8"

    page.fill(FORM_FILL, "-1")
    page.click("text=Preview the change")
    errors = page.locator("#weights-errors")
    assert "engagement_weights.form_fill must be 0 or more (got -1)" in errors.inner_text()
    assert page.locator("#preview").count() == 0

    page.fill(FORM_FILL, "20")
    page.click("text=Preview the change")
    preview = page.locator("#preview")
    assert "engagement_weights.form_fill" in preview.inner_text()
    row = page.locator("#preview-accounts tr", has_text="Engagement score")
    assert row.locator("td").inner_text() == "1"  # the form-fill account: 8 -> 20
    assert page.locator("#preview-kpis tbody tr").count() >= 6
    shoot(page, "weights-preview")

    page.fill('input[name="name"]', "v2-forms")
    page.fill('textarea[name="note"]', "Form fills count more.")
    page.check('input[name="make_default"]')
    page.click("text=Save new version")
    page.wait_for_url("**/weights/?base=v2-forms")
    assert "made it the default" in page.locator("ul.messages").inner_text()
    saved = page.locator("#versions tr", has_text="v2-forms")
    assert "default" in saved.inner_text() and "Form fills count more." in saved.inner_text()
    assert page.input_value(FORM_FILL) == "20"
    page.close()

    new = DefinitionsVersion.objects.get(name="v2-forms")
    assert new.is_default and new.params["engagement_weights"]["form_fill"] == 20
    assert definitions_resolve("v2").params["engagement_weights"]["form_fill"] == 8.0
