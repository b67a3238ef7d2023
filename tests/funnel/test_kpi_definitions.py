"""The KPI engine contract: registry, result shape, nulls, cohorts, filters, periods, drill-down.

Per-KPI fixtures live in ``test_kpi_stage<N>.py`` and ``test_kpi_funnel.py``.
"""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
from tests.factories import (
    NpsResponseFactory,
    OwnerFactory,
    ProgramFactory,
    SpendFactory,
    TierFactory,
    TouchFactory,
)

from .kpi_fixtures import (
    END,
    MARCH,
    START,
    D,
    day,
    drill_ids,
    kpi,
    kpis,
    lost,
    make_customer,
    non_target,
    opp,
    target,
    touch,
    when,
    won,
)

#: Every id of KPIS.md, in catalogue order, with its stage.
CATALOGUE: list[tuple[str, int]] = [
    ("target_accounts", 1),
    ("target_accounts_by_tier", 1),
    ("relationship_score_avg", 1),
    ("relationship_improving_accounts", 1),
    ("relationship_degrading_accounts", 1),
    ("intent_surging_accounts", 1),
    ("ad_impressions", 2),
    ("ad_clicks", 2),
    ("ad_click_through_rate", 2),
    ("view_through_visits", 2),
    ("view_through_conversions", 2),
    ("web_visits", 2),
    ("high_value_page_visits", 2),
    ("chat_conversations", 2),
    ("engaged_target_accounts", 2),
    ("engaged_rate", 2),
    ("unengaged_rate", 2),
    ("cost_per_engaged_account", 2),
    ("research_intensity_accounts", 2),
    ("deanonymization_rate", 2),
    ("email_open_rate", 2),
    ("email_click_rate", 2),
    ("email_reply_rate", 2),
    ("content_engagement_minutes", 2),
    ("opportunity_accounts", 3),
    ("opportunity_rate", 3),
    ("buying_committee_size", 3),
    ("account_penetration", 3),
    ("target_account_pipeline", 3),
    ("open_opportunities", 3),
    ("days_first_touch_to_opportunity", 3),
    ("cost_per_opportunity_account", 3),
    ("influenced_pipeline", 3),
    ("engaged_share_of_tam", 3),
    ("won_accounts", 4),
    ("target_account_win_rate", 4),
    ("opportunity_win_rate", 4),
    ("won_opportunities", 4),
    ("lost_opportunities", 4),
    ("new_revenue_won", 4),
    ("average_deal_value", 4),
    ("sales_cycle_days", 4),
    ("sales_cycle_days_median", 4),
    ("deal_cycle_days", 4),
    ("touches_per_won_account", 4),
    ("conversion_rate", 4),
    ("cost_per_won_account", 4),
    ("customer_acquisition_cost", 4),
    ("customer_acquisition_cost_full", 4),
    ("customers", 5),
    ("renewals_due", 5),
    ("renewal_rate", 5),
    ("churned_accounts", 5),
    ("at_risk_customers", 5),
    ("customer_relationship_score_avg", 5),
    ("expansion_accounts", 6),
    ("expansion_rate", 6),
    ("expansion_revenue", 6),
    ("annual_contract_value", 6),
    ("total_revenue_won", 6),
    ("customer_lifetime_value", 6),
    ("net_promoter_score", 6),
    ("total_addressable_market", 6),
    ("funnel", 0),
    ("stage_velocity_days", 0),
    ("cohort_comparison", 0),
]

# KPIS.md definitions version 1 (version 2: test_kpi_version2.py).
pytestmark = pytest.mark.usefixtures("definitions_v1")

IDS = [kpi_id for kpi_id, _ in CATALOGUE]

