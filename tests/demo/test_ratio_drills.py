"""Both sides of every rate, and the rows of every mean, on the seeded demo (#19 item 2):
the numerator's list count / the denominator's list count is the rate, and the mean of
the listed opportunities' amounts (or cycle days) is the mean KPI. The default cohorts and non-ABM."""

import datetime as dt
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
#: Rates that are one population over another. The others are touch counts (ad and e-mail
#: rates list accounts, not touches), visitors (no list), or amounts and touch sums.
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
    with_sides = {spec.id for spec in catalogue(generation) if NUMERATOR in spec.drill_parts}
    assert with_sides == RATES[generation]
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
