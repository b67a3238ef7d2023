"""Stage 6 KPIs (customer expansion) against hand-built fixtures; period March 2024."""

import pytest

from tests.factories import NpsResponseFactory

from .kpi_fixtures import (
    END,
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
    won,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def test_expansion_accounts_and_rate():
    a = make_customer(D(2023, 1, 1))
    won(a, day(10), created_on=day(1), type="expansion")
    b = make_customer(D(2023, 1, 1))
    lost(b, day(10), created_on=day(1), type="expansion")
    c = target()  # not a customer
    won(c, day(10), created_on=day(1), type="expansion")
    d = make_customer(D(2023, 1, 1))
    won(d, D(2024, 4, 2), created_on=day(1), type="expansion")  # after the period
    e = make_customer(D(2023, 1, 1), account=non_target())
    won(e, day(3), created_on=day(1), type="expansion")
    won(e, END, created_on=day(1), type="expansion")  # counted once

    items = kpis("expansion_accounts", "expansion_rate", "customers")

    assert items["expansion_accounts"]["value"] == 2  # a, e
    assert drill_ids("expansion_accounts") == {a.pk, e.pk}
    assert items["customers"]["value"] == 4  # a, b, d, e
    rate = items["expansion_rate"]
    assert (rate["numerator"], rate["denominator"]) == (2, 4)
    assert rate["value"] == 0.5


def test_expansion_rate_without_customers_is_null():
    target()
    assert kpi("expansion_rate")["value"] is None


def test_expansion_revenue_and_total_revenue_won():
    a = make_customer(D(2023, 1, 1))  # its new business win is in 2023
    won(a, day(10), amount=5_000, created_on=day(1), type="expansion")
    won(a, day(11), amount=1_000, created_on=day(1), type="expansion")
    lost(a, day(12), amount=9_000, created_on=day(1), type="expansion")
    opp(a, amount=9_000, created_on=day(1), type="expansion")  # open
    won(a, D(2024, 4, 1), amount=9_000, created_on=day(1), type="expansion")  # after
    won(a, day(20), amount=3_000, created_on=day(1), type="renewal")
    b = non_target()
    won(b, day(20), amount=20_000, created_on=None)  # new business, unknown created_on

    items = kpis("expansion_revenue", "total_revenue_won")

    assert items["expansion_revenue"]["value"] == 6_000.0  # 5,000 + 1,000
    assert items["expansion_revenue"]["count"] == 2
    # 5,000 + 1,000 + 3,000 + 20,000 (all types, all cohorts)
    assert items["total_revenue_won"]["value"] == 29_000.0
    assert items["total_revenue_won"]["count"] == 4


def test_annual_contract_value_of_a_five_year_contract():
    won(target(), day(10), amount=500_000, created_on=day(1), term_months=60)

    item = kpi("annual_contract_value")

    assert item["value"] == 100_000.0  # 500,000 / (60 / 12)
    assert item["count"] == 1


def test_annual_contract_value_is_the_mean_over_won_opportunities():
    a = target()
    won(a, day(10), amount=500_000, created_on=day(1), term_months=60)  # 100,000 a year
    won(a, day(11), amount=12_000, created_on=day(1), term_months=6, type="expansion")  # 24,000
    won(non_target(), day(12), amount=30_000, created_on=day(1))  # default term 12: 30,000
    lost(a, day(12), amount=1_000_000, created_on=day(1))  # lost: left out
    won(a, D(2024, 2, 1), amount=1_000_000, created_on=D(2024, 1, 1))  # before the period

    item = kpi("annual_contract_value")

    assert item["value"] == 51_333.33  # (100,000 + 24,000 + 30,000) / 3
    assert item["count"] == 3


def test_annual_contract_value_of_no_wins_is_null():
    lost(target(), day(12), created_on=day(1))
    assert kpi("annual_contract_value")["value"] is None


def test_customer_lifetime_value_caps_lifespan_at_ten_years_without_churn():
    won(target(), day(10), amount=120_000, created_on=day(1))  # ACV 120,000
    make_customer(D(2023, 1, 1))  # customers, none churned in the trailing 12 months

    item = kpi("customer_lifetime_value")

    assert item["value"] == 1_200_000.0  # 120,000 x 10 years (churn 0 -> cap)


def test_customer_lifetime_value_with_churn_is_below_the_cap():
    won(target(), day(10), amount=120_000, created_on=day(1))  # ACV 120,000
    for _ in range(4):
        make_customer(D(2022, 1, 1))
    make_customer(D(2022, 1, 1), churned_on=D(2023, 10, 1))  # 1 of 5 churned in the last year

    value = kpi("customer_lifetime_value")["value"]

    # Reading: churn 1/5 (or 1/4, depending on the base) -> 4-5 years, certainly < 10, >= 1
    assert 120_000.0 <= value < 1_200_000.0


def test_net_promoter_score():
    account = target()
    for score in (10, 9, 9, 8, 7, 3):
        NpsResponseFactory(account=account, score=score, responded_on=day(15))
    NpsResponseFactory(account=account, score=0, responded_on=D(2024, 2, 29))  # before
    NpsResponseFactory(account=non_target(), score=10, responded_on=END)  # cohort all: counts

    item = kpi("net_promoter_score")

    # 7 responses: promoters 10, 9, 9, 10 = 4; detractors 3 = 1; passives 8, 7 count in n
    # (4 - 1) / 7 x 100 = 42.857 -> 42.86
    assert item["unit"] == "score"
    assert item["value"] == 42.86
    assert item["count"] == 7


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((9, 10, 10), 100.0),  # all promoters
        ((0, 6, 3), -100.0),  # all detractors
        ((7, 8, 8, 7), 0.0),  # all passives: 0, not null
        ((10, 7, 8, 0), 0.0),  # 1 promoter, 1 detractor, 2 passives -> (1 - 1) / 4
        ((10, 8, 8, 8), 25.0),  # (1 - 0) / 4 x 100: passives in the denominator
    ],
)
def test_net_promoter_score_bounds_and_passives(scores, expected):
    account = target()
    for score in scores:
        NpsResponseFactory(account=account, score=score, responded_on=day(15))
    assert kpi("net_promoter_score")["value"] == expected


def test_net_promoter_score_without_responses_is_null():
    NpsResponseFactory(account=target(), score=10, responded_on=D(2024, 4, 1))
    item = kpi("net_promoter_score")
    assert item["value"] is None
    assert item["count"] == 0


def test_total_addressable_market():
    a = target(fit_grade="A")
    won(a, D(2022, 6, 1), amount=500_000, created_on=D(2022, 5, 1), term_months=60)  # 100,000
    b = non_target(fit_grade="B")
    won(b, day(10), amount=24_000, created_on=day(1))  # 24,000 a year
    target(fit_grade="B")
    target(fit_grade="C")
    target(fit_grade="")
    won(target(fit_grade="D"), D(2024, 4, 2), amount=1_000_000, created_on=day(1))  # after to
    lost(a, day(2), amount=1_000_000, created_on=day(1))

    item = kpi("total_addressable_market")

    # mean ACV (100,000 + 24,000) / 2 = 62,000 x 3 accounts graded A or B = 186,000
    assert item["value"] == 186_000.0


def test_total_addressable_market_without_wins_is_null():
    target(fit_grade="A")
    assert kpi("total_addressable_market")["value"] is None
