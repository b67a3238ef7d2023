"""The server-rendered pages: status, content, filters kept in links, permissions, CSV
exports and pinned query counts at two data sizes."""

import csv
import datetime as dt
import io
import os
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from funnel.kpis import REGISTRY, catalogue, preset_period
from funnel.models import RecomputeRun
from funnel.snapshots import funnel_snapshots_upsert
from tests.factories import (
    AccountFactory,
    AccountSnapshotFactory,
    AccountStageChangeFactory,
    IntentSignalFactory,
    NpsResponseFactory,
    OpportunityFactory,
    OwnerFactory,
    ProgramFactory,
    SpendFactory,
    StakeholderFactory,
    TierFactory,
    TouchFactory,
    UserFactory,
    at,
)

MARCH = "from=2024-03-01&to=2024-03-31"
D = dt.date


def build_world(n: int) -> dict:
    """``n`` target accounts in two tiers, touches, deals, people, snapshots and two programs.

    Account i (0-based): tier 1 when i is even, else tier 2; engagement score i
    and relationship score 2i in the snapshot of 2024-03-31; a web visit of
    program 1 on March 10 for every account; a new-business opportunity
    created on March 5 for accounts with i % 3 == 0. Spend: 1,000 for program
    1 and 500 for program 2 in March.
    """
    t1, t2 = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    owner = OwnerFactory(name="Rita Rep", user=UserFactory(username="rep"))
    p1, p2 = ProgramFactory(name="Alpha"), ProgramFactory(name="Beta")
    SpendFactory(program=p1, spent_on=D(2024, 3, 3), amount=Decimal("1000"))
    SpendFactory(program=p2, spent_on=D(2024, 3, 4), amount=Decimal("500"))
    accounts = []
    for i in range(n):
        a = AccountFactory(name=f"Acme {i:03d}", tier=t1 if i % 2 == 0 else t2, owner=owner)
        accounts.append(a)
        person = StakeholderFactory(account=a, name=f"Pat {i}", buying_role="champion")
        StakeholderFactory(account=a, name=f"Quiet {i}", buying_role="decision_maker")
        TouchFactory(
            account=a,
            stakeholder=person,
            program=p1,
            kind="web_visit",
            occurred_at=at(D(2024, 3, 10)),
        )
        if i % 3 == 0:
            OpportunityFactory(account=a, created_on=D(2024, 3, 5), amount=Decimal("5000"))
        AccountSnapshotFactory(
            account=a,
            date=D(2024, 3, 31),
            stage="engaged",
            is_target=True,
            engagement_score=Decimal(i),
            relationship_score=Decimal(min(2 * i, 100)),
            research_grade=3 if i == 1 else 0,
            intent_surge=(i == 1),
            open_pipeline=Decimal("5000") if i % 3 == 0 else Decimal(0),
            last_touch_at=at(D(2024, 3, 10)),
        )
    first = accounts[0]
    AccountStageChangeFactory(
        account=first, changed_on=D(2024, 3, 10), from_stage="target", to_stage="engaged"
    )
    IntentSignalFactory(
        account=first, topic="crm software", week=D(2024, 3, 25), provider_surge=True
    )
    NpsResponseFactory(account=first, score=9, responded_on=D(2024, 3, 20))
    RecomputeRun.objects.create(
        date=D(2024, 3, 31),
        kind="backfill",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        accounts=n,
    )
    return {"tiers": (t1, t2), "programs": (p1, p2), "accounts": accounts, "owner": owner}


@pytest.fixture
def world(db):
    return build_world(6)


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    client.get(reverse("reports:status"))  # the session's first request writes its timestamps
    return client


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(body(response))))