RATIOS = {
    "ad_click_through_rate",
    "engaged_rate",
    "unengaged_rate",
    "deanonymization_rate",
    "email_open_rate",
    "email_click_rate",
    "email_reply_rate",
    "opportunity_rate",
    "engaged_share_of_tam",
    "target_account_win_rate",
    "opportunity_win_rate",
    "conversion_rate",
    "renewal_rate",
    "expansion_rate",
}
#: Sums: 0 over no rows.
SUMS = {
    "target_account_pipeline",
    "influenced_pipeline",
    "new_revenue_won",
    "expansion_revenue",
    "total_revenue_won",
    "content_engagement_minutes",
}
#: Money per account or customer: null when there is none (numerator / denominator).
QUOTIENTS = {
    "cost_per_engaged_account",
    "cost_per_opportunity_account",
    "cost_per_won_account",
    "customer_acquisition_cost",
    "customer_acquisition_cost_full",
}
#: Products of a mean and something else: null when the mean is.
PRODUCTS = {"customer_lifetime_value", "total_addressable_market"}
#: Means and medians: null over no rows.
MEANS = {
    "relationship_score_avg",
    "buying_committee_size",
    "account_penetration",
    "days_first_touch_to_opportunity",
    "average_deal_value",
    "sales_cycle_days",
    "sales_cycle_days_median",
    "deal_cycle_days",
    "touches_per_won_account",
    "customer_relationship_score_avg",
    "annual_contract_value",
    "net_promoter_score",
}
MAPS = {"target_accounts_by_tier", "funnel", "stage_velocity_days", "cohort_comparison"}
COUNTS = set(IDS) - RATIOS - SUMS - QUOTIENTS - PRODUCTS - MEANS - MAPS
UNITS = {
    "target_accounts": "count",
    "target_accounts_by_tier": "map",
    "relationship_score_avg": "score",
    "engaged_rate": "ratio",
    "cost_per_engaged_account": "money",
    "content_engagement_minutes": "count",
    "target_account_pipeline": "money",
    "sales_cycle_days": "days",
    "customer_acquisition_cost": "money",
    "net_promoter_score": "score",
    "annual_contract_value": "money",
    "funnel": "map",
    "stage_velocity_days": "map",
    "cohort_comparison": "map",
}


# --- registry -------------------------------------------------------------------------------


def test_registry_holds_every_catalogue_id_in_order_with_its_stage():
    v1 = {spec.id: spec for spec in catalogue(1)}
    assert list(v1) == IDS
    assert {k: spec.stage for k, spec in v1.items()} == dict(CATALOGUE)


def test_registry_specs_carry_unit_tags_and_a_definition():
    for kpi_id, spec in REGISTRY.items():
        assert spec.id == kpi_id
        assert spec.unit in {"count", "ratio", "money", "days", "score", "map"}, kpi_id
        assert spec.kind in {"activity", "outcome"}, kpi_id
        assert spec.r in {"reputation", "relationship", "revenue"}, kpi_id
        assert spec.label and spec.definition, kpi_id
        assert spec.drilldown in {"account", "opportunity", None}, kpi_id
    assert {k: REGISTRY[k].unit for k in UNITS} == UNITS
    assert {k for k in RATIOS if REGISTRY[k].unit != "ratio"} == set()
    assert {k for k in MAPS if REGISTRY[k].unit != "map"} == set()


def test_count_kpis_can_be_drilled_into():
    # KPIS.md: "count KPIs can be drilled into"; content minutes are a quantity, not a count
    without = {k for k in COUNTS if REGISTRY[k].drilldown is None}
    assert without == set()
    assert REGISTRY["open_opportunities"].drilldown == "opportunity"
    assert REGISTRY["target_accounts"].drilldown == "account"
    assert REGISTRY["funnel"].drilldown is None  # a map of many numbers


@pytest.mark.django_db
def test_bad_period_and_filters_are_refused_with_a_message_naming_the_field():
    with pytest.raises(ValueError, match="cohort"):
        Filters(cohort="everyone")
    with pytest.raises(ValueError, match="tier"):
        Filters(tier=("gold",))
    with pytest.raises(ValueError):
        Period(END, START)  # start after end


@pytest.mark.django_db
def test_unknown_kpi_is_a_key_error_naming_the_id():
    with pytest.raises(UnknownKpi) as raised:
        compute(MARCH, Filters(), ids=["target_accounts", "no_such_kpi"])
    assert isinstance(raised.value, KeyError)
    assert "no_such_kpi" in str(raised.value)
    with pytest.raises(UnknownKpi):
        drilldown("no_such_kpi", MARCH, Filters())


@pytest.mark.django_db
def test_kpis_without_drilldown_refuse_it():
    with pytest.raises(NoDrilldown):
        drilldown("funnel", MARCH, Filters())
    for kpi_id in [spec.id for spec in catalogue(1) if spec.drilldown is None]:
        with pytest.raises(NoDrilldown):
            drilldown(kpi_id, MARCH, Filters())


