"""The pages in a real browser: headless Chromium (Debian's) against ``live_server``.

Signs in through the sign-in form, changes the period and a filter and sees
the numbers change, drills from a KPI into its accounts, opens an account,
runs an import with a bad row, downloads a CSV export, and saves a
screenshot of every page at 1280 and 390 pixels wide under var/screenshots/.
"""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from abm_site.models import User
from funnel.snapshots import funnel_snapshots_upsert
from tests.reports.test_pages import build_world

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PASSWORD = "pw-Long-enough-1"  # noqa: S105 - a test user's password
MARCH = "from=2024-03-01&to=2024-03-31"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture(autouse=True)
def _async_unsafe_allowed(monkeypatch):
    """Playwright's sync API runs an event loop in this thread; the ORM calls of the test
    are still plain synchronous code. Only for these tests: the variable must not leak
    into other tests' subprocesses (``check --deploy`` rejects it)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def make_user(username: str, role: str) -> User:
    """Roles are groups from a data migration; the live server's flush removes them."""
    group, _ = Group.objects.get_or_create(name=role)
    user = User.objects.create_user(username=username, password=PASSWORD)
    user.groups.add(group)
    return user


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))


def signed_in_page(browser, base: str, username: str, width: int = 1280):
    """A new browser context's page signed in as ``username``, and the console errors it
    logs (the tests check no Content-Security-Policy refusal among them)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, base, username)
    return context, page, errors


def csp_refusals(errors: list[str]) -> list[str]:
    """The console errors that are the browser refusing something under the CSP."""
    return [e for e in errors if "Content Security Policy" in e or "Refused" in e]


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def headline(page, kpi_label: str) -> str:
    card = page.locator("article.kpi", has=page.locator(f"text={kpi_label}")).first
    return card.locator(".kpi-value").inner_text().strip()


@pytest.mark.django_db(transaction=True)
def test_pages_in_a_browser(live_server, browser, tmp_path):
    world = build_world(8)
    # A richer world for the screenshots: a won deal, a surge, FunnelSnapshots for trends.
    from tests.factories import OpportunityFactory

    OpportunityFactory(
        account=world["accounts"][3],
        status="won",
        created_on=dt.date(2024, 2, 1),
        closed_on=dt.date(2024, 3, 20),
        amount=Decimal("24000"),
    )
    for day in (
        dt.date(2024, 3, 10),
        dt.date(2024, 3, 17),
        dt.date(2024, 3, 24),
        dt.date(2024, 3, 31),
    ):
        funnel_snapshots_upsert(day)
    make_user("vera", "viewer")
    make_user("ed", "editor")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Sign in and open the dashboard.
    sign_in(page, base, "ed")
    page.goto(f"{base}/?{MARCH}")
    assert page.locator("svg.funnel").count() == 1
    assert headline(page, "Engaged target accounts") == "8"
    shoot(page, "dashboard")

    # Change the period with the picker: April has no engagement.
    page.select_option("#fb-period", "custom")
    page.fill("#fb-from", "2024-04-01")
    page.fill("#fb-to", "2024-04-30")
    page.click("#filterbar button[type=submit]")
    page.wait_for_url(re.compile(r".*from=2024-04-01.*"))
    assert headline(page, "Engaged target accounts") == "0"

    # Back to March and filter on tier 2: half the accounts.
    page.goto(f"{base}/?{MARCH}")
    page.click("details.multi summary:has-text('Tier')")
    page.check(f"input[name=tier][value='{world['tiers'][1].pk}']")
    page.click("#filterbar button[type=submit]")
    page.wait_for_url(re.compile(r".*tier=.*"))
    assert headline(page, "Engaged target accounts") == "4"
    # The filters travel with the navigation.
    href = page.locator("nav.mainnav a", has_text="Accounts").get_attribute("href")
    assert f"tier={world['tiers'][1].pk}" in href and "from=2024-03-01" in href

    # Drill from a KPI into its accounts, then open one.
    page.goto(f"{base}/stages/2/?{MARCH}")
    shoot(page, "stage-2")
    page.locator("#kpi-engaged_target_accounts .kpi-value a").click()
    page.wait_for_url(re.compile(r".*/kpis/engaged_target_accounts/accounts/.*"))
    assert page.locator("table.table tbody tr").count() == 8
    shoot(page, "drilldown")
    page.locator("table.table tbody tr a").first.click()
    page.wait_for_url(re.compile(r".*/accounts/\d+/.*"))
    assert page.locator("h2:has-text('Buying committee')").count() == 1
    # The scores' working (issue 20): three tables, engagement's with its web visit.
    made = page.locator("section[aria-labelledby='made-h']")
    assert made.locator("table.score-parts").count() == 3
    assert made.locator("table.score-parts").first.locator("td", has_text="Web visit").count() == 1
    shoot(page, "account-detail")

    # The definition tooltip shows on keyboard focus.
    page.goto(f"{base}/stages/1/?{MARCH}")
    tip = page.locator("#kpi-target_accounts .tip")
    assert not tip.is_visible()
    page.locator("#kpi-target_accounts .def").focus()
    assert tip.is_visible()
    shoot(page, "stage-1")

    for name, path in (
        ("accounts", "/accounts/"),
        ("programs", "/programs/"),
        ("cohorts", "/cohorts/"),
        ("status", "/status/"),
        ("stage-4", "/stages/4/"),
        ("stage-5", "/stages/5/"),
    ):
        page.goto(f"{base}{path}?{MARCH}")
        assert page.locator("h1").count() == 1
        shoot(page, name)

    # Download a CSV export.
    page.goto(f"{base}/accounts/?{MARCH}")
    with page.expect_download() as info:
        page.click("a.csv")
    download = info.value
    assert download.suggested_filename == "accounts-20240301-20240331.csv"
    saved = tmp_path / "accounts.csv"
    download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("account_id,name,domain") and len(lines) == 9

    # Run an import with a bad row and read the report.
    csv_file = tmp_path / "accounts-import.csv"
    csv_file.write_text(
        "name,domain,employees\nNew Co,new.example,10\nBroken,broken.example,many\n"
    )
    page.goto(f"{base}/imports/")
    page.select_option("#id_kind", "accounts")
    page.set_input_files("#id_file", str(csv_file))
    shoot(page, "import")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("text=2 rows read")
    assert page.locator("tr.bad").count() == 1
    shoot(page, "import-preview")
    page.click("text=Run the import")
    page.wait_for_selector("h1:has-text('Import report')")
    assert "2 rows read: 1 created, 0 updated, 0 unchanged, 1 rejected." in page.content()
    with page.expect_download() as info:
        page.click("text=Download the rejected rows as CSV")
    rejected = tmp_path / "rejected.csv"
    info.value.save_as(rejected)
    assert rejected.read_text().splitlines()[1].startswith("3,employees,")
    shoot(page, "import-report")

    # A viewer sees no import link and gets 403 on the page.
    context.clear_cookies()
    sign_in(page, base, "vera")
    assert page.locator("nav.mainnav a", has_text="Imports").count() == 0
    response = page.goto(f"{base}/imports/")
    assert response.status == 403

    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    context.close()
    # The README's screenshot (docs/dashboard.png) is the real demo's, taken from a fresh
    # clone's `make run`; the test world's dashboard stays among the test's screenshots.


@pytest.mark.django_db(transaction=True)
def test_mapping_editor_in_a_browser(live_server, browser, tmp_path):
    """Map a file no profile reads: each changed drop-down previews again (the script),
    then save the mapping as a profile."""
    from ingest.models import SavedMapping
    from tests.reports.test_import_editor import ERP

    make_user("ed", "editor")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, base, "ed")
    csv_file = tmp_path / "firms.csv"
    csv_file.write_text(ERP, encoding="utf-8")
    page.goto(f"{base}/imports/")
    page.select_option("#id_kind", "accounts")
    page.set_input_files("#id_file", str(csv_file))
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("text=No shipped or saved mapping reads this header")
    for select, field in (
        ("#id_col_0", "name"),
        ("#id_col_1", "domain"),
        ("#id_col_4", "targeted_on"),
        ("#id_date_order", "dmy"),
    ):
        with page.expect_navigation():
            page.select_option(select, field)  # the page previews again by itself
    assert "2 rows read: 2 would be created" in page.content()
    page.fill("#id_profile_name", "erp-firms")
    page.click("button[value=save]")
    page.wait_for_selector("text=Saved as profile")
    shoot(page, "import-editor")
    assert SavedMapping.objects.get(name="erp-firms").data["date_order"] == "dmy"
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    context.close()