# --- period and filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("last_30", D(2024, 4, 15), D(2024, 5, 14)),
        ("last_90", D(2024, 2, 15), D(2024, 5, 14)),
        ("qtd", D(2024, 4, 1), D(2024, 5, 14)),
        ("last_quarter", D(2024, 1, 1), D(2024, 3, 31)),
        ("ytd", D(2024, 1, 1), D(2024, 5, 14)),
    ],
)
def test_presets_end_yesterday(preset, start, end):
    period = preset_period(preset, today=D(2024, 5, 15))
    assert (period.start, period.end) == (start, end)


def test_default_period_is_last_90_days_ending_yesterday(viewer_client, world):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    html = body(viewer_client.get("/"))
    assert f'value="{yesterday.isoformat()}"' in html
    assert f'value="{(yesterday - dt.timedelta(days=89)).isoformat()}"' in html
    assert '<option value="last_90" selected>' in html


def test_bad_values_name_the_field_and_fall_back(viewer_client, world):
    response = viewer_client.get("/?tier=abc&from=2024-13-01&to=2024-03-31&cohort=vip")
    assert response.status_code == 200
    html = body(response)
    assert "Tier:" in html and "&#x27;abc&#x27;" in html
    assert "From:" in html
    assert "Cohort:" in html and "vip" in html
    assert '<option value="last_90" selected>' in html  # fell back to the default period


def test_reversed_custom_period_is_refused(viewer_client, world):
    html = body(viewer_client.get("/?from=2024-03-31&to=2024-03-01"))
    assert "From: 2024-03-31 is after To 2024-03-01" in html


def test_a_period_reaching_past_today_says_so(viewer_client, world):
    """A future period used to be accepted silently: renewal rate 0.0 %, -100 % on every
    count (#19). It still computes (a plan for the quarter is a fair question) but says
    that the days after today have no data yet."""
    from django.utils import timezone

    today = timezone.localdate()
    end = today + dt.timedelta(days=30)
    html = body(viewer_client.get(f"/?from={today - dt.timedelta(days=10)}&to={end}"))
    assert f"This period ends on {end:%b %-d, %Y}, after today" in html
    assert "the days after today have no data yet" in html
    quiet = body(viewer_client.get(f"/?{MARCH}"))
    assert "after today" not in quiet


def test_filters_are_kept_in_links_between_pages(viewer_client, world):
    t1 = world["tiers"][0]
    html = body(viewer_client.get(f"/?{MARCH}&tier={t1.pk}&cohort=all"))
    query = f"from=2024-03-01&amp;to=2024-03-31&amp;tier={t1.pk}&amp;cohort=all"
    for path in ("/stages/1/", "/stages/6/", "/accounts/", "/programs/", "/cohorts/", "/status/"):
        assert f'href="{path}?{query}"' in html, path
    # Links to accounts and drill-downs carry them too.
    assert f"/kpis/target_accounts/accounts/?{query}" in html
    stage = body(viewer_client.get(f"/stages/2/?{MARCH}&tier={t1.pk}"))
    drill = "/kpis/engaged_target_accounts/accounts/"
    assert f"{drill}?from=2024-03-01&amp;to=2024-03-31&amp;tier={t1.pk}" in stage


# --- pages --------------------------------------------------------------------------------------


def test_dashboard_shows_funnel_cards_and_lists(viewer_client, world):
    html = body(viewer_client.get(f"/?{MARCH}"))
    # The funnel (definitions v2: stage as of the end of the period) and its flow beside it.
    assert '<svg class="funnel"' in html and "ABM funnel: Target 6" in html
    assert "Flow in the period" in html and "Target → Engaged" in html
    for n in range(1, 7):
        assert f'href="/stages/{n}/?{MARCH.replace("&", "&amp;")}"' in html
    assert "Surging accounts" in html and "Acme 001" in html  # the one surging snapshot
    assert "At-risk customers" in html


