"""Stage 5 KPIs (customer retention) against hand-built fixtures; period March 2024.

The default cohort of stages 5-6 is ``all``: non-target accounts count too.
"""

import pytest

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
    strong_contact,
    target,
    weekly_signals,
    won,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def test_customers_as_of_the_end_of_the_period():
    a = make_customer(D(2024, 1, 10))
    b = make_customer(END)  # won on the last day: a customer as of to
    make_customer(D(2024, 4, 1))  # won after to
    make_customer(D(2023, 6, 1), churned_on=day(15))  # churned during the period
    e = make_customer(D(2023, 6, 1), churned_on=D(2024, 4, 5))  # churns after to: still one
    f = target()
    won(f, D(2024, 1, 5), created_on=D(2024, 1, 1), type="expansion")  # no new_business win
    lost(target(), D(2024, 1, 5), created_on=D(2024, 1, 1))
    h = make_customer(D(2023, 9, 1), account=non_target())  # non-target: default cohort all
    make_customer(D(2023, 6, 1), churned_on=END)  # churned_on must be > to

    item = kpi("customers")

    assert item["cohort"] == "all"
    assert item["value"] == 4  # a, b, e, h
    assert drill_ids("customers") == {a.pk, b.pk, e.pk, h.pk}


def test_renewals_due_and_renewal_rate():
    renewed = target()
    won(renewed, D(2023, 3, 10), created_on=D(2023, 3, 1), contract_end=day(15))
    won(renewed, day(25), created_on=day(1), type="renewal")  # 10 days after the end: renewed
    late = target()
    won(late, D(2023, 3, 10), created_on=D(2023, 3, 1), contract_end=END)
    won(late, D(2024, 5, 15), created_on=day(1), type="renewal")  # 45 days after: too late
    gone = non_target()
    won(gone, D(2023, 3, 10), created_on=D(2023, 3, 1), contract_end=day(1))  # no renewal
    later = target()
    won(later, D(2023, 4, 10), created_on=D(2023, 4, 1), contract_end=D(2024, 4, 1))  # not due
    lost(target(), day(2), created_on=day(1), contract_end=day(10))  # not a contract
    opp(target(), created_on=day(1), contract_end=day(10))  # open: not a contract

    items = kpis("renewals_due", "renewal_rate")

    assert items["renewals_due"]["value"] == 3  # renewed, late, gone
    rate = items["renewal_rate"]
    assert (rate["numerator"], rate["denominator"]) == (1, 3)
    assert rate["value"] == 0.3333


def test_renewal_rate_without_renewals_due_is_null():
    make_customer(D(2023, 1, 1))
    items = kpis("renewals_due", "renewal_rate")
    assert items["renewals_due"]["value"] == 0
    assert items["renewal_rate"]["value"] is None


def test_churned_accounts_inclusive_period():
    first = make_customer(churned_on=day(1))
    last = make_customer(churned_on=END)
    make_customer(churned_on=D(2024, 2, 29))
    make_customer(churned_on=D(2024, 4, 1))
    outsider = make_customer(account=non_target(churned_on=day(10)))

    item = kpi("churned_accounts")

    assert item["value"] == 3  # first, last, outsider (cohort all)
    assert drill_ids("churned_accounts") == {first.pk, last.pk, outsider.pk}


def competitor_surge(account) -> None:
    """A provider-flagged surge on a competitor topic in the week of Mar 11."""
    weekly_signals(
        account, "rival", D(2024, 3, 11), 1, 50, is_competitor_topic=True, provider_surge=True
    )


def test_at_risk_customers():
    surge = make_customer()
    competitor_surge(surge)
    other_topic = make_customer()
    weekly_signals(other_topic, "analytics", D(2024, 3, 11), 1, 50, provider_surge=True)
    degraded = make_customer()
    strong_contact(degraded, END.replace(day=1))  # 100 on Mar 1 -> ~66 on Mar 31
    prospect = target()  # competitor surge, but not a customer
    competitor_surge(prospect)
    make_customer()  # quiet customer

    item = kpi("at_risk_customers")

    assert item["value"] == 2  # surge, degraded
    assert drill_ids("at_risk_customers") == {surge.pk, degraded.pk}


def test_customer_relationship_score_avg():
    hot = make_customer()
    strong_contact(hot, END)  # 100
    make_customer()  # 0
    strong_contact(target(), END)  # not a customer

    item = kpi("customer_relationship_score_avg")

    assert item["value"] == 50.0  # (100 + 0) / 2
    assert item["count"] == 2


def test_renewal_on_the_thirtieth_day_after_the_end_counts():
    on_time = target()
    won(on_time, D(2023, 3, 1), created_on=D(2023, 2, 1), contract_end=day(1))
    won(on_time, day(31), created_on=day(1), type="renewal")  # Mar 1 + 30 days = Mar 31
    too_late = target()
    won(too_late, D(2023, 3, 1), created_on=D(2023, 2, 1), contract_end=day(1))
    won(too_late, D(2024, 4, 1), created_on=day(1), type="renewal")  # 31 days after

    rate = kpi("renewal_rate")

    assert (rate["numerator"], rate["denominator"]) == (1, 2)
    assert rate["value"] == 0.5
