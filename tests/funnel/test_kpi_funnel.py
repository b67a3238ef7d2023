"""Funnel, stage velocity and cohort comparison KPIs; period March 2024."""

import pytest

from tests.factories import AccountStageChangeFactory, NpsResponseFactory

from .kpi_fixtures import (
    D,
    day,
    kpi,
    kpis,
    lost,
    make_customer,
    non_target,
    opp,
    target,
    touch,
    won,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def test_funnel_stage_counts_and_conversion_rates():
    a = target()
    touch(a, "web_visit", day(5))
    opp(a, created_on=day(6), status="won", closed_on=day(20))  # engaged, opp, won
    b = target()
    touch(b, "meeting", day(5))
    opp(b, created_on=day(7))  # engaged, opp
    c = target()
    touch(c, "email_click", day(8))  # engaged
    target()  # target only
    e = make_customer(D(2023, 3, 10))
    e.opportunities.update(contract_end=day(15))
    won(e, day(25), created_on=day(1), type="renewal")  # renewed 10 days after the end
    won(e, day(26), created_on=day(1), type="expansion")  # expanded

    items = kpis(
        "funnel",
        "target_accounts",
        "engaged_target_accounts",
        "opportunity_accounts",
        "won_accounts",
        "expansion_accounts",
    )

    funnel = items["funnel"]
    assert funnel["unit"] == "map"
    stages = funnel["value"]["stages"]
    conversion = funnel["value"]["conversion"]
    # in order: target 5, engaged 3, opportunity 2, won 1, renewed 1, expanded 1
    assert list(stages.values()) == [5, 3, 2, 1, 1, 1]
    assert [
        items[k]["value"]
        for k in (
            "target_accounts",
            "engaged_target_accounts",
            "opportunity_accounts",
            "won_accounts",
        )
    ] == list(stages.values())[:4]
    assert list(stages.values())[5] == items["expansion_accounts"]["value"]
    # 3/5, 2/3, 1/2, 1/1, 1/1
    assert list(conversion.values()) == [0.6, 0.6667, 0.5, 1.0, 1.0]


def test_funnel_conversion_from_an_empty_stage_is_null():
    target()
    target()

    value = kpi("funnel")["value"]

    assert list(value["stages"].values()) == [2, 0, 0, 0, 0, 0]
    assert list(value["conversion"].values()) == [0.0, None, None, None, None]  # 0/2, then 0/0


def change(account, on, from_stage, to_stage):
    return AccountStageChangeFactory(
        account=account, changed_on=on, from_stage=from_stage, to_stage=to_stage
    )


def test_stage_velocity_days():
    a = target()
    change(a, D(2024, 1, 1), "none", "target")
    change(a, day(11), "target", "engaged")  # 70 days in target
    change(a, day(21), "engaged", "opportunity")  # 10 days in engaged
    b = target()
    change(b, D(2024, 2, 10), "none", "target")
    change(b, D(2024, 2, 20), "target", "engaged")  # before the period
    change(b, day(5), "engaged", "opportunity")  # 14 days in engaged
    change(b, D(2024, 4, 5), "opportunity", "customer")  # after the period

    item = kpi("stage_velocity_days")

    assert item["unit"] == "map"
    value = item["value"]
    assert value["target"] == 70.0  # a: Jan 1 -> Mar 11
    assert value["engaged"] == 12.0  # (a 10 + b 14) / 2
    assert all(v is None for k, v in value.items() if k not in ("target", "engaged"))


def test_cohort_comparison():
    a1, a2, a3 = target(), target(), target()
    won(a1, day(11), amount=10_000, created_on=day(1))  # 10 days
    won(a2, day(21), amount=30_000, created_on=day(1))  # 20 days
    lost(a3, day(15), created_on=day(1))
    n1 = non_target()
    won(n1, day(6), amount=5_000, created_on=day(1))  # 5 days
    won(n1, day(25), amount=2_000, created_on=day(20), type="expansion")
    for _ in range(3):
        lost(non_target(), day(15), created_on=day(1))
    NpsResponseFactory(account=a1, score=10, responded_on=day(5))
    NpsResponseFactory(account=a2, score=10, responded_on=day(5))
    NpsResponseFactory(account=n1, score=0, responded_on=day(5))

    item = kpi("cohort_comparison")

    assert item["unit"] == "map"
    assert item["value"] == {
        "average_deal_value": {"abm": 20_000.0, "non_abm": 5_000.0},  # (10k + 30k) / 2; 5k
        "sales_cycle_days": {"abm": 15.0, "non_abm": 5.0},  # (10 + 20) / 2; 5
        "opportunity_win_rate": {"abm": 0.6667, "non_abm": 0.25},  # 2 / 3; 1 / 4
        "renewal_rate": {"abm": None, "non_abm": None},  # nothing due
        "expansion_rate": {"abm": 0.0, "non_abm": 1.0},  # 0 / 2 customers; 1 / 1
        "net_promoter_score": {"abm": 100.0, "non_abm": -100.0},
    }
    # The sample behind each value (#19): rows of a mean, the denominator (and numerator)
    # of a rate, responses of the NPS.
    assert item["basis"] == {
        "average_deal_value": {"abm": {"n": 2}, "non_abm": {"n": 1}},
        "sales_cycle_days": {"abm": {"n": 2}, "non_abm": {"n": 1}},
        "opportunity_win_rate": {
            "abm": {"n": 3, "numerator": 2},
            "non_abm": {"n": 4, "numerator": 1},
        },
        "renewal_rate": {"abm": {"n": 0, "numerator": 0}, "non_abm": {"n": 0, "numerator": 0}},
        "expansion_rate": {
            "abm": {"n": 2, "numerator": 0},
            "non_abm": {"n": 1, "numerator": 1},
        },
        "net_promoter_score": {"abm": {"n": 2}, "non_abm": {"n": 1}},
    }