def test_dashboard_numbers_change_with_period_and_filter(viewer_client, world):
    t2 = world["tiers"][1]
    march = body(viewer_client.get(f"/?{MARCH}"))
    tier2 = body(viewer_client.get(f"/?{MARCH}&tier={t2.pk}"))
    april = body(viewer_client.get("/?from=2024-04-01&to=2024-04-30"))
    engaged = re.compile(
        r"Engaged target accounts<span.*?kpi-value\">(?:<a [^>]*>)?([\d,—]+)", re.S
    )
    assert engaged.search(march).group(1) == "6"
    assert engaged.search(tier2).group(1) == "3"
    assert engaged.search(april).group(1) == "0"


def test_dashboard_without_snapshots_draws_live_trends(viewer_client, world):
    """No snapshots yet (#19): the cards' trends are computed live, 13 weeks to the end."""
    html = body(viewer_client.get(f"/?{MARCH}"))
    # Renewal rate has no renewals to divide by: no value, so no line (and it says so).
    assert html.count('<svg class="spark"') == 5
    assert "no trend: fewer than 2 points with a value" in html
    assert "computed live by week for these filters, 13 weeks to Mar 31, 2024" in html


def test_dashboard_trend_from_funnel_snapshots(viewer_client, world):
    for day in (D(2024, 3, 17), D(2024, 3, 24), D(2024, 3, 31)):
        funnel_snapshots_upsert(day)
    html = body(viewer_client.get(f"/?{MARCH}"))
    assert '<svg class="spark"' in html
    assert "3 points from Mar 17 to Mar 31, 2024" in html


@pytest.mark.parametrize("stage", range(1, 7))
def test_stage_page_lists_every_kpi_of_the_stage(viewer_client, world, stage):
    html = body(viewer_client.get(f"/stages/{stage}/?{MARCH}"))
    specs = [s for s in catalogue(2) if s.stage == stage]  # the definitions in force
    assert specs
    for spec in specs:
        assert f'id="kpi-{spec.id}"' in html
        if spec.drilldown:
            assert f"/kpis/{spec.id}/accounts/?" in html
        elif "numerator" in spec.drill_parts:
            assert f"/kpis/{spec.id}/numerator/accounts/?" in html
    assert "opportunitys" not in html and "1 points" not in html  # #19's rough edges


def test_stage_page_shows_parts_and_definitions(viewer_client, world):
    html = body(viewer_client.get(f"/stages/2/?{MARCH}"))
    # engaged_rate = 6 engaged / 6 targets.
    assert re.search(r'id="kpi-engaged_rate".*?100\.0 %.*?6 / 6', html, re.S)
    assert 'class="tip" role="tooltip"' in html and 'tabindex="0"' in html


def test_unknown_stage_is_404(viewer_client, world):
    assert viewer_client.get("/stages/7/").status_code == 404


def test_drilldown_lists_the_accounts_behind_a_count(viewer_client, world):
    html = body(viewer_client.get(f"/kpis/opportunity_accounts/accounts/?{MARCH}"))
    # Accounts 0 and 3 have a new-business opportunity created in March.
    assert "Acme 000" in html and "Acme 003" in html and "Acme 001" not in html
    assert "<strong>2</strong> accounts" in html


def test_drilldown_of_opportunities(viewer_client, world):
    html = body(viewer_client.get(f"/kpis/open_opportunities/accounts/?{MARCH}"))
    assert "USD 5,000" in html and "<strong>2</strong> opportunities" in html


def test_drilldown_unknown_is_404_and_a_rate_names_its_lists(viewer_client, world):
    assert viewer_client.get("/kpis/nope/accounts/").status_code == 404
    ratio = viewer_client.get(f"/kpis/engaged_rate/accounts/?{MARCH}")
    assert ratio.status_code == 200  # its rows are its two sides' lists
    spend = viewer_client.get(f"/kpis/cost_per_engaged_account/accounts/?{MARCH}")
    assert spend.status_code == 404  # marked without a population: says why
    assert "Spend is program money, not rows" in spend.content.decode()
    # A page of the product (not Django's debug 404) that leads to the lists it is made of.
    html = ratio.content.decode()
    assert "has no single list behind it" in html and 'class="mainnav"' in html
    assert f'href="/kpis/engaged_target_accounts/accounts/?{MARCH.replace("&", "&amp;")}"' in html
    assert f'href="/kpis/target_accounts/accounts/?{MARCH.replace("&", "&amp;")}"' in html


