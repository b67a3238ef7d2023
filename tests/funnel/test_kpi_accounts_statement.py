"""The accounts statement of the catalogue (#18): its touches join keeps only the rows some
fact reads, and the first-date guards are sets run once, with the values the facts had."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.kpis import compute

from .kpi_fixtures import MARCH, START, day, opp, target, touch, won

pytestmark = pytest.mark.django_db


def _catalogue() -> tuple[dict, str]:
    with CaptureQueriesContext(connection) as captured:
        result = compute(MARCH)
    statements = [q["sql"] for q in captured.captured_queries if "scored_touches" in q["sql"]]
    assert len(statements) == 1
    values = {(k["id"], k["cohort"]): k["value"] for k in result["kpis"]}
    return values, statements[0]


def test_each_window_fact_reads_only_its_own_touches():
    quiet, engaged = target(), target()
    before = START - dt.timedelta(days=10)  # 20 February 2024, 12:00
    touch(quiet, "email_open", before)  # engagement before the period: no fact reads it
    touch(quiet, "meeting", before)  # two-way contact: the relationship score reads it
    touch(engaged, "email_open", day(3))

    values, _ = _catalogue()

    assert values[("engaged_target_accounts", "abm")] == 1  # the engaged account alone
    # The meeting: weight 8, 40.5 days old on 1 April (half-life 30), 60 points make 100;
    # the engaged account has no two-way contact. Mean over the two target accounts.
    meeting = 8 * 0.5 ** (40.5 / 30) * 100 / 60
    assert values[("relationship_score_avg", "abm")] == pytest.approx(meeting / 2, abs=0.01)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the shape of PostgreSQL's SQL")
def test_the_first_dates_are_tested_per_account_once():
    a = target()
    touch(a, "meeting", day(2))
    touch(a, "email_sent", day(4))
    won(a, closed_on=day(20), created_on=day(5))

    values, sql = _catalogue()

    # Per account: the first opportunity, the first win, the first engagement touch (its
    # instant, then the least day of its first day), and the first win the touches by the
    # win read. It was 10: the guards of the last two (first win or first opportunity in
    # the period) re-ran the first dates' subqueries.
    assert sql.count("(SELECT MIN(") == 5
    assert values[("touches_per_won_account", "abm")] == 2  # both touches, by day 20
    assert values[("deal_cycle_days", "abm")] == 18  # first touch day 2, won day 20


def test_the_first_touch_day_is_read_from_the_first_touch():
    a = target()
    touch(a, "email_sent", day(1))  # not an engagement kind: not the first touch
    touch(a, "email_open", day(3), hour=23)  # the first engagement touch, late in the day
    touch(a, "meeting", day(4))
    opp(a, type="new_business", status="open", created_on=day(10))

    values, sql = _catalogue()

    assert values[("days_first_touch_to_opportunity", "abm")] == 7  # day 3 to day 10
    if connection.vendor == "postgresql":
        # The first instant as a plain aggregate (no GROUP BY): PostgreSQL's one index probe.
        first = sql[sql.index('(SELECT MIN(U0."occurred_at") AS "first"') :]
        assert "GROUP BY" not in first[: first.index(")) + ")]
