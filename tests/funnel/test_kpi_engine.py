"""Engine-level tests of the KPI catalogue: registry, result shape, query count, command, drill-down.

The per-KPI definitions are tested in ``test_kpi_definitions.py``.
"""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from engagement.models import Touch
from funnel.kpis import (
    REGISTRY,
    Filters,
    NoDrilldown,
    Period,
    UnknownKpi,
    catalogue,
    compute,
    drilldown,
)
from funnel.kpis.arithmetic import acv, lifespan_years, nps, ratio, round_2, round_ratio
from funnel.models import Opportunity
from tests.factories import (
    AccountFactory,
    OpportunityFactory,
    SpendFactory,
    TierFactory,
    TouchFactory,
    at,
)

# KPIS.md definitions version 1 (version 2: test_kpi_version2.py).
pytestmark = pytest.mark.usefixtures("definitions_v1")

#: Every id of /work/shared/KPIS.md, in catalogue order (split KPIs as separate ids).
KPIS_MD_IDS = [
    "target_accounts",
    "target_accounts_by_tier",
    "relationship_score_avg",
    "relationship_improving_accounts",
    "relationship_degrading_accounts",
    "intent_surging_accounts",
    "ad_impressions",
    "ad_clicks",
    "ad_click_through_rate",
    "view_through_visits",
    "view_through_conversions",
    "web_visits",
    "high_value_page_visits",
    "chat_conversations",
    "engaged_target_accounts",
    "engaged_rate",
    "unengaged_rate",
    "cost_per_engaged_account",
    "research_intensity_accounts",
    "deanonymization_rate",
    "email_open_rate",
    "email_click_rate",
    "email_reply_rate",
    "content_engagement_minutes",
    "opportunity_accounts",
    "opportunity_rate",
    "buying_committee_size",
    "account_penetration",
    "target_account_pipeline",
    "open_opportunities",
    "days_first_touch_to_opportunity",
    "cost_per_opportunity_account",
    "influenced_pipeline",
    "engaged_share_of_tam",
    "won_accounts",
    "target_account_win_rate",
    "opportunity_win_rate",
    "won_opportunities",
    "lost_opportunities",
    "new_revenue_won",
    "average_deal_value",
    "sales_cycle_days",
    "sales_cycle_days_median",
    "deal_cycle_days",
    "touches_per_won_account",
    "conversion_rate",
    "cost_per_won_account",
    "customer_acquisition_cost",
    "customer_acquisition_cost_full",
    "customers",
    "renewals_due",
    "renewal_rate",
    "churned_accounts",
    "at_risk_customers",
    "customer_relationship_score_avg",
    "expansion_accounts",
    "expansion_rate",
    "expansion_revenue",
    "annual_contract_value",
    "total_revenue_won",
    "customer_lifetime_value",
    "net_promoter_score",
    "total_addressable_market",
    "funnel",
    "stage_velocity_days",
    "cohort_comparison",
]

Q1 = Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31))


# --- registry and pure arithmetic ---------------------------------------------------


def test_registry_is_exactly_the_catalogue_in_order():
    assert [spec.id for spec in catalogue(1)] == KPIS_MD_IDS


@pytest.mark.parametrize("kpi_id", KPIS_MD_IDS)
def test_registry_metadata_is_valid(kpi_id):
    spec = REGISTRY[kpi_id]
    assert spec.id == kpi_id
    assert spec.stage in range(7)
    assert spec.unit in ("count", "ratio", "money", "days", "score", "map")
    assert spec.kind in ("activity", "outcome")
    assert spec.r in ("reputation", "relationship", "revenue")
    assert spec.drilldown in ("account", "opportunity", None)
    assert spec.label and spec.definition.endswith(".")
    assert (spec.drilldown is None) == (spec.drill is None)
    assert spec.sources, "every KPI reads at least one source"


def test_stage_of_overview_kpis_is_zero_and_stages_are_in_order():
    stages = [REGISTRY[i].stage for i in KPIS_MD_IDS]
    assert stages[-3:] == [0, 0, 0]
    assert stages[:-3] == sorted(stages[:-3])


def test_arithmetic():
    assert ratio(1, 3) is not None and round_ratio(ratio(1, 3)) == 0.3333
    assert ratio(5, 0) is None
    assert round_2(Decimal("2.345")) == 2.35
    assert nps(promoters=5, detractors=2, responses=10) == 30
    assert nps(0, 0, 0) is None
    assert acv(500000, 60) == 100000
    assert lifespan_years(Decimal("0.25"), 10) == 4
    assert lifespan_years(0, 10) == 10
    assert lifespan_years(Decimal("0.05"), 10) == 10