def test_account_list_sorts_on_the_latest_snapshot(viewer_client, world):
    html = body(viewer_client.get(f"/accounts/?{MARCH}&sort=-engagement"))
    names = re.findall(r">(Acme \d{3})</a>", html)
    assert names == [f"Acme {i:03d}" for i in (5, 4, 3, 2, 1, 0)]
    html = body(viewer_client.get(f"/accounts/?{MARCH}&sort=relationship"))
    assert re.findall(r">(Acme \d{3})</a>", html)[0] == "Acme 000"


def test_account_list_filters(viewer_client, world):
    t2 = world["tiers"][1]
    html = body(viewer_client.get(f"/accounts/?{MARCH}&q=acme 00&tier={t2.pk}"))
    assert re.findall(r">(Acme \d{3})</a>", html) == ["Acme 001", "Acme 003", "Acme 005"]
    html = body(viewer_client.get(f"/accounts/?{MARCH}&surging=1"))
    assert re.findall(r">(Acme \d{3})</a>", html) == ["Acme 001"]
    html = body(viewer_client.get(f"/accounts/?{MARCH}&stage=customer"))
    assert "No accounts match." in html
    AccountFactory(name="Outsider", is_target=False)
    html = body(viewer_client.get(f"/accounts/?{MARCH}&is_target=false"))
    assert re.findall(r">(Acme \d{3}|Outsider)</a>", html) == ["Outsider"]
    html = body(viewer_client.get(f"/accounts/?{MARCH}&fit_grade=A"))
    assert "No accounts match." in html
    html = body(viewer_client.get(f"/accounts/?{MARCH}&sort=bogus"))
    assert "Sort:" in html  # named, ignored, page still renders


def test_account_list_paginates_by_50_and_keeps_filters(viewer_client, db):
    build_world(53)
    html = body(viewer_client.get(f"/accounts/?{MARCH}&sort=-engagement"))
    assert len(re.findall(r">(Acme \d{3})</a>", html)) == 50
    assert "Page 1 of 2" in html
    assert "from=2024-03-01&amp;to=2024-03-31&amp;page=2&amp;sort=-engagement" in html


def test_account_detail(viewer_client, world):
    a = world["accounts"][0]
    html = body(viewer_client.get(f"/accounts/{a.pk}/?{MARCH}"))
    assert "Buying committee" in html and "1 of 2 engaged" in html
    assert "Pat 0" in html and "(engaged)" in html and "(not engaged)" in html
    assert "Web visit" in html  # the touch timeline
    assert "crm software" in html and "surge" in html
    assert "Target → <strong>Engaged</strong>" in html
    assert "USD 5,000" in html  # the opportunity
    assert "NPS responses" in html and ">9<" in html
    # Outside the period: no touches, nobody engaged.
    html = body(viewer_client.get(f"/accounts/{a.pk}/?from=2024-05-01&to=2024-05-31"))
    assert "0 of 2 engaged" in html and "No touches in this period" in html


def test_programs_page(viewer_client, world):
    html = body(viewer_client.get(f"/programs/?{MARCH}"))
    assert "Alpha" in html and "Beta" in html
    # Alpha: spend 1,000, all 6 accounts touched by it and engaged: 1,000 / 6 = 166.67.
    assert "USD 1,000" in html and "USD 166.67" in html


