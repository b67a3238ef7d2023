"""A grouped computation over programs computes their (program, account) pairs once (#18):
put in the session by one statement, read back by every other one, each computation its
own period's, also where its statements are reused from another period's."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.definitions import definitions_resolve
from funnel.kpis import Filters, Period, compute, compute_grouped
from funnel.kpis.scope import program_pairs
from tests.factories import ProgramFactory

from .kpi_fixtures import MARCH, D, day, target, touch

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="session settings: PostgreSQL"),
]

APRIL = Period(D(2024, 4, 1), D(2024, 4, 30))
IDS = ["engaged_target_accounts", "influenced_pipeline"]


def _world():
    """Two programs: in March p1 engages a and b, p2 engages b; in April p1 engages c."""
    p1, p2 = ProgramFactory(), ProgramFactory()
    a, b, c = target(), target(), target()
    touch(a, "meeting", day(5), program=p1)
    touch(b, "web_visit", day(6), program=p2)
    touch(b, "email_open", day(7), program=p1)
    touch(c, "form_fill", D(2024, 4, 9), program=p1)
    touch(c, "ad_impression", day(9), program=p2)  # not an engagement: no pair
    return p1, p2


def _engaged(result: dict) -> int:
    return next(k["value"] for k in result["kpis"] if k["id"] == "engaged_target_accounts")


def test_one_statement_computes_the_pairs_for_every_other():
    p1, p2 = _world()
    keys = [p1.pk, p2.pk]

    with CaptureQueriesContext(connection) as queries:
        grouped = compute_grouped(MARCH, Filters(), "program", keys, IDS, "v2", union=True)

    fills = [q["sql"] for q in queries if "set_config(" in q["sql"]]
    readers = [q["sql"] for q in queries if "current_setting(" in q["sql"]]
    assert len(fills) == 1
    assert len(readers) == 2  # the accounts' and the opportunities' statements
    # No statement but the fill scans the program touches for their pairs.
    for query in queries:
        if "set_config(" not in query["sql"]:
            assert 'DISTINCT U0."program_id"' not in query["sql"]
    assert [_engaged(grouped[k]) for k in (p1.pk, p2.pk, None)] == [2, 1, 2]
    for key in keys:
        assert grouped[key] == compute(MARCH, Filters(program=(key,)), IDS, "v2")


def test_each_computation_reads_its_own_periods_pairs_also_from_reused_statements():
    """March, April, then March again: from the second computation on, the statements are
    the first's (``statements``), with this period's parameters; the pairs they read are
    this computation's."""
    p1, p2 = _world()
    keys = [p1.pk, p2.pk]
    engaged = {}
    for period in (MARCH, APRIL, MARCH):
        grouped = compute_grouped(period, Filters(), "program", keys, IDS, "v2")
        engaged.setdefault(period, []).append([_engaged(grouped[k]) for k in keys])
        for key in keys:
            assert grouped[key] == compute(period, Filters(program=(key,)), IDS, "v2")
    assert engaged[MARCH] == [[2, 1], [2, 1]]
    assert engaged[APRIL] == [[1, 0]]


def test_a_computation_inside_another_computes_its_own_pairs_in_each_statement():
    p1, p2 = _world()
    keys = [p1.pk, p2.pk]
    with program_pairs(MARCH, tuple(keys), 2) as outer:
        with CaptureQueriesContext(connection) as queries:
            grouped = compute_grouped(APRIL, Filters(), "program", keys, IDS, "v2")
        with program_pairs(APRIL, tuple(keys), 2) as inner:
            pass
    assert outer and not inner
    assert not [q for q in queries if "set_config(" in q["sql"] or "current_setting(" in q["sql"]]
    assert [_engaged(grouped[k]) for k in keys] == [1, 0]


def test_no_programs_no_pairs(django_assert_num_queries):
    with django_assert_num_queries(0), program_pairs(MARCH, (), 2) as pairs:
        assert not pairs


@pytest.mark.django_db(transaction=True)
def test_the_pairs_are_the_computations_transactions_own():
    """Set locally in a transaction around the computation: nothing of them is left in the
    session afterwards (a pooled connection's next client, another computation)."""
    definitions_resolve(None)  # the shipped versions (an earlier test's flush removed them)
    p1, p2 = _world()
    with CaptureQueriesContext(connection) as queries:
        grouped = compute_grouped(MARCH, Filters(), "program", [p1.pk, p2.pk], IDS, "v2")
    assert [q for q in queries if "set_config(" in q["sql"]]
    assert [_engaged(grouped[k]) for k in (p1.pk, p2.pk)] == [2, 1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('abm.program_pairs_account', true)")
        assert cursor.fetchone()[0] in (None, "")