# --- period ---------------------------------------------------------------------------------


def test_period_length_and_previous_period():
    assert MARCH.days == 31
    assert MARCH.previous() == Period(D(2024, 1, 30), D(2024, 2, 29))  # 31 days before Mar 1
    assert Period(day(5), day(5)).days == 1
    assert MARCH.previous().previous() == Period(D(2023, 12, 30), D(2024, 1, 29))


# --- result shape and empty data ------------------------------------------------------------


@pytest.mark.django_db
def test_result_shape_and_every_kpi_on_an_empty_database():
    result = compute(MARCH, Filters())

    assert result["period"] == {"from": "2024-03-01", "to": "2024-03-31"}
    assert result["filters"] == {"cohort": "default", "tier": [], "program": [], "owner": []}
    items = {k["id"]: k for k in result["kpis"]}
    assert [k["id"] for k in result["kpis"]] == IDS
    for kpi_id, item in items.items():
        base = {"id", "stage", "label", "unit", "kind", "r", "definition", "cohort", "value"}
        assert base <= set(item), kpi_id
        assert item["stage"] == dict(CATALOGUE)[kpi_id]
        if kpi_id in RATIOS:
            # zero denominators give null, never 0 and never an error
            assert (item["value"], item["numerator"], item["denominator"]) == (None, 0, 0), kpi_id
        elif kpi_id in SUMS:
            assert (item["value"], item["count"]) == (0, 0), kpi_id  # sums of no rows are 0
        elif kpi_id in MEANS:
            assert item["value"] is None, kpi_id  # means of no rows are null
            assert item["count"] == 0, kpi_id
        elif kpi_id in QUOTIENTS:
            assert (item["value"], item["denominator"]) == (None, 0), kpi_id
        elif kpi_id in PRODUCTS:
            assert item["value"] is None, kpi_id
        elif kpi_id in COUNTS:
            assert (item["value"], item["count"]) == (0, 0), kpi_id
    assert set(items["target_accounts_by_tier"]["value"].values()) <= {0}
    assert list(items["funnel"]["value"]["stages"].values()) == [0] * 6
    assert list(items["funnel"]["value"]["conversion"].values()) == [None] * 5
    assert set(items["stage_velocity_days"]["value"].values()) <= {None}
    comparison = items["cohort_comparison"]["value"]
    assert set(comparison) == {
        "average_deal_value",
        "sales_cycle_days",
        "opportunity_win_rate",
        "renewal_rate",
        "expansion_rate",
        "net_promoter_score",
    }
    assert all(v == {"abm": None, "non_abm": None} for v in comparison.values())
    assert items["content_engagement_minutes"]["by_position"] == {
        "tofu": 0,
        "mofu": 0,
        "bofu": 0,
    }


@pytest.mark.django_db
def test_compute_returns_only_the_requested_ids_in_catalogue_order():
    result = compute(MARCH, Filters(), ids=["net_promoter_score", "target_accounts"])
    assert [k["id"] for k in result["kpis"]] == ["target_accounts", "net_promoter_score"]


@pytest.mark.django_db
def test_rounding_of_ratios_money_and_days():
    for _ in range(3):
        target()
    touch(target(), "web_visit", day(2))  # the only engaged one of 7 target accounts
    won(target(), day(8), amount="1000.00", created_on=day(1))  # 7 days
    won(target(), day(9), amount="0.01", created_on=day(1))  # 8 days
    won(target(), day(9), amount="0.01", created_on=day(2))  # 7 days

    items = kpis("engaged_rate", "average_deal_value", "sales_cycle_days")

    assert items["engaged_rate"]["value"] == 0.1429  # 1 / 7 target accounts = 0.142857
    assert items["average_deal_value"]["value"] == 333.34  # (1000 + 0.01 + 0.01) / 3 = 333.34
    assert items["sales_cycle_days"]["value"] == 7.33  # (7 + 8 + 7) / 3 = 7.333
    assert isinstance(items["engaged_rate"]["value"], float)
    assert isinstance(items["average_deal_value"]["value"], float)