def test_period_and_filters_validate():
    assert Q1.days == 91
    assert Q1.previous() == Period(dt.date(2023, 10, 2), dt.date(2023, 12, 31))
    with pytest.raises(ValueError, match="after its end"):
        Period(dt.date(2024, 2, 1), dt.date(2024, 1, 1))
    with pytest.raises(ValueError, match="cohort"):
        Filters(cohort="vip")
    with pytest.raises(ValueError, match="tier"):
        Filters(tier=("x",))


# --- result shape ---------------------------------------------------------------


@pytest.fixture
def small_data(db):
    """Three target accounts (one engaged, one won) and one non-target account."""
    tier = TierFactory(name="Tier 1", rank=1)
    engaged = AccountFactory(name="Engaged", tier=tier)
    won = AccountFactory(name="Won", tier=tier)
    AccountFactory(name="Quiet")
    other = AccountFactory(name="Other", is_target=False)
    TouchFactory(account=engaged, kind="web_visit", occurred_at=at(dt.date(2024, 2, 1)))
    TouchFactory(account=engaged, kind="ad_impression", occurred_at=at(dt.date(2024, 2, 2)))
    TouchFactory(account=engaged, kind="web_visit", occurred_at=at(dt.date(2024, 2, 3)))
    TouchFactory(account=won, kind="meeting", occurred_at=at(dt.date(2024, 1, 10)))
    TouchFactory(account=other, kind="web_visit", occurred_at=at(dt.date(2024, 2, 1)))
    OpportunityFactory(
        account=won,
        status="won",
        amount=Decimal("3000"),
        created_on=dt.date(2024, 1, 5),
        closed_on=dt.date(2024, 2, 4),
    )
    OpportunityFactory(account=engaged, status="open", amount=Decimal("1000"))
    SpendFactory(spent_on=dt.date(2024, 2, 1), amount=Decimal("900"))
    return {"engaged": engaged, "won": won, "other": other, "tier": tier}


def test_result_shape(small_data):
    result = compute(Q1)
    assert result["period"] == {"from": "2024-01-01", "to": "2024-03-31"}
    assert result["filters"] == {"cohort": "default", "tier": [], "program": [], "owner": []}
    assert [item["id"] for item in result["kpis"]] == KPIS_MD_IDS
    for item in result["kpis"]:
        spec = REGISTRY[item["id"]]
        for key in ("id", "stage", "label", "unit", "kind", "r", "definition", "cohort", "value"):
            assert key in item, (item["id"], key)
        assert item["unit"] == spec.unit
        assert item["cohort"] == ("all" if spec.stage in (5, 6) else "abm") or spec.fixed_cohort
        if item["unit"] == "ratio":
            assert {"numerator", "denominator"} <= set(item)
            if item["denominator"] == 0:
                assert item["value"] is None
            else:
                assert item["value"] == round(item["value"], 4)
        elif item["unit"] == "map":
            assert isinstance(item["value"], dict) and "count" in item
        elif item["unit"] in ("money", "days", "score") and item["value"] is not None:
            assert item["value"] == round(item["value"], 2)
    json.dumps(result)  # plain JSON types only


def test_values_of_a_small_data_set(small_data):
    by_id = {item["id"]: item for item in compute(Q1)["kpis"]}
    assert by_id["target_accounts"]["value"] == 3  # "Other" is not on the target list
    assert by_id["target_accounts_by_tier"]["value"] == {"Tier 1": 2, "none": 1}
    assert by_id["engaged_target_accounts"]["value"] == 2
    engaged_rate = by_id["engaged_rate"]
    assert (engaged_rate["numerator"], engaged_rate["denominator"]) == (2, 3)
    assert engaged_rate["value"] == 0.6667
    assert by_id["unengaged_rate"]["value"] == 0.3333
    assert by_id["cost_per_engaged_account"]["value"] == 450.0
    assert by_id["won_accounts"]["value"] == 1
    assert by_id["new_revenue_won"]["value"] == 3000.0
    assert by_id["sales_cycle_days"]["value"] == 30.0
    assert by_id["sales_cycle_days_median"]["value"] == 30.0
    assert by_id["deal_cycle_days"]["value"] == 25.0  # meeting 10 Jan -> won 4 Feb
    assert by_id["open_opportunities"]["value"] == 1
    assert by_id["web_visits"]["value"] == 2
    assert by_id["view_through_visits"]["value"] == 1  # the visit after the impression
    assert by_id["ad_click_through_rate"]["value"] == 0.0  # no click over 1 impression
    assert by_id["ad_click_through_rate"]["denominator"] == 1
    assert by_id["customers"]["value"] == 1  # stage 5 defaults to all cohorts
    assert by_id["funnel"]["value"]["stages"]["target"] == 3
    assert by_id["funnel"]["value"]["conversion"]["target_to_engaged"] == 0.6667


