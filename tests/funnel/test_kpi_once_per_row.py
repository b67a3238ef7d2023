"""The opportunities statement tests the ABM cohort and the correlated facts once per row
(#18): one target-list subquery and one influence subquery, however many aggregates read
them, with the values they had."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.kpis import compute

from .kpi_fixtures import MARCH, day, non_target, target, touch, won

pytestmark = pytest.mark.django_db


def _catalogue_opportunities_statement() -> tuple[dict, str]:
    with CaptureQueriesContext(connection) as captured:
        result = compute(MARCH)
    statements = [  # the median of sales cycles is the opportunities source's alone
        q["sql"] for q in captured.captured_queries if "PERCENTILE_CONT" in q["sql"].upper()
    ]
    assert len(statements) == 1
    return result, statements[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the shape of PostgreSQL's SQL")
def test_the_catalogue_reads_the_target_list_and_the_influence_subquery_once():
    a, b = target(), non_target()
    touch(a, "meeting", day(2))
    won(a, closed_on=day(20), created_on=day(5), amount=1000)
    won(b, closed_on=day(21), created_on=day(6), amount=300)

    result, sql = _catalogue_opportunities_statement()

    assert sql.count('"accounts_listmembership"') == 1  # was once per aggregate and cohort
    assert sql.count('FROM "engagement_touch"') == 1  # the influence test: count and amount
    revenue = {(k["id"], k["cohort"]): k["value"] for k in result["kpis"]}
    assert revenue[("new_revenue_won", "abm")] == 1000.0  # a's deal; b is not a target