# --- cohorts --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_default_cohort_is_abm_for_stages_1_to_4_and_all_for_5_and_6():
    result = compute(MARCH, Filters())
    for item in result["kpis"]:
        stage = dict(CATALOGUE)[item["id"]]
        if item["id"] in ("customer_acquisition_cost", "customer_acquisition_cost_full"):
            assert item["cohort"] == "all"  # KPIS.md: new customers of all cohorts
        elif 1 <= stage <= 4:
            assert item["cohort"] == "abm", item["id"]
        elif stage >= 5:
            assert item["cohort"] == "all", item["id"]


def _cohort_world():
    """Won new_business deals closed in March by accounts in and out of the target list."""
    on_list = target()
    won(on_list, day(10), created_on=day(1))
    never = non_target()  # is_target=False
    won(never, day(10), created_on=day(1))
    taken_off = target(targeted_on=D(2023, 1, 1), untargeted_on=day(20))
    won(taken_off, day(10), created_on=day(1))
    not_yet = target(targeted_on=D(2024, 4, 1))
    won(not_yet, day(10), created_on=day(1))
    return on_list, never, taken_off, not_yet


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cohort", "expected"),
    [(None, 1), ("abm", 1), ("non_abm", 3), ("all", 4)],  # default for stage 4 is abm
)
def test_cohort_filter_on_won_opportunities(cohort, expected):
    _cohort_world()
    item = kpi("won_opportunities", filters=Filters(cohort=cohort))
    assert item["value"] == expected
    assert item["cohort"] == (cohort or "abm")


@pytest.mark.django_db
def test_cohort_filter_on_customers_and_drilldown():
    on_list, never, taken_off, not_yet = _cohort_world()

    assert kpi("customers")["value"] == 4  # default for stage 5 is all
    assert kpi("customers", filters=Filters(cohort="abm"))["value"] == 1
    assert drill_ids("customers", filters=Filters(cohort="non_abm")) == {
        never.pk,
        taken_off.pk,
        not_yet.pk,
    }
    result = compute(MARCH, Filters(cohort="non_abm"), ids=["customers"])
    assert result["filters"]["cohort"] == "non_abm"


# --- tier, owner, program filters -----------------------------------------------------------


@pytest.mark.django_db
def test_tier_filter():
    top = TierFactory(name="Top", rank=1)
    mid = TierFactory(name="Mid", rank=2)
    a = target(tier=top)
    target(tier=top)
    c = target(tier=mid)
    target(tier=None)
    touch(a, "web_visit", day(3))
    touch(c, "web_visit", day(3))

    only_top = Filters(tier=(top.pk,))
    assert kpi("target_accounts", filters=only_top)["value"] == 2
    assert kpi("engaged_rate", filters=only_top)["value"] == 0.5  # 1 / 2
    assert kpi("target_accounts", filters=Filters(tier=(top.pk, mid.pk)))["value"] == 3
    assert drill_ids("engaged_target_accounts", filters=Filters(tier=(mid.pk,))) == {c.pk}
    result = compute(MARCH, Filters(tier=(top.pk, mid.pk)), ids=["target_accounts"])
    assert result["filters"] == {
        "cohort": "default",
        "tier": [top.pk, mid.pk],
        "program": [],
        "owner": [],
    }


@pytest.mark.django_db
def test_owner_filter():
    alice = OwnerFactory(name="alice")
    bob = OwnerFactory(name="bob")
    mine = target(owner=alice)
    won(mine, day(10), amount=4000, created_on=day(1))
    theirs = target(owner=bob)
    won(theirs, day(10), amount=6000, created_on=day(1))
    target(owner=None)

    assert kpi("target_accounts", filters=Filters(owner=(alice.pk,)))["value"] == 1
    assert kpi("new_revenue_won", filters=Filters(owner=(alice.pk,)))["value"] == 4000.0
    assert kpi("new_revenue_won", filters=Filters(owner=(alice.pk, bob.pk)))["value"] == 10_000.0
    assert drill_ids("won_accounts", filters=Filters(owner=(bob.pk,))) == {theirs.pk}