def test_programs_page_attribution_reconciles(viewer_client, world):
    """Accounts 0 and 3 have a 5,000 open deal created March 5; Alpha's web visits come
    after it (March 10). A form fill of Beta on March 1 gives account 0's deals to Beta;
    account 3's deal has no program touch before creation: "No program". A 2,000 deal of
    account 0 created March 2 and won March 20 sees Beta (March 1) before creation and
    Alpha (March 10) before the win: linear revenue 1,000 each."""
    alpha, beta = world["programs"]
    account = world["accounts"][0]
    TouchFactory(account=account, program=beta, kind="form_fill", occurred_at=at(D(2024, 3, 1)))
    OpportunityFactory(
        account=account,
        status="won",
        amount=Decimal("2000"),
        created_on=D(2024, 3, 2),
        closed_on=D(2024, 3, 20),
    )
    html = body(viewer_client.get(f"/programs/?{MARCH}&model=linear"))
    assert 'aria-current="true">Linear<' in html and "W-shaped (30/30/30/10)</a>" in html
    assert "No program" in html
    # Pipeline 12,000 = Beta 5,000 + 2,000, no program 5,000; revenue 2,000.
    assert "pipeline (USD 12,000) and new revenue won (USD 2,000)" in html
    rows = {
        r[1]: r for r in csv_rows(viewer_client.get(f"/programs/?{MARCH}&model=linear&format=csv"))
    }
    header = rows["program"]
    col = {name: header.index(name) for name in header}
    assert rows["Alpha"][col["attributed_pipeline"]] == "0.00"
    assert rows["Beta"][col["attributed_pipeline"]] == "7000.00"
    assert rows["No program"][col["attributed_pipeline"]] == "5000.00"
    assert rows["No program"][col["program_id"]] == ""
    assert rows["Alpha"][col["attributed_revenue"]] == "1000.00"
    assert rows["Beta"][col["attributed_revenue_pre"]] == "1000.00"
    assert rows["Alpha"][col["attributed_revenue_post"]] == "1000.00"  # after creation
    # ROI: attributed revenue / spend: Alpha 1,000 / 1,000, Beta 1,000 / 500.
    assert Decimal(rows["Alpha"][col["attribution_roi"]]) == 1
    assert Decimal(rows["Beta"][col["attribution_roi"]]) == 2
    # Same totals as the KPIs.
    from funnel.kpis import Filters, Period, compute

    kpis = {
        i["id"]: i
        for i in compute(
            Period(D(2024, 3, 1), D(2024, 3, 31)),
            Filters(),
            ids=["influenced_pipeline_share", "new_revenue_won"],
        )["kpis"]
    }
    assert kpis["influenced_pipeline_share"]["denominator"] == 12000.0
    assert kpis["new_revenue_won"]["value"] == 2000.0
    bad = body(viewer_client.get(f"/programs/?{MARCH}&model=pie"))
    assert "Unknown attribution model &#x27;pie&#x27;" in bad


def test_cohorts_page(viewer_client, world):
    html = body(viewer_client.get(f"/cohorts/?{MARCH}"))
    assert "ABM against non-ABM" in html and "Tier against tier" in html
    assert "Tier 1" in html and "Tier 2" in html
    for metric in ("average_deal_value", "opportunity_win_rate", "net_promoter_score"):
        assert REGISTRY[metric].label in html
    # n beside every value, a Wilson interval for rates, small samples marked (#19).
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # Opportunity rate, each tier: 1 of 3 accounts; Wilson 95 %: 6.2 %-79.2 %.
    assert text.count("33.3 % n = 3 6.2 %–79.2 % small") == 2
    assert "100.0 n = 1 small" in text  # the ABM NPS rests on one response
    assert "— n = 0" in text  # no deals: the value is empty and says why
    rows = csv_rows(viewer_client.get(f"/cohorts/?{MARCH}&format=csv"))
    header = rows[0]
    assert header[-4:] == ["abm_n", "non_abm_n", "tier:Tier 1_n", "tier:Tier 2_n"]
    nps = next(r for r in rows if r[1] == "net_promoter_score" and r[0] == "abm_vs_non_abm")
    assert nps[header.index("abm_n")] == "1"


