"""CSV import engine: every kind with our own column names, CRM mappings, the Maven data set."""

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Account, IcpRule, Stakeholder, Tier
from engagement.models import IntentSignal, Spend, Touch
from funnel.models import NpsResponse, Opportunity
from ingest.selectors import IMPORT_KINDS, available_mappings
from ingest.services import csv_import
from tests.factories import AccountFactory, ProgramFactory, StakeholderFactory

DATA = Path(__file__).resolve().parent.parent / "data"
MAVEN = Path("/work/shared/data/crm-sales-opportunities")
if not MAVEN.is_dir():  # the repository may carry its own copy
    MAVEN = DATA / "crm-sales-opportunities"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def world(db):
    """Two accounts, a stakeholder and a program the non-account kinds refer to."""
    acme = AccountFactory(name="Acme", domain="acme.example", needs_recompute=False)
    beta = AccountFactory(name="Beta", domain="beta.example", needs_recompute=False)
    StakeholderFactory(account=acme, email="ann@acme.example", name="Ann")
    ProgramFactory(name="Q1 Launch")
    return acme, beta


# kind, CSV text, created, [rejected (line, column)], model. In the touch file line 4
# repeats line 3 (same content, no external id): a duplicate, counted as unchanged.
DEFAULT_CASES = [
    (
        "stakeholders",
        "account_domain,name,email,title,buying_role\n"
        "acme.example,Bob,BOB@acme.example,CTO,Decision maker\n"
        "beta.example,Cy,cy@beta.example,,champion\n"
        "gone.example,Di,di@gone.example,,\n"
        "acme.example,Ed,not-an-email,,\n",
        2,
        [(4, "account_domain"), (5, "email")],
        Stakeholder,
    ),
    (
        "opportunities",
        "account_domain,external_id,name,type,status,amount,created_on,closed_on\n"
        "acme.example,OPP-1,Big deal,new_business,won,50000,2024-01-02,2024-03-01\n"
        "beta.example,OPP-2,Small,renewal,open,1000,2024-02-01,\n"
        "beta.example,,No id,renewal,open,1000,2024-02-01,\n"
        "beta.example,OPP-4,Lost,new_business,lost,0,2024-02-01,\n"
        "beta.example,OPP-5,Odd,new_business,pending,0,2024-02-01,\n",
        3,  # the row without an id is keyed by account, name and created date
        [(5, "closed_on"), (6, "status")],
        Opportunity,
    ),
    (
        "touches",
        "account_domain,stakeholder_email,kind,occurred_at,channel,external_id,cost\n"
        "acme.example,ann@acme.example,email_open,2024-05-01T10:00:00Z,email,T-1,\n"
        "beta.example,,Web visit,2024-05-02 11:00,web,,0.50\n"
        "beta.example,,web_visit,2024-05-02 11:00,web,,0.50\n"
        "acme.example,,teleport,2024-05-03,web,T-4,\n"
        "acme.example,zed@acme.example,meeting,2024-05-03,,T-5,\n"
        "beta.example,,meeting,2024-02-30,,T-6,\n",
        3,  # zed@acme.example joins Acme by its domain as a new stakeholder
        [(5, "kind"), (7, "occurred_at")],
        Touch,
    ),
    (
        "spend",
        "program,spent_on,amount,category,channel,external_id\n"
        'Q1 Launch,2024-01-31,"$2,500.00",marketing,linkedin,S-1\n'
        ",2024-01-31,800,sales,,\n"
        "Nope,2024-01-31,100,marketing,,\n"
        "Q1 Launch,2024-01-31,-4,marketing,,\n",
        2,
        [(4, "program"), (5, "amount")],
        Spend,
    ),
    (
        "nps",
        "account_domain,stakeholder_email,score,responded_on,external_id\n"
        "acme.example,ann@acme.example,9,2024-06-01,N-1\n"
        "beta.example,,3,2024-06-02,\n"
        "beta.example,,11,2024-06-02,\n",
        2,
        [(4, "score")],
        NpsResponse,
    ),
    (
        "intent",
        "account_domain,topic,score,week,is_competitor_topic\n"
        "acme.example,crm software,71.5,2024-06-03,no\n"
        "acme.example,crm software,80,2024-06-12,yes\n"
        "beta.example,,10,2024-06-03,\n"
        "beta.example,abm,10,2024-06-03,maybe\n",
        2,
        [(4, "topic"), (5, "is_competitor_topic")],
        IntentSignal,
    ),
]