@pytest.mark.django_db
def test_program_filter_restricts_accounts_and_spend():
    p1 = ProgramFactory(name="Big fish")
    p2 = ProgramFactory(name="Long tail")
    a = target()
    touch(a, "email_click", day(3), program=p1)
    b = target()
    touch(b, "web_visit", day(3), program=p2)
    c = target()
    touch(c, "web_visit", day(3))  # no program
    SpendFactory(program=p1, spent_on=day(1), amount=300)
    SpendFactory(program=p2, spent_on=day(1), amount=700)

    everyone = kpis("engaged_target_accounts", "cost_per_engaged_account")
    assert everyone["engaged_target_accounts"]["value"] == 3
    assert everyone["cost_per_engaged_account"]["value"] == 333.33  # 1000 / 3

    only_p1 = kpis(
        "engaged_target_accounts", "cost_per_engaged_account", filters=Filters(program=(p1.pk,))
    )
    assert only_p1["engaged_target_accounts"]["value"] == 1  # a
    assert only_p1["cost_per_engaged_account"]["value"] == 300.0  # p1 spend 300 / 1
    assert drill_ids("engaged_target_accounts", filters=Filters(program=(p2.pk,))) == {b.pk}


# --- period boundaries ----------------------------------------------------------------------


def _boundary_touches(tz: str) -> tuple[int, int]:
    """One account per touch, so the drill-down shows which instants the period held."""
    inside = []
    for d, h, m, counts in [
        (START, 0, 0, True),  # first instant of the period
        (END, 23, 59, True),  # last minute of the period
        (D(2024, 2, 29), 23, 59, False),  # the minute before
        (D(2024, 4, 1), 0, 0, False),  # the next day at 00:00
    ]:
        account = target()
        TouchFactory(account=account, kind="web_visit", occurred_at=when(d, h, m, tz=tz))
        if counts:
            inside.append(account.pk)
    return inside[0], inside[1]


@pytest.mark.django_db
def test_period_includes_both_ends_in_utc():
    first, last = _boundary_touches("UTC")
    assert kpi("web_visits")["value"] == 2
    assert drill_ids("engaged_target_accounts") == {first, last}


@pytest.mark.django_db
def test_period_includes_both_ends_in_the_local_time_zone(settings):
    # Mar 31 23:59 in New York is Apr 1 03:59 UTC; Feb 29 23:59 there is Mar 1 04:59 UTC
    settings.TIME_ZONE = "America/New_York"
    first, last = _boundary_touches("America/New_York")
    assert kpi("web_visits")["value"] == 2
    assert drill_ids("engaged_target_accounts") == {first, last}