def test_status_page(viewer_client, world):
    html = body(viewer_client.get("/status/"))
    assert "Backfill" in html and "Succeeded" in html
    assert "Database</strong>: reachable" in html
    assert re.search(r"<dt>Accounts</dt><dd>6", html)
    assert re.search(r"<dt>Touches</dt><dd>6", html)
    # The world's backfill ran just now and no nightly run yet: waiting, not red (#19).
    assert '<li class="waiting"><strong>Nightly recompute</strong>' in html
    assert "Waiting for the first nightly run (daily at" in html
    assert "start the worker and beat" not in html


# --- permissions ----------------------------------------------------------------------------------


PAGES = [
    "/",
    "/stages/3/",
    "/kpis/won_accounts/accounts/",
    "/accounts/",
    "/programs/",
    "/cohorts/",
    "/status/",
]


@pytest.mark.parametrize("url", PAGES + ["/imports/"])
def test_pages_need_a_signed_in_user(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("url", PAGES)
def test_viewers_see_every_page(viewer_client, world, url):
    response = viewer_client.get(url)
    assert response.status_code == 200
    assert 'href="/imports/' not in body(response)  # no import link for viewers


def test_viewers_cannot_import(viewer_client, world):
    assert viewer_client.get("/imports/").status_code == 403
    assert viewer_client.post("/imports/", {"action": "preview"}).status_code == 403


def test_no_role_user_is_refused(client, no_role_user, world):
    client.force_login(no_role_user)
    assert client.get("/").status_code == 403


# --- imports ------------------------------------------------------------------------------------------


BAD_CSV = (
    "name,domain,employees\n"
    "Good Co,good.example,120\n"
    "Bad Co,bad.example,lots\n"
    "Also Good,also.example,5\n"
)


def upload(client, text: str, kind: str = "accounts", mapping: str = "default"):
    f = io.BytesIO(text.encode())
    f.name = "my accounts.csv"
    return client.post(
        "/imports/", {"action": "preview", "kind": kind, "mapping": mapping, "file": f}
    )


def test_import_preview_run_report_and_rejected_csv(editor_client, db):
    from accounts.models import Account

    assert editor_client.get("/imports/").status_code == 200
    preview = body(upload(editor_client, BAD_CSV))
    assert "3 rows read: 2 would be created" in preview
    assert "rejected — employees:" in preview  # line 3, marked in the preview table
    assert Account.objects.count() == 0  # a dry run writes nothing
    token = re.search(r'name="token" value="([^"]+)"', preview).group(1)
    report = body(editor_client.post("/imports/", {"action": "run", "token": token}))
    assert "3 rows read: 2 created, 0 updated, 0 unchanged, 1 rejected." in report
    assert re.search(r'<td class="num">3</td><td>employees</td>', report)
    assert set(Account.objects.values_list("name", flat=True)) == {"Good Co", "Also Good"}
    link = re.search(r'href="(/imports/rejected\.csv\?token=[^"]+)"', report).group(1)
    rows = csv_rows(editor_client.get(link.replace("&amp;", "&")))
    assert rows[0] == ["line", "column", "reason", "name", "domain", "employees"]
    assert rows[1][:2] == ["3", "employees"] and rows[1][3:] == ["Bad Co", "bad.example", "lots"]
    # The uploaded file is gone after the run: the same token cannot import twice.
    again = body(editor_client.post("/imports/", {"action": "run", "token": token}))
    assert "no longer on the server" in again


def test_import_tokens_are_bound_to_the_uploader(editor_client, django_user_model, db):
    """A preview or rejected-rows link works only for the user who uploaded the file (#21):
    another editor holding the token (a shared screen, a pasted link) cannot run, remap or
    download it, and the uploader still can afterwards."""
    from django.test import Client

    from accounts.models import Account
    from tests.conftest import make_user

    preview = body(upload(editor_client, BAD_CSV))
    token = re.search(r'name="token" value="([^"]+)"', preview).group(1)
    client = Client()  # a second browser: editor_client is the ``client`` fixture itself
    client.force_login(make_user(django_user_model, "other-editor", "editor"))
    for action in ("run", "remap", "restart"):
        html = body(client.post("/imports/", {"action": action, "token": token}))
        assert "uploaded by another user" in html, action
    assert Account.objects.count() == 0
    report = body(editor_client.post("/imports/", {"action": "run", "token": token}))
    assert "2 created" in report
    link = re.search(r'href="(/imports/rejected\.csv\?token=[^"]+)"', report).group(1)
    link = link.replace("&amp;", "&")
    assert client.get(link).status_code == 404
    assert editor_client.get(link).status_code == 200


def test_import_refuses_forged_tokens_and_wrong_mappings(editor_client, db):
    html = body(editor_client.post("/imports/", {"action": "run", "token": "../../etc/passwd"}))
    assert "not valid" in html
    assert editor_client.get("/imports/rejected.csv?token=x").status_code == 404
    html = body(upload(editor_client, BAD_CSV, kind="nps", mapping="nope"))
    assert "Select a valid choice" in html


def test_import_file_level_error_is_shown(editor_client, db):
    html = body(upload(editor_client, "foo,bar\n1,2\n"))
    assert "Nothing imported: The header has no column for name" in html
    assert "Run the import" not in html


# --- CSV exports -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "first_header"),
    [
        ("/", "id"),
        ("/stages/4/", "id"),
        ("/kpis/target_accounts/accounts/", "account_id"),
        ("/kpis/open_opportunities/accounts/", "opportunity_id"),
        ("/accounts/", "account_id"),
        ("/programs/", "program_id"),
        ("/cohorts/", "section"),
        ("/status/", "date"),
    ],
)
def test_every_page_exports_csv(viewer_client, world, url, first_header):
    rows = csv_rows(viewer_client.get(f"{url}?{MARCH}&format=csv"))
    assert rows[0][0] == first_header
    assert len(rows) > 1