def test_cohort_and_tier_filters(small_data):
    non_abm = compute(Q1, Filters(cohort="non_abm"), ids=["target_accounts", "web_visits"])
    values = {item["id"]: item["value"] for item in non_abm["kpis"]}
    assert values == {"target_accounts": 1, "web_visits": 1}
    assert non_abm["filters"]["cohort"] == "non_abm"
    tiered = compute(Q1, Filters(tier=(small_data["tier"].pk,)), ids=["target_accounts"])
    assert tiered["kpis"][0]["value"] == 2
    assert tiered["filters"]["tier"] == [small_data["tier"].pk]


def test_ids_select_and_unknown_id_raises(small_data):
    result = compute(Q1, ids=["engaged_rate", "target_accounts"])
    assert [item["id"] for item in result["kpis"]] == ["target_accounts", "engaged_rate"]
    with pytest.raises(UnknownKpi) as raised:
        compute(Q1, ids=["target_accounts", "no_such_kpi"])
    assert isinstance(raised.value, KeyError)
    assert "no_such_kpi" in str(raised.value)


# --- drill-down -------------------------------------------------------------------


def test_drilldown_lists_the_rows_behind_a_count(small_data):
    engaged = drilldown("engaged_target_accounts", Q1)
    assert {a.name for a in engaged} == {"Engaged", "Won"}
    won = drilldown("won_accounts", Q1)
    assert [a.name for a in won] == ["Won"]
    impressions = drilldown("ad_impressions", Q1)
    assert [a.name for a in impressions] == ["Engaged"]
    view_through = drilldown("view_through_visits", Q1)
    assert [a.name for a in view_through] == ["Engaged"]
    opportunities = drilldown("open_opportunities", Q1)
    assert opportunities.model is Opportunity
    assert [o.account.name for o in opportunities] == ["Engaged"]
    everyone = drilldown("target_accounts", Q1, Filters(cohort="all"))
    assert everyone.model is Account and everyone.count() == 4


def test_drilldown_count_matches_kpi_count(small_data):
    result = {i["id"]: i for i in compute(Q1)["kpis"]}
    # The catalogue of the version in force (v1 here): REGISTRY also holds v2-only KPIs.
    for spec in catalogue(1):
        kpi_id = spec.id
        if not spec.drilldown or "count" not in result[kpi_id]:
            continue  # a rate over one population (v1 conversion rate): no count
        if kpi_id == "net_promoter_score":  # the accounts that answered; count: answers
            assert drilldown(kpi_id, Q1).count() <= result[kpi_id]["count"]
            continue
        rows, count = drilldown(kpi_id, Q1).count(), result[kpi_id]["count"]
        if set(spec.sources) & {"touches", "view_through"}:
            # A touch count drills into the accounts that have those touches.
            assert (rows == 0) == (count == 0) and rows <= count, kpi_id
        else:
            assert rows == count, kpi_id


def test_each_kpi_alone_equals_its_item_in_the_whole_catalogue(small_data):
    """A KPI names every measure it reads: computed alone (only its measures planned),
    it gives what the whole catalogue gives."""
    whole = {i["id"]: i for i in compute(Q1, Filters(cohort="all"))["kpis"]}
    for kpi_id in whole:
        alone = compute(Q1, Filters(cohort="all"), ids=[kpi_id])["kpis"]
        assert alone == [whole[kpi_id]], kpi_id


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_each_kpi_alone_equals_the_whole_catalogue_in_every_version(small_data, version):
    """The engine annotates only the account facts a request's expressions refer to
    (``measures.referenced``): every KPI of either version, alone and under each
    cohort, still equals its item in the whole catalogue."""
    for cohort in (None, "abm", "all"):
        whole = compute(Q1, Filters(cohort=cohort), definitions=version)["kpis"]
        for item in whole:
            alone = compute(Q1, Filters(cohort=cohort), ids=[item["id"]], definitions=version)
            assert alone["kpis"] == [item], (version, cohort, item["id"])


