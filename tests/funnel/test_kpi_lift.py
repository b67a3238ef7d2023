"""Lift KPIs (#20 item 4): treated against held-out accounts, with hand-computed intervals."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from accounts.models import HoldoutAssignment
from accounts.selectors import target_list
from accounts.services import holdout_draw
from funnel.definitions import definitions_mark_used, definitions_resolve
from funnel.kpis import LIFT_KPIS, Period, UnknownKpi, holdout_lift, holdout_of_list
from funnel.kpis.arithmetic import (
    newcombe_difference,
    sample_variance,
    t_quantile_975,
    welch_interval,
)
from tests.conftest import postgresql_only
from tests.factories import AccountFactory, OpportunityFactory, TouchFactory, at

D = dt.date
PERIOD = Period(D(2024, 7, 1), D(2024, 9, 30))


# --- arithmetic, against hand computation and published values -------------------------------


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, Table II example (a): 56/70 - 48/80, method 10
    low, high = newcombe_difference(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # example (e), 5/56 - 0/29 (a zero count), by hand: 0/29 has the Wilson interval
    # [0, z^2 / (29 + z^2)], so the lower limit is d - sqrt((p1 - l1)^2 + (u2 - 0)^2)
    low, high = newcombe_difference(5, 56, 0, 29)
    z2 = 1.96**2
    p1 = 5 / 56
    centre = (p1 + z2 / 112) / (1 + z2 / 56)
    half = 1.96 * math.sqrt(p1 * (1 - p1) / 56 + z2 / (4 * 56 * 56)) / (1 + z2 / 56)
    u2 = z2 / (29 + z2)
    assert low == pytest.approx(p1 - math.sqrt((p1 - (centre - half)) ** 2 + u2**2))
    assert high == pytest.approx(p1 + (centre + half - p1))
    assert (round(low, 4), round(high, 4)) == (-0.0381, 0.1926)
    assert newcombe_difference(1, 0, 1, 2) is None


def test_t_quantiles_match_the_tables():
    for df, table in ((1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423)):
        assert t_quantile_975(df) == pytest.approx(table, abs=4e-3 if df < 10 else 2e-4)
    assert t_quantile_975(1e9) == pytest.approx(1.96, abs=1e-4)


def test_welch_by_hand():
    # groups {1, 2, 3, 4} and {2, 4}: means 2.5 and 3, variances 5/3 and 2
    var1 = sample_variance(10, 30, 4)
    var2 = sample_variance(6, 20, 2)
    assert (var1, var2) == (pytest.approx(5 / 3), pytest.approx(2.0))
    low, high, df = welch_interval(2.5, var1, 4, 3.0, var2, 2)
    a, b = (5 / 3) / 4, 2 / 2
    assert df == pytest.approx((a + b) ** 2 / (a * a / 3 + b * b / 1))
    half = t_quantile_975(df) * math.sqrt(a + b)
    assert (low, high) == (pytest.approx(-0.5 - half), pytest.approx(-0.5 + half))
    assert welch_interval(1, 0, 1, 1, 0, 5) is None  # a group of one has no variance
    assert welch_interval(3, 0, 5, 1, 0, 5) == (2, 2, None)  # no spread: the difference


# --- the KPIs on hand-built data with a known effect -------------------------------------------


def build_experiment():
    """200 target accounts, 25 % held out (50). Treated: 60 % engaged, 30 % with a new
    opportunity of 1,000, 10 % of them won; held out: 20 % engaged, 10 % with an
    opportunity of 1,000, 2 % won. The true lifts: +0.40, +0.20, +0.08, +200, +80."""
    AccountFactory.create_batch(200)
    holdout = holdout_draw(target_list(), "0.25", "lift", D(2024, 6, 1))
    rows = HoldoutAssignment.objects.filter(holdout=holdout).order_by("account_id")
    groups = {
        flag: list(rows.filter(held_out=flag).values_list("account_id", flat=True))
        for flag in (False, True)
    }
    shares = {False: (0.6, 0.3, 0.1), True: (0.2, 0.1, 0.02)}
    for flag, ids in groups.items():
        engaged, opportunity, won = (round(s * len(ids)) for s in shares[flag])
        for pk in ids[:engaged]:
            TouchFactory(account_id=pk, kind="web_visit", occurred_at=at(D(2024, 8, 1)))
        for i, pk in enumerate(ids[:opportunity]):
            OpportunityFactory(
                account_id=pk,
                amount=Decimal("1000"),
                created_on=D(2024, 7, 15),
                status="won" if i < won else "open",
                closed_on=D(2024, 9, 1) if i < won else None,
            )
        # outside the period or not engagement: counted by nothing
        TouchFactory(account_id=ids[-1], kind="ad_impression", occurred_at=at(D(2024, 8, 1)))
        TouchFactory(account_id=ids[-1], kind="web_visit", occurred_at=at(D(2024, 10, 1)))
        OpportunityFactory(account_id=ids[-1], type="renewal", created_on=D(2024, 7, 2))
    return holdout, groups


@pytest.mark.django_db
@postgresql_only
def test_lift_recovers_the_known_effect_and_its_interval_covers_it(django_assert_num_queries):
    holdout, groups = build_experiment()
    assert (len(groups[False]), len(groups[True])) == (150, 50)
    rules = definitions_resolve(None)
    definitions_mark_used(rules)  # as after the first computation under the version
    with django_assert_num_queries(1):
        result = holdout_lift(holdout, PERIOD, rules)
    kpis = {k["id"]: k for k in result["kpis"]}
    assert list(kpis) == [spec.id for spec in LIFT_KPIS]
    assert result["holdout"] == {
        "list": target_list().pk,
        "seed": "lift",
        "share": 0.25,
        "drawn_on": "2024-06-01",
        "treated": 150,
        "held_out": 50,
    }
    true = {
        "lift_engaged_rate": ((90, 10), 0.4),
        "lift_opportunity_rate": ((45, 5), 0.2),
        "lift_win_rate": ((15, 1), 0.08),
    }
    for kpi_id, ((x1, x2), effect) in true.items():
        k = kpis[kpi_id]
        assert (k["treated"]["numerator"], k["held_out"]["numerator"]) == (x1, x2)
        assert (k["treated"]["n"], k["held_out"]["n"]) == (150, 50)
        assert k["difference"] == pytest.approx(effect)
        assert k["relative_difference"] == pytest.approx(round(effect / (x2 / 50), 4))
        low, high = newcombe_difference(x1, 150, x2, 50)
        assert k["ci95"] == {"low": round(low, 4), "high": round(high, 4), "method": "newcombe"}
        assert k["ci95"]["low"] < effect < k["ci95"]["high"]
    assert kpis["lift_engaged_rate"]["warning"] is None
    assert "Fewer than 5" in kpis["lift_win_rate"]["warning"]  # one held-out win

    pipe = kpis["lift_pipeline_per_account"]
    assert pipe["treated"] == {"n": 150, "total": 45000.0, "value": 300.0}
    assert pipe["held_out"] == {"n": 50, "total": 5000.0, "value": 100.0}
    assert pipe["difference"] == 200.0 and pipe["relative_difference"] == 2.0
    # by hand: 45 of 150 at 1,000 -> variance (45e6 - 45000^2/150) / 149; 5 of 50 likewise
    v1, v2 = (45e6 - 45000**2 / 150) / 149, (5e6 - 5000**2 / 50) / 49
    low, high, _ = welch_interval(300, v1, 150, 100, v2, 50)
    assert pipe["ci95"] == {"low": round(low, 2), "high": round(high, 2), "method": "welch"}
    assert pipe["ci95"]["low"] < 200 < pipe["ci95"]["high"]
    revenue = kpis["lift_revenue_per_account"]
    assert (revenue["treated"]["value"], revenue["held_out"]["value"]) == (100.0, 20.0)
    assert revenue["difference"] == 80.0
    assert revenue["ci95"]["low"] < 80 < revenue["ci95"]["high"]


@pytest.mark.django_db
@postgresql_only
def test_small_groups_warn_and_empty_outcomes_are_null_not_errors():
    AccountFactory.create_batch(10)
    holdout = holdout_draw(target_list(), "0.3", "s", D(2024, 6, 1))
    result = holdout_lift(holdout, PERIOD)
    for k in result["kpis"]:
        assert "Fewer than 30 accounts" in k["warning"]
        assert k["difference"] == 0
        assert k["relative_difference"] is None  # held-out value 0: no relative change
    assert holdout_of_list(target_list().pk) == holdout


@pytest.mark.django_db
@postgresql_only
def test_lift_is_not_defined_before_generation_2():
    AccountFactory.create_batch(4)
    holdout = holdout_draw(target_list(), "0.5", "s", D(2024, 6, 1))
    with pytest.raises(UnknownKpi, match="generation 1"):
        holdout_lift(holdout, PERIOD, "v1")