def test_account_csv_neutralises_formulas(viewer_client, world):
    AccountFactory(name="=HYPERLINK(evil)", domain="evil.example")
    rows = csv_rows(viewer_client.get(f"/accounts/?{MARCH}&format=csv&q=evil"))
    assert rows[1][1] == "'=HYPERLINK(evil)"


def test_dashboard_csv_has_current_and_previous_values(viewer_client, world):
    rows = csv_rows(viewer_client.get(f"/?{MARCH}&format=csv"))
    header, data = rows[0], {r[0]: r for r in rows[1:]}
    assert header[-1] == "previous_value"
    assert data["target_accounts"][header.index("value")] == "6"
    # Maps (the funnel, velocity, tiers) are one row per part, not JSON in a cell (#19).
    assert not any(cell.startswith("{") for row in rows for cell in row)
    part, value = header.index("part"), header.index("value")
    funnel = {r[part]: r[value] for r in rows[1:] if r[0] == "funnel"}
    assert funnel["stages.target"] == "6" and funnel["stages.opportunity"] == "2"
    assert funnel["conversion.engaged_to_opportunity"] == "0.3333"  # 2 of 6
    assert data["target_accounts"][part] == ""


# --- query counts ---------------------------------------------------------------------------------

#: Queries per page, pinned at the first data size (session and user lookups, the
#: definitions versions of the filter bar's picker, and the report statement timeout
#: included: inside the test's transaction it is sent on every request, in production only
#: when a connection's limit changes);
#: the second, larger size must cost exactly the same. The programs page computes every
#: program and the totals in one grouped pass per source (``compute_grouped``: the count
#: does not grow with the programs), and one attribution statement for all rows (23 with one
#: computation per program, 15 grouped); the cohorts page's tier table is grouped too (29
#: with one computation per tier, 17 grouped). The
#: stage 2 page's program-reached and program-engaged accounts are one more aggregate
#: (16 before, 17 with it). The account page explains its latest snapshot's scores: the
#: high-value page patterns and one grouped query per score (20 before, 24 with them).
#: An account drill-down reads the snapshot day for its stage and score columns (+1).
#: Live trends (#19) without snapshots: the cards' weekly series and the month-over-month
#: table are one statement per source each, whatever the number of buckets (dashboard 26
#: before, 29 with them; stage 2, whose KPIs read five sources, 18 before, 23).
#: The stage page reads the first day with data to say when a period starts before it
#: (#19: two aggregates, cached under the data version outside tests; 23 before, 25).
PINNED = {
    "/": 29,
    "/stages/2/": 25,
    "/kpis/engaged_target_accounts/accounts/": 13,
    "/kpis/funnel/engaged/accounts/": 12,
    "/kpis/new_revenue_won/accounts/": 11,
    "/accounts/?sort=-engagement": 12,
    # + the attribution statement of its deals and their programs' names (20), + the
    # scores' working: the high-value patterns and one grouped query per score (24)
    "/accounts/{pk}/": 24,
    # + the programs' (program, account) pairs, put in the transaction once for all its
    # statements instead of computed in each (#18: 16)
    "/programs/": 16,
    "/cohorts/": 17,
    "/status/": 18,
}


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        body(response)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", list(PINNED))
def test_query_counts_are_fixed(viewer_client, db, django_assert_max_num_queries, url):
    small = build_world(3)
    path = url.format(pk=small["accounts"][0].pk)
    sep = "&" if "?" in path else "?"
    # The first computation under a definitions version marks it used (one UPDATE, once).
    count_queries(viewer_client, f"{path}{sep}{MARCH}")
    count_small = count_queries(viewer_client, f"{path}{sep}{MARCH}")
    # Twelve more accounts with all their rows, same tiers and programs.
    from accounts.models import Tier
    from engagement.models import Program

    for i in range(12):
        a = AccountFactory(name=f"More {i}", tier=Tier.objects.first())
        StakeholderFactory(account=a)
        TouchFactory(account=a, program=Program.objects.first(), occurred_at=at(D(2024, 3, 9)))
        TouchFactory(account=small["accounts"][0], occurred_at=at(D(2024, 3, 11)))
        OpportunityFactory(account=a, created_on=D(2024, 3, 2))
        AccountSnapshotFactory(account=a, date=D(2024, 3, 31))
        RecomputeRun.objects.create(
            date=D(2024, 3, 1) - dt.timedelta(days=i),
            kind="nightly",
            status="succeeded",
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )
    with django_assert_max_num_queries(PINNED[url]):
        count_large = count_queries(viewer_client, f"{path}{sep}{MARCH}")
    assert count_large == count_small, f"{url}: {count_small} queries, then {count_large}"


