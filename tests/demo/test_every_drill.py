"""Every KPI with a population drills, on the seeded demo (#19 item 2 and "Done when").

- Every id of the v1 and v2 catalogues answers its page and the API's drill-down (200), and
  each part it declares (a rate's numerator and denominator); only the KPIs the catalogue
  marks ``no_population`` answer 404 (the product page, naming why).
- The listed rows add up to the KPI: a count is the number of rows, a sum the total of the
  rows' figures (amount, touches, minutes), a mean or median theirs (deal value, days,
  scores); for a rate of two populations, numerator list / denominator list is the rate.
  The default cohorts and non-ABM.
"""

import datetime as dt
import html
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Avg

from funnel.kpis import Filters, Period, catalogue, compute, drilldown
from funnel.kpis.arithmetic import round_ratio
from funnel.kpis.base import DENOMINATOR, NUMERATOR

END = dt.date(2026, 6, 30)
PERIOD = Period(dt.date(2026, 1, 1), END)
#: Rates whose value is the numerator list's row count over the denominator list's. The
#: other rates' sides list the accounts with the touches (ad, e-mail rates), visitors or
#: amounts they count, not one row per unit counted.
RATES = {
    1: {
        "engaged_rate",
        "unengaged_rate",
        "opportunity_rate",
        "engaged_share_of_tam",
        "target_account_win_rate",
        "opportunity_win_rate",
        "renewal_rate",
        "expansion_rate",
    },
}
RATES[2] = RATES[1]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command(
            "seed_demo",
            "--accounts",
            "80",
            "--touches",
            "4000",
            "--end-date",
            END.isoformat(),
            "--force",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    yield
    with django_db_blocker.unblock():
        from demo.services import demo_tables_wipe

        demo_tables_wipe()


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("cohort", [None, "non_abm"])
def test_each_rate_is_its_numerator_list_over_its_denominator_list(demo, version, cohort):
    filters = Filters(cohort=cohort)
    generation = int(version[1])
    with_sides = RATES[generation]
    result = compute(PERIOD, filters, ids=sorted(with_sides), definitions=version)
    items = {i["id"]: i for i in result["kpis"]}
    nonzero = 0
    for kpi_id in sorted(with_sides):
        top = drilldown(kpi_id, PERIOD, filters, definitions=version, part=NUMERATOR).count()
        bottom = drilldown(kpi_id, PERIOD, filters, definitions=version, part=DENOMINATOR)
        bottom = bottom.count()
        item = items[kpi_id]
        assert (top, bottom) == (item["numerator"], item["denominator"]), kpi_id
        expected = round_ratio(top / bottom) if bottom else None
        assert item["value"] == expected, kpi_id
        nonzero += bool(top)
    assert nonzero >= 4  # the demo has rows on both sides of most rates


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("cohort", [None, "non_abm"])
def test_each_mean_is_the_mean_of_its_listed_opportunities(demo, version, cohort):
    filters = Filters(cohort=cohort)
    items = {
        i["id"]: i
        for i in compute(
            PERIOD, filters, ids=["average_deal_value", "sales_cycle_days"], definitions=version
        )["kpis"]
    }
    deals = drilldown("average_deal_value", PERIOD, filters, definitions=version)
    listed = deals.aggregate(mean=Avg("amount"))
    assert deals.count() == items["average_deal_value"]["count"]
    if not deals.exists():  # the small demo's non-ABM cohort may win nothing in the period
        assert cohort and items["average_deal_value"]["value"] is None
        return
    assert round(Decimal(listed["mean"]), 2) == round(
        Decimal(str(items["average_deal_value"]["value"])), 2
    )
    cycles = drilldown("sales_cycle_days", PERIOD, filters, definitions=version)
    days = [
        (closed - created).days for closed, created in cycles.values_list("closed_on", "created_on")
    ]
    assert len(days) == items["sales_cycle_days"]["count"] > 0
    assert round(sum(days) / len(days), 2) == items["sales_cycle_days"]["value"]


#: The KPIs the catalogue marks without a population of their own (``no_population``).
NO_POPULATION = {
    1: {
        "cost_per_engaged_account",
        "cost_per_opportunity_account",
        "cost_per_won_account",
        "customer_acquisition_cost",
        "customer_acquisition_cost_full",
        "customer_lifetime_value",
        "total_addressable_market",
        "stage_velocity_days",
        "cohort_comparison",
    },
}
NO_POPULATION[2] = NO_POPULATION[1] | {
    "attributed_pipeline",
    "cost_per_attributed_opportunity",
    "attributed_revenue",
    "attribution_roi",
    "funnel_flow",
    # Lift: a difference between a holdout's two groups (its lift page shows both).
    "lift_engaged_rate",
    "lift_opportunity_rate",
    "lift_win_rate",
    "lift_pipeline_per_account",
    "lift_revenue_per_account",
}


@pytest.mark.parametrize("generation", [1, 2])
def test_the_catalogue_marks_exactly_the_kpis_without_a_population(generation):
    specs = catalogue(generation)
    marked = {s.id for s in specs if s.no_population}
    assert marked == NO_POPULATION[generation]
    for spec in specs:
        assert spec.drillable != bool(spec.no_population), spec.id
        assert spec.drill is not None or spec.drill_parts or spec.no_population, spec.id
    for spec in specs:  # a rate lists both sides, or the one population it is made over
        if spec.unit == "ratio" and not spec.no_population:
            sides = {NUMERATOR, DENOMINATOR} <= set(spec.drill_parts)
            assert sides or spec.id == "conversion_rate" and spec.drill is not None, spec.id


def _query(version: str, cohort: str | None) -> str:
    query = f"from={PERIOD.start}&to={PERIOD.end}&definitions={version}"
    return query + (f"&cohort={cohort}" if cohort else "")


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_every_kpi_id_drills_on_the_page_and_the_api(demo, version, client, viewer, viewer_api):
    client.force_login(viewer)
    generation = int(version[1])
    query = _query(version, None)
    answers = {}
    for spec in catalogue(generation):
        page = client.get(f"/kpis/{spec.id}/accounts/?{query}")
        api = viewer_api.get(f"/api/v1/kpis/{spec.id}/accounts/?{query}&page_size=5")
        answers[spec.id] = (page.status_code, api.status_code)
        for part in spec.drill_parts:
            part_page = client.get(f"/kpis/{spec.id}/{part}/accounts/?{query}")
            part_api = viewer_api.get(f"/api/v1/kpis/{spec.id}/accounts/?{query}&part={part}")
            assert (part_page.status_code, part_api.status_code) == (200, 200), (spec.id, part)
        if spec.no_population:
            # the product page says why
            assert spec.no_population in html.unescape(page.content.decode())
            assert spec.no_population in api.json()["detail"]
    refused = {kpi_id for kpi_id, codes in answers.items() if codes != (200, 200)}
    assert refused == NO_POPULATION[generation]
    assert {answers[k] for k in refused} == {(404, 404)}


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("cohort", [None, "non_abm"])
def test_listed_rows_add_up_to_every_kpi(demo, version, cohort):
    filters = Filters(cohort=cohort)
    generation = int(version[1])
    specs = [s for s in catalogue(generation) if s.drill is not None]
    result = compute(PERIOD, filters, ids=[s.id for s in specs], definitions=version)
    items = {i["id"]: i for i in result["kpis"]}
    checked, nonzero = [], 0
    for spec in specs:
        item = items[spec.id]
        rows = drilldown(spec.id, PERIOD, filters, definitions=version)
        if spec.figure is not None:
            figures = list(rows.values_list("figure", flat=True))
            listed = spec.figure.of(figures)
            if item["value"] is None:
                assert listed is None or not figures, spec.id
            else:
                assert listed == pytest.approx(float(item["value"]), abs=0.011), spec.id
            nonzero += bool(figures)
        elif spec.unit == "count":
            assert rows.count() == item["value"], spec.id
            nonzero += bool(item["value"])
        elif spec.unit == "map":
            assert rows.count() == item["count"], spec.id
        else:  # the accounts that answered (NPS), or won (v1 conversion rate's sums)
            assert spec.id in ("net_promoter_score", "conversion_rate"), spec.id
            continue
        checked.append(spec.id)
    assert len(checked) >= 40
    assert nonzero >= (25 if cohort is None else 15)  # the demo has rows behind most


@pytest.mark.django_db
def test_api_part_and_contribution(demo, viewer_api):
    query = _query("v2", None)
    won = viewer_api.get(f"/api/v1/kpis/new_revenue_won/accounts/?{query}&page_size=1000")
    body = won.json()
    value = compute(PERIOD, ids=["new_revenue_won"], definitions="v2")["kpis"][0]["value"]
    assert body["figure"]["label"] == "Amount" and body["figure"]["combine"] == "sum"
    assert body["figure"]["value"] == pytest.approx(float(value))
    assert sum(Decimal(str(r["contribution"])) for r in body["results"]) == Decimal(str(value))
    assert body["part"] is None
    top = viewer_api.get(f"/api/v1/kpis/opportunity_win_rate/accounts/?{query}&part=numerator")
    assert top.status_code == 200 and top.json()["part"] == "numerator"
    assert top.json()["figure"] is None
    assert set(top.json()["results"][0]) >= {"id", "amount", "status"}
    nope = viewer_api.get(f"/api/v1/kpis/opportunity_win_rate/accounts/?{query}&part=customer")
    assert nope.status_code == 404 and "part 'customer'" in nope.json()["detail"]
    cost = viewer_api.get(f"/api/v1/kpis/cost_per_won_account/accounts/?{query}&part=denominator")
    assert cost.status_code == 200
