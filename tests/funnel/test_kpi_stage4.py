"""Stage 4 KPIs (new deals won) against hand-built fixtures; period March 2024."""

import pytest

from tests.factories import SpendFactory

from .kpi_fixtures import (
    END,
    D,
    day,
    drill_ids,
    kpi,
    kpis,
    lost,
    non_target,
    opp,
    target,
    touch,
    touches,
    won,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def _deals_world():
    """Four won, one lost new_business deal of target accounts closed in March, plus noise."""
    a, b, c, h = target(), target(), target(), target()
    won(a, day(10), amount=10_000, created_on=D(2024, 1, 1))  # 69 days
    won(b, day(20), amount=20_000, created_on=D(2024, 2, 1))  # 48 days
    won(c, END, amount=30_000, created_on=day(1))  # 30 days; last day inclusive
    won(h, day(1), amount=40_000, created_on=None)  # unknown created_on; first day inclusive
    lost(target(), day(15), amount=5_000, created_on=D(2024, 2, 1))
    won(target(), day(12), amount=7_000, created_on=day(1), type="renewal")  # not new business
    won(non_target(), day(12), amount=50_000, created_on=day(1))  # not in the abm cohort
    won(target(), D(2024, 4, 1), amount=60_000, created_on=day(1))  # closed after the period
    opp(target(), amount=70_000, created_on=day(1))  # still open
    return a, b, c, h


def test_won_lost_and_opportunity_win_rate():
    _deals_world()

    items = kpis("won_opportunities", "lost_opportunities", "opportunity_win_rate")

    assert items["won_opportunities"]["value"] == 4  # a, b, c, h (h has no created_on)
    assert items["lost_opportunities"]["value"] == 1
    rate = items["opportunity_win_rate"]
    assert (rate["numerator"], rate["denominator"]) == (4, 5)  # 4 won / (4 won + 1 lost)
    assert rate["value"] == 0.8


def test_opportunity_win_rate_without_closed_deals_is_null():
    opp(target(), created_on=day(3))
    rate = kpi("opportunity_win_rate")
    assert rate["value"] is None
    assert rate["denominator"] == 0


def test_new_revenue_won_and_average_deal_value():
    _deals_world()

    items = kpis("new_revenue_won", "average_deal_value")

    revenue = items["new_revenue_won"]
    assert revenue["value"] == 100_000.0  # 10,000 + 20,000 + 30,000 + 40,000
    assert revenue["count"] == 4
    average = items["average_deal_value"]
    assert average["value"] == 25_000.0  # 100,000 / 4
    assert average["count"] == 4
    assert average["total"] == 100_000.0


def test_sales_cycle_days_mean_and_median_skip_unknown_created_on():
    _deals_world()

    items = kpis("sales_cycle_days", "sales_cycle_days_median")

    mean = items["sales_cycle_days"]
    assert mean["unit"] == "days"
    assert mean["value"] == 49.0  # (69 + 48 + 30) / 3; h has no created_on
    assert mean["count"] == 3
    assert mean["total"] == 147.0
    median = items["sales_cycle_days_median"]
    assert median["value"] == 48.0  # median of 30, 48, 69
    assert median["count"] == 3


def test_sales_cycle_median_of_an_even_count_is_the_mean_of_the_middle_two():
    won(target(), day(10), created_on=day(1))  # 9 days
    won(target(), day(20), created_on=day(10))  # 10 days
    won(target(), day(30), created_on=day(10))  # 20 days
    won(target(), day(30), created_on=D(2024, 2, 29))  # 30 days

    assert kpi("sales_cycle_days_median")["value"] == 15.0  # (10 + 20) / 2


def test_revenue_and_means_of_no_rows():
    lost(target(), day(15), created_on=day(1))

    items = kpis("new_revenue_won", "average_deal_value", "sales_cycle_days")

    assert items["new_revenue_won"]["value"] == 0  # sum of no rows is 0
    assert items["new_revenue_won"]["count"] == 0
    assert items["average_deal_value"]["value"] is None  # mean of no rows is null
    assert items["sales_cycle_days"]["value"] is None


def test_won_accounts_and_target_account_win_rate():
    a = target()
    won(a, day(10), created_on=day(1))
    b = target()
    won(b, D(2023, 12, 1), created_on=D(2023, 11, 1))  # first win before the period
    won(b, day(12), created_on=day(1))
    c = target()
    won(c, day(10), created_on=day(1), type="renewal")  # not new business
    d = target()
    lost(d, day(10), created_on=day(1))
    won(non_target(), day(10), created_on=day(1))  # not a target account
    f = target()
    won(f, END, created_on=day(1))  # last day inclusive
    target()  # nothing

    items = kpis("won_accounts", "target_account_win_rate")

    assert items["won_accounts"]["value"] == 2  # a, f
    assert drill_ids("won_accounts") == {a.pk, f.pk}
    rate = items["target_account_win_rate"]
    assert (rate["numerator"], rate["denominator"]) == (2, 6)  # a, b, c, d, f, nothing
    assert rate["value"] == 0.3333


def test_deal_cycle_days():
    a = target()
    touch(a, "ad_impression", D(2023, 12, 1))  # not engagement
    touch(a, "web_visit", D(2024, 1, 1))  # first engagement touch
    touch(a, "meeting", D(2024, 2, 1))
    won(a, day(10), created_on=D(2024, 2, 1))  # Jan 1 -> Mar 10 = 69 days
    b = target()
    touch(b, "email_reply", day(1))
    won(b, END, created_on=day(5))  # Mar 1 -> Mar 31 = 30 days
    c = target()
    touch(c, "web_visit", D(2023, 6, 1))
    won(c, D(2024, 2, 1), created_on=D(2024, 1, 1))  # won before March: not a won account

    item = kpi("deal_cycle_days")

    assert item["value"] == 49.5  # (69 + 30) / 2
    assert item["count"] == 2


def test_touches_per_won_account():
    a = target()
    touch(a, "ad_impression", D(2024, 1, 5))
    touch(a, "email_sent", D(2024, 2, 5))
    touch(a, "meeting", day(5))
    touch(a, "meeting", day(20))  # after the win on Mar 10
    won(a, day(10), created_on=day(1))
    b = target()
    touch(b, "direct_mail_sent", D(2024, 2, 1))
    won(b, day(15), created_on=day(1))

    item = kpi("touches_per_won_account")

    # a: 3 touches before the win, b: 1 -> (3 + 1) / 2 = 2.00
    assert item["value"] == 2.0
    assert item["count"] == 2


def test_conversion_rate_ten_wins_from_a_hundred_engagement_touches():
    for _ in range(10):
        account = target()
        touches(account, "web_visit", day(3), 6)
        touches(account, "email_open", day(4), 4)  # 6 + 4 = 10 engagement touches in March
        touches(account, "ad_impression", day(4), 5)  # not engagement
        touch(account, "meeting", D(2024, 2, 20))  # before the period
        won(account, day(25), created_on=day(1))
    loser = target()
    touches(loser, "web_visit", day(3), 50)  # engagement of an account that did not win

    item = kpi("conversion_rate")

    assert (item["numerator"], item["denominator"]) == (10, 100)
    assert item["value"] == 0.1  # 10 wins / 100 engagement touches


def test_cost_per_won_account():
    for n in (5, 15):
        won(target(), day(n), created_on=day(1))
    SpendFactory(spent_on=day(2), amount=900, category="marketing")
    SpendFactory(spent_on=day(2), amount=100, category="support")  # not marketing or sales
    SpendFactory(program=None, spent_on=day(2), amount=5000)  # not ABM

    item = kpi("cost_per_won_account")

    assert item["value"] == 450.0  # 900 / 2


def _cac_world():
    won(target(), day(5), created_on=day(1))  # new customer
    won(non_target(), day(6), created_on=day(1))  # new customer too (all cohorts)
    old = target()
    won(old, D(2023, 5, 1), created_on=D(2023, 4, 1))
    won(old, day(7), created_on=day(1))  # a second win: not a new customer
    SpendFactory(spent_on=day(1), amount=300, category="marketing")  # with program
    SpendFactory(program=None, spent_on=day(2), amount=600, category="marketing")
    SpendFactory(program=None, spent_on=day(3), amount=300, category="sales")
    SpendFactory(program=None, spent_on=day(4), amount=100, category="onboarding")
    SpendFactory(program=None, spent_on=day(5), amount=200, category="support")
    SpendFactory(program=None, spent_on=D(2024, 2, 29), amount=9999, category="sales")  # before


def test_customer_acquisition_cost():
    _cac_world()

    item = kpi("customer_acquisition_cost")

    # (300 + 600 + 300) / 2 new customers = 600.00
    assert item["value"] == 600.0
    assert (item["numerator"], item["denominator"]) == (1200.0, 2)


def test_customer_acquisition_cost_full_adds_onboarding_and_support():
    _cac_world()

    item = kpi("customer_acquisition_cost_full")

    # Reading: Spend has no account, so "onboarding and support costs of the new customers"
    # is the onboarding + support spend of the period: (1200 + 100 + 200) / 2 = 750.00
    assert item["value"] == 750.0
    assert (item["numerator"], item["denominator"]) == (1500.0, 2)


def test_customer_acquisition_cost_without_new_customers_is_null():
    SpendFactory(spent_on=day(1), amount=300)
    items = kpis("customer_acquisition_cost", "customer_acquisition_cost_full")
    assert items["customer_acquisition_cost"]["value"] is None
    assert items["customer_acquisition_cost_full"]["value"] is None