@pytest.mark.parametrize(("kind", "text", "created", "rejected", "model"), DEFAULT_CASES)
def test_default_mapping_each_kind(world, tmp_path, kind, text, created, rejected, model):
    path = write(tmp_path, f"{kind}.csv", text)
    before = model.objects.count()

    dry = csv_import(kind, path, dry_run=True)
    assert (dry.created, dry.updated) == (created, 0)
    assert model.objects.count() == before
    assert not Account.objects.filter(needs_recompute=True).exists()

    repeated = 1 if kind == "touches" else 0
    report = csv_import(kind, path)
    rows = text.count("\n") - 1
    assert report.rows_read == rows
    assert (report.created, report.updated, report.unchanged) == (created, 0, repeated)
    assert [(r.line, r.column) for r in report.rejected] == rejected
    assert model.objects.count() == before + created
    if kind != "spend":
        assert Account.objects.filter(needs_recompute=True).exists()

    again = csv_import(kind, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, created + repeated)
    assert [(r.line, r.column) for r in again.rejected] == rejected
    assert model.objects.count() == before + created
    assert "Nothing changed." in again.summary()


def test_default_values_stored(world, tmp_path):
    acme, beta = world
    for kind, text, *_ in DEFAULT_CASES:
        csv_import(kind, write(tmp_path, f"{kind}.csv", text))
    bob = Stakeholder.objects.get(email="bob@acme.example")
    assert (bob.account, bob.buying_role, bob.source) == (acme, "decision_maker", "csv")
    opp = Opportunity.objects.get(external_id="OPP-1")
    assert (opp.account, opp.status, opp.amount) == (acme, "won", Decimal("50000.00"))
    visit = Touch.objects.get(kind="web_visit")
    assert visit.account == beta and visit.external_id.startswith("sha256:")
    assert visit.cost == Decimal("0.50")
    assert Touch.objects.get(external_id="T-1").stakeholder.email == "ann@acme.example"
    assert Spend.objects.get(external_id="S-1").amount == Decimal("2500.00")
    assert Spend.objects.get(channel="", amount=800).program is None
    # Weeks are moved to their Monday: 2024-06-12 is in the week of 2024-06-10.
    assert sorted(str(w) for w in IntentSignal.objects.values_list("week", flat=True)) == [
        "2024-06-03",
        "2024-06-10",
    ]


