"""The runners that total rows by a key for many groups at once (#18), stage velocity and the
tier split: each row's annotations (a stage change's previous change, an account's tier)
and each group's and cohort's condition computed once per row, however many totals read
them; the figures are the hand-computed ones and each group's own ``compute``'s."""

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from funnel.kpis import Filters, compute, compute_grouped, compute_slices
from funnel.kpis.measures import flagged_totals
from tests.factories import AccountStageChangeFactory, TierFactory

from .kpi_fixtures import MARCH, D, day, non_target, target

pytestmark = pytest.mark.django_db


def change(account, on, from_stage, to_stage):
    return AccountStageChangeFactory(
        account=account, changed_on=on, from_stage=from_stage, to_stage=to_stage
    )


def _world():
    """Two tiers; in tier 1 a target, in tier 2 a target and a non-target (stages' days)."""
    t1, t2 = TierFactory(name="One"), TierFactory(name="Two")
    a = target(tier=t1)
    change(a, D(2024, 1, 1), "none", "target")
    change(a, day(11), "target", "engaged")  # 70 days in target
    change(a, day(21), "engaged", "opportunity")  # 10 days in engaged
    b = target(tier=t2)
    change(b, D(2024, 2, 10), "none", "target")
    change(b, D(2024, 2, 20), "target", "engaged")  # before the period
    change(b, day(5), "engaged", "opportunity")  # 14 days in engaged
    c = non_target(tier=t2)
    change(c, day(1), "none", "target")  # no earlier change: left out
    change(c, day(4), "target", "engaged")  # 3 days in target
    change(c, day(9), "engaged", "opportunity")  # 5 days in engaged
    return t1, t2


def _slices_computed(tiers, cohorts, kpi_id: str, marker: str) -> tuple[list[dict], str]:
    """``compute_slices`` of all, each of ``tiers`` and each of ``cohorts`` for one KPI: the
    results, each checked equal to its own ``compute``, and the statement marked ``marker``."""
    slices = [Filters(), *(Filters(tier=(t.pk,)) for t in tiers)]
    slices += [Filters(cohort=c) for c in cohorts]
    with CaptureQueriesContext(connection) as queries:
        results = compute_slices(MARCH, slices, [kpi_id], "v2")
    (statement,) = [q["sql"] for q in queries if marker in q["sql"]]
    for filters, result in zip(slices, results, strict=True):
        assert result == compute(MARCH, filters, [kpi_id], "v2")
    return results, statement


def test_grouped_stage_velocity_is_hand_computed_and_each_groups_own():
    t1, t2 = _world()
    ids = ["stage_velocity_days"]

    grouped = compute_grouped(MARCH, Filters(), "tier", [t1.pk, t2.pk], ids, "v2")

    one = grouped[t1.pk]["kpis"][0]
    two = grouped[t2.pk]["kpis"][0]
    assert one["value"]["target"] == 70.0 and one["value"]["engaged"] == 10.0
    assert one["count"] == 2
    assert two["value"] == {"engaged": 14.0}  # the target only (the default cohort)
    assert two["count"] == 1
    for key in (t1.pk, t2.pk):
        assert grouped[key] == compute(MARCH, Filters(tier=(key,)), ids, "v2")


def test_slices_of_every_cohort_and_tier_read_each_changes_previous_change_once():
    """The slices' stage changes statement: the rows and one lookup of each row's previous
    change, not one for each group, cohort and total that reads the days (the table was read
    11 times before)."""
    results, statement = _slices_computed(
        _world(), ("abm", "non_abm", "all"), "stage_velocity_days", '"from_stage"'
    )

    assert statement.count('FROM "funnel_accountstagechange"') == 2
    everyone = results[5]["kpis"][0]
    # (70 + 3) / 2 days in target; (10 + 14 + 5) / 3 in engaged
    assert everyone["value"] == {"target": 36.5, "engaged": 9.67}
    assert everyone["count"] == 5
    assert results[4]["kpis"][0]["value"] == {"target": 3.0, "engaged": 5.0}  # c alone


def test_the_tier_split_of_every_slice_tests_each_cohort_once_per_account():
    """The tier split of all, each tier and each cohort: a target-list subquery for each
    cohort's flag (ABM, non-ABM), once per account, not one per group and cohort; tiers in
    rank order, the untiered last."""
    strategic = TierFactory(name="Strategic", rank=1)
    scale = TierFactory(name="Scale", rank=2)
    target(tier=scale)
    target(tier=strategic)
    target(tier=strategic)
    target(tier=None)
    non_target(tier=scale)
    non_target(tier=None)
    results, statement = _slices_computed(
        (strategic, scale), ("non_abm", "all"), "target_accounts_by_tier", '"tier_rank"'
    )

    if connection.vendor == "postgresql":  # the target list's SQL there
        assert statement.count('"accounts_listmembership"') == 2
    split = [result["kpis"][0]["value"] for result in results]
    assert list(split[0].items()) == [("Strategic", 2), ("Scale", 1), ("none", 1)]
    assert split[1] == {"Strategic": 2}
    assert split[2] == {"Scale": 1}
    assert list(split[3].items()) == [("Scale", 1), ("none", 1)]
    assert list(split[4].items()) == [("Strategic", 2), ("Scale", 2), ("none", 2)]


def test_only_sums_and_counts_are_written_into_the_statement():
    """An aggregate's name is written into the SQL: anything but SUM or COUNT is refused
    before a statement is built, not by an ``assert`` that ``python -O`` drops."""
    with pytest.raises(ValueError, match="not \\['MAX\\(1\\); --'\\]"):
        flagged_totals(Account.objects.all(), [], [Q()], {"all": Q()}, {"x": ("MAX(1); --", "id")})