@pytest.mark.django_db
def test_one_day_period_in_the_local_time_zone(settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in March
    a = target()
    TouchFactory(account=a, kind="meeting", occurred_at=when(day(10), 0, 30, tz="Pacific/Auckland"))
    TouchFactory(account=a, kind="meeting", occurred_at=when(day(9), 23, 30, tz="Pacific/Auckland"))
    one_day = Period(day(10), day(10))
    assert kpi("engaged_target_accounts", period=one_day)["value"] == 1
    assert kpi("engaged_target_accounts", period=Period(day(9), day(9)))["value"] == 1
    assert kpi("engaged_target_accounts", period=Period(day(11), day(11)))["value"] == 0


@pytest.mark.django_db
def test_dates_of_opportunities_spend_and_nps_are_inclusive():
    a = target()
    won(a, START, created_on=D(2024, 2, 1))
    won(a, END, created_on=D(2024, 2, 1))
    won(a, D(2024, 2, 29), created_on=D(2024, 2, 1))
    lost(a, D(2024, 4, 1), created_on=D(2024, 2, 1))
    for d, amount in [(START, 100), (END, 200), (D(2024, 2, 29), 400), (D(2024, 4, 1), 800)]:
        SpendFactory(spent_on=d, amount=amount)
        NpsResponseFactory(account=a, score=10 if d in (START, END) else 0, responded_on=d)

    items = kpis("won_opportunities", "lost_opportunities", "net_promoter_score")

    assert items["won_opportunities"]["value"] == 2
    assert items["lost_opportunities"]["value"] == 0
    assert items["net_promoter_score"]["value"] == 100.0  # only the two 10s of Mar 1 and 31
    assert items["net_promoter_score"]["count"] == 2
    assert kpi("cost_per_won_account")["numerator"] == 300.0  # 100 + 200 ABM spend


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def _busy_world(n: int) -> None:
    """``n`` accounts of every kind, with touches, deals, spend and NPS."""
    tier = TierFactory(name="Busy", rank=9)
    program = ProgramFactory()
    for i in range(n):
        a = target(tier=tier if i % 2 else None, fit_grade="AB"[i % 2])
        touch(a, "web_visit", day(2), program=program)
        touch(a, "ad_impression", day(1))
        touch(a, "meeting", day(3))
        won(a, day(10), amount=1000 + i, created_on=day(4), contract_end=day(20))
        won(a, day(25), created_on=day(21), type="renewal")
        lost(non_target(), day(11), created_on=day(1))
        NpsResponseFactory(account=a, score=i % 11, responded_on=day(5))
        SpendFactory(program=program, spent_on=day(6), amount=10)


@pytest.mark.django_db
def test_results_are_plain_json_numbers():
    _busy_world(3)
    result = compute(MARCH, Filters())
    json.dumps(result)  # no Decimal, date or other non-JSON value
    leaves = list(_walk(result["kpis"]))
    assert not [v for v in leaves if isinstance(v, Decimal)]


@pytest.mark.django_db
def test_query_count_does_not_grow_with_the_data():
    _busy_world(2)
    with CaptureQueriesContext(connection) as small:
        compute(MARCH, Filters())
    _busy_world(12)
    with CaptureQueriesContext(connection) as large:
        compute(MARCH, Filters())
    assert len(large) == len(small)  # set-based: no query per account, touch or row


# --- drill-down -----------------------------------------------------------------------------

ACCOUNT_COUNTS = [
    "target_accounts",
    "engaged_target_accounts",
    "opportunity_accounts",
    "won_accounts",
    "customers",
    "churned_accounts",
    "expansion_accounts",
]
OPPORTUNITY_COUNTS = ["open_opportunities", "won_opportunities", "lost_opportunities"]


@pytest.mark.django_db
def test_drilldowns_return_exactly_the_rows_behind_the_numbers():
    engaged = target()
    touch(engaged, "web_visit", day(4))
    winner = target()
    touch(winner, "meeting", day(2))
    o_won = won(winner, day(12), created_on=day(3))
    prospect = target()
    o_open = opp(prospect, created_on=day(5))
    loser = target()
    o_lost = lost(loser, day(20), created_on=day(6))
    customer = make_customer(D(2023, 1, 1), account=non_target())
    won(customer, day(15), created_on=day(1), type="expansion")
    gone = make_customer(D(2022, 1, 1), churned_on=day(7))

    expected = {
        "target_accounts": {engaged.pk, winner.pk, prospect.pk, loser.pk, gone.pk},
        "engaged_target_accounts": {engaged.pk, winner.pk},
        "opportunity_accounts": {winner.pk, prospect.pk, loser.pk},
        "won_accounts": {winner.pk},
        "customers": {winner.pk, customer.pk},
        "churned_accounts": {gone.pk},
        "expansion_accounts": {customer.pk},
        "open_opportunities": {o_open.pk},
        "won_opportunities": {o_won.pk},
        "lost_opportunities": {o_lost.pk},
    }
    items = kpis(*expected)
    for kpi_id, pks in expected.items():
        assert drill_ids(kpi_id) == pks, kpi_id
        assert items[kpi_id]["value"] == len(pks), kpi_id
    for kpi_id in ACCOUNT_COUNTS:
        assert drilldown(kpi_id, MARCH, Filters()).model.__name__ == "Account"
    for kpi_id in OPPORTUNITY_COUNTS:
        assert drilldown(kpi_id, MARCH, Filters()).model.__name__ == "Opportunity"


@pytest.mark.django_db
def test_drilldown_applies_filters_and_period():
    a = target()
    touch(a, "web_visit", day(4))
    b = non_target()
    touch(b, "web_visit", day(4))
    c = target()
    touch(c, "web_visit", D(2024, 4, 4))

    assert drill_ids("engaged_target_accounts") == {a.pk}
    april = Period(D(2024, 4, 1), D(2024, 4, 30))
    assert drill_ids("engaged_target_accounts", period=april) == {c.pk}
    assert drill_ids("engaged_target_accounts", filters=Filters(cohort="non_abm")) == {b.pk}
    assert drill_ids("engaged_target_accounts", filters=Filters(cohort="all")) == {a.pk, b.pk}
