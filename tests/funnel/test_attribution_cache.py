"""Program credits are cached under the data version, as KPI results are (#18): a warm
Programs page runs no attribution statement, and any write to KPI input brings fresh
credits. Each model and each definitions version has its own entry."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.definitions import definitions_resolve
from funnel.kpis.attribution import program_attribution
from funnel.models import Opportunity
from tests.factories import ProgramFactory

from .kpi_fixtures import MARCH, day, target, touch, won

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="the data version needs PostgreSQL"
    ),
]

D = Decimal


@pytest.fixture
def deal(transactional_db):
    """Two programs touch one target account before its 1,000.00 deal is created."""
    cache.clear()
    first, second = ProgramFactory(name="P1"), ProgramFactory(name="P2")
    account = target()
    touch(account, "form_fill", day(10), program=first)
    touch(account, "meeting", day(15), program=second)
    opportunity = won(account, day(28), amount=1000, created_on=day(20))
    yield first, second, opportunity
    cache.clear()


def credits(model: str, definitions: str | None = None) -> tuple[dict, bool]:
    """Program id -> pipeline credit, and whether the attribution statement ran."""
    with CaptureQueriesContext(connection) as captured:
        result = program_attribution(MARCH, model=model, definitions=definitions)
    ran = any("WITH opps AS" in q["sql"] for q in captured.captured_queries)
    return {pk: row.pipeline for pk, row in result.programs.items() if row.pipeline}, ran


def test_credits_are_computed_once_until_kpi_input_changes(deal):
    first, second, opportunity = deal
    cold, ran = credits("linear")
    assert ran
    assert cold == {first.pk: D("500.00"), second.pk: D("500.00")}
    warm, ran = credits("linear")
    assert (warm, ran) == (cold, False)
    # Another model is another entry, computed once too.
    assert credits("first") == ({first.pk: D("1000.00")}, True)
    assert credits("first") == ({first.pk: D("1000.00")}, False)
    # A write to KPI input: the next page gets fresh credits.
    Opportunity.objects.filter(pk=opportunity.pk).update(amount=D("3000"))
    assert credits("linear") == ({first.pk: D("1500.00"), second.pk: D("1500.00")}, True)


def test_each_definitions_version_has_its_own_credits(deal):
    definitions_resolve()  # the shipped versions, v1 and v2 (the flush removed them)
    assert credits("last", "v2")[1]
    assert credits("last", "v2")[1] is False
    # Version 1 has no attribution KPIs, but the credits page computes under any version:
    # never the other version's entry.
    assert credits("last", "v1")[1]
