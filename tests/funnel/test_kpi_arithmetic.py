"""The KPI engine's pure arithmetic (ratio, NPS, ACV) and property tests through compute()."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Account
from funnel.kpis import Filters, arithmetic
from tests.factories import NpsResponseFactory

from .kpi_fixtures import day, kpi, kpis, non_target, target, touch, touches

# --- ratio, mean, complement, rounding ------------------------------------------------------


def test_ratio_is_a_fraction_and_null_on_a_zero_denominator():
    assert arithmetic.ratio(1, 4) == Decimal("0.25")
    assert arithmetic.ratio(0, 4) == 0
    assert arithmetic.ratio(4, 4) == 1
    assert arithmetic.ratio(0, 0) is None  # never 0 and never an error
    assert arithmetic.ratio(3, 0) is None


FRACTIONS = st.integers(min_value=0, max_value=10**9).flatmap(
    lambda d: st.tuples(st.integers(min_value=0, max_value=d), st.just(d))
)


@given(FRACTIONS)
def test_ratio_property_in_unit_interval_or_null(pair):
    numerator, denominator = pair
    value = arithmetic.ratio(numerator, denominator)
    if denominator == 0:
        assert value is None
        assert arithmetic.round_ratio(value) is None
        return
    assert 0 <= value <= 1
    assert float(value) == pytest.approx(numerator / denominator)
    rounded = arithmetic.round_ratio(value)
    assert isinstance(rounded, float)
    assert 0 <= rounded <= 1
    assert abs(rounded - numerator / denominator) <= 0.00005 + 1e-12


def test_mean_and_complement():
    assert arithmetic.mean(Decimal("100000"), 4) == 25_000
    assert arithmetic.mean(0, 0) is None  # mean of no rows is null
    assert arithmetic.complement(Decimal("0.25")) == Decimal("0.75")
    assert arithmetic.complement(None) is None  # unengaged rate where engaged rate is null


def test_rounding_is_half_up_to_4_and_2_places():
    assert arithmetic.round_ratio(Decimal(1) / Decimal(3)) == 0.3333
    assert arithmetic.round_ratio(Decimal("0.66665")) == 0.6667  # half up, not half even
    assert arithmetic.round_2(Decimal("2.675")) == 2.68  # float round() would give 2.67
    assert arithmetic.round_2(Decimal("51333.3333")) == 51_333.33
    assert arithmetic.round_2(None) is None


# --- NPS ------------------------------------------------------------------------------------


def test_nps_bounds_and_passives():
    assert arithmetic.nps(3, 0, 3) == 100  # all promoters
    assert arithmetic.nps(0, 3, 3) == -100  # all detractors
    assert arithmetic.nps(0, 0, 2) == 0  # all passives
    assert arithmetic.nps(1, 0, 4) == 25  # (1 - 0) / 4: passives in the denominator
    assert arithmetic.round_2(arithmetic.nps(4, 1, 7)) == 42.86  # (4 - 1) / 7 x 100
    assert arithmetic.nps(0, 0, 0) is None


@given(st.lists(st.integers(min_value=0, max_value=10), max_size=50))
def test_nps_property_between_minus_100_and_100(scores):
    promoters = sum(s >= 9 for s in scores)
    detractors = sum(s <= 6 for s in scores)
    value = arithmetic.nps(promoters, detractors, len(scores))
    if not scores:
        assert value is None
        return
    assert -100 <= value <= 100
    assert float(value) == pytest.approx((promoters - detractors) * 100 / len(scores))
    assert -100 <= arithmetic.round_2(value) <= 100


# --- ACV and lifespan -----------------------------------------------------------------------


def test_acv_annualises_by_term():
    assert arithmetic.acv(Decimal("500000"), 60) == 100_000  # 5-year contract
    assert arithmetic.acv(Decimal("12000"), 6) == 24_000
    assert arithmetic.acv(Decimal("30000"), 12) == 30_000
    with pytest.raises(ValueError, match="term_months"):
        arithmetic.acv(Decimal("1000"), 0)


@given(
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
    st.integers(min_value=1, max_value=240),
)
def test_acv_property(amount, term):
    value = arithmetic.acv(amount, term)
    assert float(value) == pytest.approx(float(amount) * 12 / term, rel=1e-9, abs=0.01)
    assert (value <= amount) if term >= 12 else (value >= amount)


def test_lifespan_is_one_over_churn_capped():
    assert arithmetic.lifespan_years(Decimal("0.2"), 10) == 5  # 20 % churn a year: 5 years
    assert arithmetic.lifespan_years(0, 10) == 10  # no churn: the cap
    assert arithmetic.lifespan_years(Decimal("0.05"), 10) == 10  # 20 years, capped at 10
    assert arithmetic.lifespan_years(None, 10) is None
    assert arithmetic.product(Decimal("120000"), Decimal("10")) == 1_200_000  # CLV
    assert arithmetic.product(None, 10) is None


# --- properties through compute() -----------------------------------------------------------

SMALL = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.django_db
@SMALL
@given(st.lists(st.integers(min_value=0, max_value=10), max_size=8))
def test_compute_nps_matches_hand_formula_for_any_scores(scores):
    Account.objects.all().delete()  # one transaction for all examples: start clean
    account = target()
    for score in scores:
        NpsResponseFactory(account=account, score=score, responded_on=day(15))

    item = kpi("net_promoter_score")

    assert item["count"] == len(scores)
    if not scores:
        assert item["value"] is None
        return
    promoters = sum(s >= 9 for s in scores)
    detractors = sum(s <= 6 for s in scores)
    assert -100 <= item["value"] <= 100
    assert item["value"] == round((promoters - detractors) * 100 / len(scores), 2)


@pytest.mark.django_db
@SMALL
@given(
    st.lists(st.booleans(), max_size=5),  # target accounts: engaged or not
    st.integers(min_value=0, max_value=2),  # engaged non-target accounts (excluded)
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=6),
)
def test_compute_ratios_stay_in_unit_interval(engaged_flags, outsiders, clicks, extra_shows):
    Account.objects.all().delete()
    for engaged in engaged_flags:
        account = target()
        if engaged:
            touch(account, "web_visit", day(10))
    for _ in range(outsiders):
        touch(non_target(), "web_visit", day(10))
    shown = target()
    touches(shown, "ad_click", day(11), clicks)
    touches(shown, "ad_impression", day(11), clicks + extra_shows)  # clicks <= impressions
    engaged_flags = [*engaged_flags, clicks > 0]  # ad clicks engage `shown`

    items = kpis("engaged_rate", "unengaged_rate", "ad_click_through_rate")

    engaged, total = sum(engaged_flags), len(engaged_flags)
    assert (items["engaged_rate"]["numerator"], items["engaged_rate"]["denominator"]) == (
        engaged,
        total,
    )
    assert items["engaged_rate"]["value"] == round(engaged / total, 4)
    assert items["unengaged_rate"]["value"] == round((total - engaged) / total, 4)
    ctr = items["ad_click_through_rate"]
    if clicks + extra_shows == 0:
        assert ctr["value"] is None
    else:
        assert 0 <= ctr["value"] <= 1
        assert ctr["value"] == round(clicks / (clicks + extra_shows), 4)


def test_filters_default_is_empty():
    assert Filters() == Filters(tier=(), program=(), owner=(), cohort=None)


def test_wilson_interval_hand_computed():
    """95 % Wilson score interval, z = 1.96: 1 of 4 is 4.56 %-69.94 %; the interval stays
    inside [0, 1] at 0 and n, and there is none without a sample."""
    from funnel.kpis.arithmetic import wilson_interval

    assert wilson_interval(1, 4) == (0.0456, 0.6994)
    assert wilson_interval(0, 4) == (0.0, 0.4899)
    assert wilson_interval(4, 4) == (0.5101, 1.0)
    assert wilson_interval(60, 100) == (0.502, 0.6906)
    assert wilson_interval(0, 0) is None