def test_an_engaged_count_reads_only_the_facts_it_needs(small_data):
    """Measure-level planning (#18): one account count joins the touch window but runs no
    intent, stakeholder or opportunity subquery; a win count joins no touches at all."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def account_sql(ids: list[str]) -> str:
        with CaptureQueriesContext(connection) as queries:
            compute(Q1, ids=ids)
        (sql,) = [q["sql"] for q in queries if "accounts_account" in q["sql"]]
        return sql

    engaged = account_sql(["engaged_target_accounts"])
    assert "engagement_touch" in engaged
    for table in ("engagement_intentsignal", "accounts_stakeholder", "funnel_opportunity"):
        assert table not in engaged, table
    won = account_sql(["won_accounts"])
    assert "funnel_opportunity" in won and "engagement_touch" not in won
    assert "engagement_intentsignal" not in won
    assert "engagement_intentsignal" in account_sql(["intent_surging_accounts"])


def test_a_count_and_its_drill_down_are_one_condition():
    for spec in REGISTRY.values():
        if spec.drill is not None:
            assert spec.drill in spec.measures, spec.id
            assert spec.drilldown == spec.drill.source.drills_to, spec.id


def test_drilldown_errors(db):
    with pytest.raises(NoDrilldown):
        drilldown("engaged_rate", Q1)
    with pytest.raises(UnknownKpi):
        drilldown("nope", Q1)


# --- fixed number of queries --------------------------------------------------------


def _bulk_data(n_accounts: int, first: int = 0) -> None:
    """``n_accounts`` accounts; every fifth has two touches, every tenth a won deal."""
    accounts = Account.objects.bulk_create(
        Account(name=f"Bulk {i}", domain=f"bulk{i}.example.com", is_target=i % 3 != 0)
        for i in range(first, first + n_accounts)
    )
    Touch.objects.bulk_create(
        Touch(account=a, kind=kind, occurred_at=at(dt.date(2024, 2, 1 + i % 20)))
        for i, a in enumerate(accounts[::5])
        for kind in ("web_visit", "email_sent")
    )
    Opportunity.objects.bulk_create(
        Opportunity(
            account=a,
            status="won",
            amount=Decimal("1000"),
            created_on=dt.date(2024, 1, 2),
            closed_on=dt.date(2024, 2, 1),
        )
        for a in accounts[::10]
    )


def _queries_for_catalogue() -> int:
    if connection.vendor == "postgresql":
        # Fresh statistics, as autovacuum keeps them in production: without them the
        # planner takes the just-filled tables for empty ones and plans slowly.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE accounts_account, engagement_touch, funnel_opportunity")
    with CaptureQueriesContext(connection) as captured:
        compute(Q1)
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_data(db):
    _bulk_data(100)
    small = _queries_for_catalogue()
    _bulk_data(9_900, first=100)
    assert Account.objects.count() == 10_000
    assert _queries_for_catalogue() == small
    assert small <= 16


# --- management command ---------------------------------------------------------------


def test_command_table(small_data, settings):
    settings.ABM_CURRENCY = "EUR"
    out = StringIO()
    call_command("kpis", "--from", "2024-01-01", "--to", "2024-03-31", stdout=out)
    text = out.getvalue()
    assert "Stage 1 - Target accounts" in text and "Funnel and velocity" in text
    # The pages' formatting rules (funnel.kpis.formatting), one per unit.
    assert "Engaged rate" in text and "66.7 %" in text and "2 / 3" in text
    assert "EUR 3,000" in text  # new revenue won
    assert "30.0 days" in text  # sales cycle
    rows = [line for line in text.splitlines() if line.startswith("  ") and line.endswith("]")]
    assert len(rows) == len(catalogue(1))
    # Aligned: the cohort column starts at one place for scalar rows (maps have their own).
    assert len({row.rindex("[") for row in rows}) == 2


def test_command_json_is_the_compute_result(small_data):
    out = StringIO()
    call_command(
        "kpis",
        "--from",
        "2024-01-01",
        "--to",
        "2024-03-31",
        "--cohort",
        "all",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == compute(Q1, Filters(cohort="all"))


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--from", "2024-13-01", "--to", "2024-03-31"], "--from"),
        (["--from", "2024-01-01", "--to", "soon"], "--to"),
        (["--from", "2024-04-01", "--to", "2024-03-31"], "--from"),
        (["--from", "2024-01-01", "--to", "2024-03-31", "--cohort", "vip"], "--cohort"),
        (["--from", "2024-01-01", "--to", "2024-03-31", "--tier", "x"], "--tier"),
        (["--from", "2024-01-01", "--to", "2024-03-31", "--owner", "0"], "--owner"),
    ],
)
def test_command_bad_arguments_name_the_option(db, args, option):
    with pytest.raises(CommandError, match=option):
        call_command("kpis", *args, stdout=StringIO())