def test_old_uploads_expire(settings, tmp_path):
    from ingest.selectors import upload_dir
    from ingest.services import uploads_expire

    settings.VAR_DIR = tmp_path
    old, new = upload_dir() / "old.csv", upload_dir() / "new.csv"
    old.write_text("x")
    new.write_text("x")
    two_days_ago = old.stat().st_mtime - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert uploads_expire() == 1
    assert not old.exists() and new.exists()


@pytest.mark.parametrize("path", ["/account/security/", "/account/tokens/", "/"])
def test_every_signed_in_page_has_the_whole_navigation_and_a_favicon(editor_client, db, path):
    """The account pages lost the stage and Imports links (only report views supplied
    them) and the token form was unstyled (#19); a context processor gives every page the
    same navigation."""
    html = body(editor_client.get(path))
    for n in range(1, 7):
        assert f'href="/stages/{n}/' in html, (path, n)
    assert 'href="/imports/' in html
    assert 'rel="icon" href="/static/favicon.svg"' in html
    if path == "/account/tokens/":
        assert 'class="stack"' in html


def test_viewers_get_no_imports_link_on_account_pages(viewer_client, db):
    html = body(viewer_client.get("/account/tokens/"))
    assert 'href="/stages/1/' in html and 'href="/imports/' not in html
