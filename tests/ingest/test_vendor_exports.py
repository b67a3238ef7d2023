"""Vendors' default exports load with their shipped profile, detected from the header.

The files in tests/data/exports are written in the layouts the tools export
(column sets from the vendors' documentation), with our own values.
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Account, Owner, Stakeholder, Tier
from engagement.models import IntentSignal, Program, Spend, Touch
from funnel.kpis import Filters, Period, compute
from funnel.models import Opportunity
from ingest.models import ExchangeRate
from ingest.services import csv_import
from tests.factories import AccountFactory, UserFactory

DATA = Path(__file__).resolve().parent.parent / "data" / "exports"
pytestmark = pytest.mark.django_db


def load(kind: str, name: str, **kwargs):
    report = csv_import(kind, DATA / name, **kwargs)
    assert report.ok, report.errors
    again = csv_import(kind, DATA / name, **kwargs)
    assert (again.created, again.updated) == (0, 0), again.as_dict()
    return report


@pytest.fixture
def crm_accounts(db):
    globex = AccountFactory(name="Globex Corporation", domain="globex.example")
    initech = AccountFactory(name="Initech", domain="initech.example")
    return globex, initech


def test_salesforce_opportunities_report_without_ids(crm_accounts):
    globex, _ = crm_accounts
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.10"))
    report = load("opportunities", "salesforce_opportunities_report.csv")
    assert report.mapping == "salesforce"
    assert any("detected from the header" in n for n in report.notes)
    assert (report.created, report.rejected) == (4, [])
    assert any("have no CRM id" in w for w in report.warnings)
    assert any("month/day/year" in n for n in report.notes)
    assert any("converted to USD at 1.1" in n for n in report.notes)
    won = Opportunity.objects.get(name="Globex - Platform")
    assert (won.status, won.closed_on, won.contract_start, won.contract_end) == (
        "won",
        dt.date(2024, 3, 15),
        dt.date(2024, 3, 15),
        dt.date(2025, 3, 14),
    )
    upsell = Opportunity.objects.get(name="Globex - Upsell")
    assert (upsell.status, upsell.closed_on, upsell.expected_close_on, upsell.type) == (
        "open",
        None,
        dt.date(2024, 10, 1),
        "expansion",
    )
    assert Opportunity.objects.get(name="Initech - Europe").amount == Decimal("11000.00")
    assert won.external_id.startswith("sha256:") and won.account == globex


def test_foreign_currency_without_rate_is_rejected(crm_accounts):
    report = csv_import("opportunities", DATA / "salesforce_opportunities_report.csv")
    assert [(r.line, r.column) for r in report.rejected] == [(5, "Amount Currency")]
    assert "is in EUR, not USD" in report.rejected[0].reason
    assert "Exchange rates" in report.rejected[0].reason


def test_renewals_have_data_after_a_salesforce_import(crm_accounts):
    load("opportunities", "salesforce_opportunities_report.csv", mapping="salesforce")
    # EUR row rejected (no rate); the won Globex deal's contract ends 2025-03-14.
    result = compute(Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31)), Filters(), ["renewals_due"])
    assert result["kpis"][0]["value"] == 1


def test_all_ambiguous_date_column_stops_the_import(crm_accounts):
    report = csv_import("opportunities", DATA / "salesforce_ambiguous_dates.csv")
    assert report.created == 0 and not report.ok
    errors = " ".join(report.errors)
    assert "'Close Date' are ambiguous" in errors and "--date-order dmy|mdy|ymd" in errors
    assert Opportunity.objects.count() == 0
    with pytest.raises(CommandError, match="ambiguous"):
        call_command("import_csv", "opportunities", str(DATA / "salesforce_ambiguous_dates.csv"))
    report = csv_import("opportunities", DATA / "salesforce_ambiguous_dates.csv", date_order="dmy")
    assert report.created == 2
    assert Opportunity.objects.get(name="Globex - A").closed_on == dt.date(2024, 10, 1)


def test_salesforce_accounts_owners_and_owner_filter(db):
    rita = UserFactory(username="rita", first_name="Rita", last_name="Rep")
    # The file has no targeting dates: --targeted-on backdates the new accounts to 2024 (#15;
    # without it they would join the target list on the import date).
    report = load("accounts", "salesforce_accounts_report.csv", targeted_on=dt.date(2024, 1, 1))
    assert report.created == 2
    globex = Account.objects.get(domain="globex.example")
    initech = Account.objects.get(domain="initech.example")
    assert globex.owner.user == rita
    assert (initech.owner.user, initech.owner.email) == (None, "sam.seller@crm.example")
    assert any("owners the app did not know were created" in n for n in report.notes)
    assert Owner.objects.count() == 2
    period = Period(dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    result = compute(period, Filters(owner=(initech.owner.pk,)), ["target_accounts"])
    assert result["kpis"][0]["value"] == 1


def test_campaign_members_and_activities(crm_accounts):
    StakeholderFactoryless = Stakeholder.objects.create
    StakeholderFactoryless(account=crm_accounts[0], name="Hank", email="hank@globex.example")
    report = load("touches", "salesforce_campaign_members.csv")
    assert report.mapping == "salesforce"
    assert report.created == 2  # attended and sent; planned skipped
    assert [(r.line, r.column) for r in report.rejected] == [(5, "Email")]
    assert "free e-mail domain" in report.rejected[0].reason
    program = Program.objects.get(name="Q3 Webinar: ABM basics")
    kinds = dict(Touch.objects.filter(program=program).values_list("stakeholder__email", "kind"))
    assert kinds == {"hank@globex.example": "event_attended", "bill@initech.example": "email_sent"}
    assert Stakeholder.objects.filter(email="bill@initech.example").exists()  # by its domain

    report = load("touches", "salesforce_activities.csv")
    assert report.mapping == "salesforce-activities"
    assert report.created == 3
    assert sorted(Touch.objects.filter(program=None).values_list("kind", flat=True)) == [
        "call_connected",
        "email_sent",
        "meeting",
    ]


def test_hubspot_companies_deals_contacts(db):
    report = load("accounts", "hubspot_companies.csv")
    assert report.mapping == "hubspot"
    umbrella = Account.objects.get(domain="umbrella.example")
    hooli = Account.objects.get(domain="hooli.example")
    assert (umbrella.is_target, umbrella.tier.name, umbrella.owner.name) == (
        True,
        "Tier 1",
        "Rita Rep",
    )
    assert (hooli.is_target, hooli.tier, hooli.owner.name) == (False, None, "Nina Newhire")
    assert Tier.objects.get(name="Tier 1").rank == 1

    report = load("opportunities", "hubspot_deals.csv")
    assert (report.created, report.rejected) == (3, [])
    deals = {o.external_id: o for o in Opportunity.objects.all()}
    assert deals["7001"].contract_end == dt.date(2025, 4, 1)
    assert deals["7002"].expected_close_on == dt.date(2024, 12, 15)
    assert deals["7003"].type == "renewal"  # from the Renewals pipeline
    report = load("opportunities", "hubspot_deals_legacy.csv")
    assert Opportunity.objects.get(external_id="7101").account == hooli

    report = load("stakeholders", "hubspot_contacts.csv")
    assert (report.created, report.rejected) == (3, [])
    roles = dict(Stakeholder.objects.values_list("email", "buying_role"))
    assert roles == {
        "albert@umbrella.example": "decision_maker",
        "gavin@hooli.example": "champion",
        "jian@hooli.example": "user",  # no company column value: joined by its domain
    }
    period = Period(dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    assert compute(period, Filters(), ["renewals_due"])["kpis"][0]["value"] == 1


def test_bombora_surge_threshold(db):
    AccountFactory(name="Umbrella Corp", domain="umbrella.example")
    AccountFactory(name="Hooli", domain="hooli.example")
    report = load("intent", "bombora_company_surge.csv")
    assert report.mapping == "bombora"
    assert (report.created, [(r.line, r.column) for r in report.rejected]) == (3, [(5, "Domain")])
    surge = dict(
        IntentSignal.objects.values_list("account__name", "topic", "provider_surge")
        .values_list("topic", "provider_surge")
        .filter(account__name="Umbrella Corp")
    )
    assert surge == {"Account Based Marketing": True, "Intent Data": True}
    assert not IntentSignal.objects.get(account__name="Hooli").provider_surge
    week = IntentSignal.objects.values_list("week", flat=True).first()
    assert week.weekday() == 0


def test_linkedin_and_google_ads_spend(db):
    report = load("spend", "linkedin_campaign_performance.csv")
    assert report.mapping == "linkedin-ads"
    assert any("above the header" in w for w in report.warnings)
    assert report.created == 3
    assert Program.objects.filter(name__startswith="ABM Q3").count() == 2
    assert Spend.objects.filter(channel="linkedin").count() == 3
    report = load("spend", "google_ads_campaigns.csv")
    assert report.mapping == "google-ads"
    assert (report.rows_read, report.created) == (3, 3)
    assert sum(s.amount for s in Spend.objects.filter(channel="google-ads")) == Decimal("258.08")


def test_linkedin_company_impressions_are_touches_with_quantities(db):
    AccountFactory(name="Umbrella Corp", domain="umbrella.example")
    AccountFactory(name="Hooli", domain="hooli.example")
    report = load("touches", "linkedin_company_demographics.csv")
    assert report.mapping == "linkedin-ads"
    assert report.created == 5  # 3 impression rows, 2 click rows (Hooli's 0 clicks: none)
    quantities = sorted(
        Touch.objects.filter(kind="ad_impression").values_list("quantity", flat=True)
    )
    assert quantities == [300, 450, 1200]


def test_linkedin_company_impressions_count_in_ad_impressions(db):
    AccountFactory(name="Umbrella Corp", domain="umbrella.example")
    AccountFactory(name="Hooli", domain="hooli.example")
    load("touches", "linkedin_company_demographics.csv")
    period = Period(dt.date(2024, 9, 1), dt.date(2024, 9, 30))
    result = compute(period, Filters(), ["ad_impressions"])
    assert result["kpis"][0]["value"] == 1950


def test_saved_mapping_by_name_on_command_and_api(db, tmp_path, capsys):
    from ingest.models import SavedMapping
    from tests.factories import UserFactory as Users

    SavedMapping.objects.create(
        name="erp-firms",
        kind="accounts",
        data={"columns": {"Firma": "name", "Web": "domain"}, "source": "erp"},
    )
    path = tmp_path / "firms.csv"
    path.write_text("Firma,Web\nMüller GmbH,mueller.example\n", encoding="utf-8")
    call_command("import_csv", "accounts", str(path), "--mapping", "erp-firms")
    assert "1 created" in capsys.readouterr().out
    assert Account.objects.get(domain="mueller.example").source == "erp"
    # Detected too, and named on the API.
    report = csv_import("accounts", path)
    assert (report.mapping, report.unchanged) == ("erp-firms", 1)
    from rest_framework.test import APIClient

    client = APIClient()
    editor = Users(username="ed")
    from django.contrib.auth.models import Group

    editor.groups.add(Group.objects.get(name="editor"))
    client.force_authenticate(editor)
    with path.open("rb") as fh:
        answer = client.post(
            "/api/v1/imports/",
            {"file": fh, "kind": "accounts", "mapping": "erp-firms", "dry_run": "true"},
            format="multipart",
        )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["unchanged"] == 1


def test_bulk_api_joins_unknown_people_by_domain(db):
    from engagement.services import touch_bulk_create
    from tests.factories import AccountDomainFactory

    acme = AccountFactory(domain="acme.example")
    AccountDomainFactory(account=acme, domain="acme-labs.example")
    other = AccountFactory(domain="other.example")
    AccountDomainFactory(account=other, domain="shared.example")
    AccountFactory(domain="shared.example")
    rows = [
        {
            "stakeholder_email": "new@acme-labs.example",
            "kind": "meeting",
            "occurred_at": "2024-05-01",
        },
        {"stakeholder_email": "x@gmail.com", "kind": "meeting", "occurred_at": "2024-05-01"},
        {"stakeholder_email": "y@shared.example", "kind": "meeting", "occurred_at": "2024-05-01"},
    ]
    result = touch_bulk_create(rows, source="api")
    assert result.accepted == 1
    reasons = [r.reason for r in result.rejected]
    assert "free e-mail domain" in reasons[0] and "belongs to 2 accounts" in reasons[1]
    person = Stakeholder.objects.get(email="new@acme-labs.example")
    assert (person.account, person.name) == (acme, "New")