def test_accounts_default_mapping_create_update_unchanged(db, tmp_path):
    Tier.objects.create(name="Tier 1", rank=1)
    IcpRule.objects.create(attribute="industry", values=["Software"], weight=1)
    header = "name,domain,industry,employees,annual_revenue,country,tier,is_target,targeted_on\n"
    first = write(
        tmp_path,
        "a.csv",
        header + "Alpha,https://www.Alpha.example/,Software,100,1000000,US,Tier 1,yes,2024-01-01\n"
        "Beta,beta.example,Retail,20,,DE,,no,\n"
        "Gamma,gamma.example,Retail,many,,,,,\n"
        "Delta,delta.example,Retail,1,,,Tier 9,,\n",
    )
    report = csv_import("accounts", first)
    assert (report.rows_read, report.created, report.updated, report.unchanged) == (4, 2, 0, 0)
    assert [(r.line, r.column) for r in report.rejected] == [(4, "employees"), (5, "tier")]
    alpha = Account.objects.get(domain="alpha.example")
    assert (alpha.tier.name, alpha.fit_grade, alpha.is_target, alpha.needs_recompute) == (
        "Tier 1",
        "A",
        True,
        True,
    )
    assert Account.objects.get(name="Beta").is_target is False

    Account.objects.update(needs_recompute=False)
    assert csv_import("accounts", first).unchanged == 2
    assert not Account.objects.filter(needs_recompute=True).exists()

    changed = write(
        tmp_path,
        "b.csv",
        header + "Alpha,alpha.example,Retail,100,1000000,US,Tier 1,yes,2024-01-01\n"
        "Beta,beta.example,Retail,20,,DE,,no,\n",
    )
    report = csv_import("accounts", changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    alpha.refresh_from_db()
    assert (alpha.industry, alpha.fit_grade, alpha.needs_recompute) == ("Retail", "D", True)
    assert list(Account.objects.filter(needs_recompute=True)) == [alpha]


def test_import_kinds_and_mappings_for_forms(db):
    assert set(IMPORT_KINDS) == {
        "accounts",
        "stakeholders",
        "opportunities",
        "touches",
        "spend",
        "nps",
        "intent",
    }
    assert [n for n, _ in available_mappings("accounts")] == [
        "default",
        "maven-crm",
        "salesforce",
        "hubspot",
    ]
    assert [n for n, _ in available_mappings("touches")] == [
        "default",
        "salesforce",
        "salesforce-activities",
        "linkedin-ads",
    ]


def test_user_mapping_json_file(db, tmp_path):
    mapping = write(
        tmp_path,
        "m.json",
        '{"columns": {"Firma": "name", "Umsatz": "annual_revenue"}, "decimal_comma": true,'
        ' "source": "erp"}',
    )
    path = write(tmp_path, "a.csv", 'Firma;Umsatz\nMüller;"1.234,56"\n')
    report = csv_import("accounts", path, mapping=str(mapping))
    assert (report.created, report.source, report.delimiter) == (1, "erp", ";")
    assert Account.objects.get().annual_revenue == Decimal("1234.56")


def test_unknown_mapping_and_kind(db, tmp_path):
    path = write(tmp_path, "a.csv", "name\nX\n")
    report = csv_import("accounts", path, mapping="nope")
    assert "Unknown mapping 'nope'" in report.errors[0]
    assert "no profile for touches" in csv_import("touches", path, mapping="maven-crm").errors[0]
    with pytest.raises(ValueError, match="Unknown import kind"):
        csv_import("planets", path)


def test_salesforce_exports(db):
    report = csv_import("accounts", DATA / "crm/salesforce_accounts.csv", mapping="salesforce")
    assert (report.created, report.source) == (2, "salesforce")
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [
        (4, "Account Name", "is required")
    ]
    globex = Account.objects.get(external_id="0015g00000AAAAA")
    assert (globex.domain, globex.employees, globex.annual_revenue, globex.country) == (
        "globex.example",
        1200,
        Decimal("25000000.00"),
        "United States",
    )

    report = csv_import("stakeholders", DATA / "crm/salesforce_contacts.csv", mapping="salesforce")
    # Milton names an account id and a name nobody has; his e-mail's domain is Initech's.
    assert (report.created, report.rejected) == (3, [])
    assert Stakeholder.objects.get(external_id="0035g00000CCCCC").account.name == "Initech"
    assert Stakeholder.objects.get(external_id="0035g00000AAAAA").email == "hank@globex.example"
    # An account id we do not know falls back to the account name.
    assert Stakeholder.objects.get(external_id="0035g00000BBBBB").account.name == "Initech"

    path = DATA / "crm/salesforce_opportunities.csv"
    report = csv_import("opportunities", path, mapping="salesforce")
    assert report.created == 3
    assert [(r.line, r.column) for r in report.rejected] == [(5, "CloseDate")]
    opps = {o.external_id: o for o in Opportunity.objects.all()}
    won = opps["0065g00000AAAAA"]
    assert (won.status, won.amount, str(won.closed_on), str(won.created_on), won.type) == (
        "won",
        Decimal("48000.00"),
        "2024-03-15",
        "2024-01-05",
        "new_business",
    )
    upsell = opps["0065g00000BBBBB"]
    assert (upsell.status, upsell.type, upsell.crm_stage, upsell.closed_on) == (
        "open",
        "expansion",
        "Negotiation/Review",
        None,
    )
    assert opps["0065g00000CCCCC"].status == "lost"
    assert csv_import("opportunities", path, mapping="salesforce").unchanged == 3


def test_hubspot_exports(db):
    report = csv_import("accounts", DATA / "crm/hubspot_companies.csv", mapping="hubspot")
    assert (report.created, len(report.rejected)) == (2, 0)
    assert Account.objects.get(external_id="9001").annual_revenue == Decimal("900000000.00")
    report = csv_import("stakeholders", DATA / "crm/hubspot_contacts.csv", mapping="hubspot")
    assert report.created == 2
    assert [(r.line, r.column) for r in report.rejected] == [(4, "Last Name")]
    assert Stakeholder.objects.get(external_id="502").account.name == "Hooli"
    report = csv_import("opportunities", DATA / "crm/hubspot_deals.csv", mapping="hubspot")
    assert (report.created, len(report.rejected)) == (3, 0)
    status = dict(Opportunity.objects.values_list("external_id", "status"))
    assert status == {"7001": "won", "7002": "open", "7003": "lost"}
    assert Opportunity.objects.get(external_id="7003").type == "expansion"
    assert str(Opportunity.objects.get(external_id="7001").created_on) == "2024-01-10"


def _maven_expectations():
    with (MAVEN / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        accounts = list(csv.DictReader(fh))
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as fh:
        pipeline = list(csv.DictReader(fh))
    names = {a["account"].casefold() for a in accounts}
    status = {"Won": "won", "Lost": "lost", "Prospecting": "open", "Engaging": "open"}
    kept = [p for p in pipeline if p["account"].casefold() in names]
    rejected_lines = [i + 2 for i, p in enumerate(pipeline) if p["account"].casefold() not in names]
    by_status = Counter(status[p["deal_stage"]] for p in kept)
    won_total = sum(Decimal(p["close_value"]) for p in kept if p["deal_stage"] == "Won")
    return accounts, pipeline, by_status, rejected_lines, won_total


def test_maven_crm_data_set(db):
    accounts, pipeline, by_status, rejected_lines, won_total = _maven_expectations()
    report = csv_import("accounts", MAVEN / "accounts.csv", mapping="maven-crm")
    assert (report.rows_read, report.created, len(report.rejected)) == (len(accounts), 85, 0)
    acme = Account.objects.get(name="Acme Corporation")
    assert (acme.industry, acme.annual_revenue, acme.employees, acme.country, acme.is_target) == (
        "technolgy",
        Decimal("1100040000.00"),
        2822,
        "United States",
        True,
    )
    assert Account.objects.filter(is_target=True, needs_recompute=True).count() == 85

    report = csv_import("opportunities", MAVEN / "sales_pipeline.csv", mapping="maven-crm")
    assert report.rows_read == len(pipeline)
    assert report.created == sum(by_status.values())
    assert [r.line for r in report.rejected] == rejected_lines
    assert {(r.column, r.reason) for r in report.rejected} == {
        ("account", "names no account (give an account name, domain or id)")
    }
    stored = Counter(Opportunity.objects.values_list("status", flat=True))
    assert stored == by_status
    assert sum(o.amount for o in Opportunity.objects.filter(status="won")) == won_total
    assert set(Opportunity.objects.values_list("type", flat=True)) == {"new_business"}
    sample = Opportunity.objects.get(external_id="1C1I7A6R")
    assert (sample.account.name, sample.crm_stage, str(sample.created_on)) == (
        "Cancity",
        "Won",
        "2016-10-20",
    )
    assert str(sample.closed_on) == "2017-03-01"

    again = csv_import("opportunities", MAVEN / "sales_pipeline.csv", mapping="maven-crm")
    assert (again.created, again.updated, again.unchanged) == (0, 0, sum(by_status.values()))


def test_command_prints_report_and_writes_rejected(db, tmp_path, capsys):
    AccountFactory(name="Acme", domain="acme.example")
    path = write(
        tmp_path,
        "o.csv",
        "account_domain,external_id,status,amount\n"
        + "".join(f"nowhere{i}.example,O-{i},open,1\n" for i in range(60))
        + "acme.example,O-OK,open,5\n",
    )
    out_file = tmp_path / "rejected.csv"
    call_command("import_csv", "opportunities", str(path), "--rejected-out", str(out_file))
    out = capsys.readouterr().out
    assert (
        "created" in out and "61 rows read: 1 created, 0 updated, 0 unchanged, 60 rejected." in out
    )
    assert "… and 10 more; use --rejected-out FILE" in out
    assert len(out_file.read_text().splitlines()) == 61
    call_command("import_csv", "opportunities", str(path), "--dry-run")
    assert "Nothing changed." in capsys.readouterr().out
