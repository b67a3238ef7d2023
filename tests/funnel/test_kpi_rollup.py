"""Rolled-up rows (#18): a grouped pass sums the touches by their flags before its aggregates.

The figures must be those of the aggregates over the rows themselves (hand-computed here,
and the grouped pass's against the same pass not rolled up and against ``compute`` of
each group), with the same types: counts and integer sums integers, a count of nothing 0,
a sum of nothing NULL, minutes decimals.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import BooleanField, Case, Count, DecimalField, Max, Q, Sum, Value, When
from django.db.models.functions import Cast

from accounts.models import Tier
from engagement.models import Program, Touch
from funnel.kpis import Filters, Period, compute, compute_grouped
from funnel.kpis.rollup import roll_up, rollable
from funnel.kpis.sources.touches import TOUCHES
from tests.conftest import postgresql_only
from tests.factories import AccountFactory, TouchFactory, at

MINUTES = DecimalField(max_digits=20, decimal_places=2)
PERIOD = Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30))


@pytest.fixture
def demo(django_db_blocker, django_db_setup):
    args = ["--accounts", "60", "--touches", "3000", "--end-date", PERIOD.end.isoformat()]
    call_command("seed_demo", *args, stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.ABM_KPI_CACHE_SECONDS = 0  # each computation computes


def _flagged():
    """Every touch, flagged ``mine`` for the account named Mine."""
    flag = Case(
        When(account__name="Mine", then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    return Touch.objects.annotate(mine=flag)


def _aggregates():
    mine = Q(mine=True)
    return {
        "opens": Count("pk", filter=mine & Q(kind="email_open")),
        "impressions": Sum("quantity", filter=mine & Q(kind="ad_impression")),
        "minutes": Sum(Cast("engagement_minutes", MINUTES), filter=mine & ~Q(asset="")),
        "meetings": Count("pk", filter=mine & Q(kind="meeting")),
        "meeting_minutes": Sum("quantity", filter=mine & Q(kind="meeting")),
        "every_open": Count("pk", filter=Q(kind="email_open")),
    }


@pytest.mark.django_db
def test_rolled_up_sums_and_counts_are_the_rows_own_with_their_types():
    mine, other = AccountFactory(name="Mine"), AccountFactory(name="Other")
    day = at(dt.date(2026, 3, 2))
    for _ in range(3):
        TouchFactory(account=mine, kind="email_open", occurred_at=day)
    TouchFactory(account=other, kind="email_open", occurred_at=day)
    TouchFactory(account=mine, kind="ad_impression", quantity=100, occurred_at=day)
    TouchFactory(account=mine, kind="ad_impression", quantity=250, occurred_at=day)
    TouchFactory(account=other, kind="ad_impression", quantity=7, occurred_at=day)
    TouchFactory(account=mine, kind="web_visit", asset="guide", engagement_minutes=Decimal("2.5"))
    TouchFactory(account=mine, kind="web_visit", asset="deck", engagement_minutes=Decimal("4"))
    TouchFactory(account=other, kind="web_visit", asset="deck", engagement_minutes=Decimal("9"))

    rows, rolled = roll_up(_flagged(), _aggregates(), {"mine"})
    got = rows.aggregate(**rolled)

    expected = {
        "opens": 3,
        "impressions": 350,
        "minutes": Decimal("6.50"),
        "meetings": 0,  # a count of nothing
        "meeting_minutes": None,  # a sum of nothing
        "every_open": 4,
    }
    assert got == expected
    assert got == _flagged().aggregate(**_aggregates())  # the rows' own aggregates
    assert [type(got[k]) for k in ("opens", "impressions", "meetings")] == [int, int, int]
    assert type(got["minutes"]) is Decimal


@pytest.mark.django_db
def test_columns_of_few_values_are_kept_and_their_conditions_tested_on_the_rolled_rows():
    """``columns`` (a touch's kind): a condition on them is not a flag of every touch but a
    FILTER over the rolled rows, which keep the column; an OR of them too. A condition
    that also reads another column (the asset) stays a flag. Same figures, same types."""
    mine, other = AccountFactory(name="Mine"), AccountFactory(name="Other")
    day = at(dt.date(2026, 3, 2))
    TouchFactory.create_batch(3, account=mine, kind="email_open", occurred_at=day)
    TouchFactory(account=other, kind="email_open", occurred_at=day)
    TouchFactory(account=mine, kind="ad_impression", quantity=100, occurred_at=day)
    TouchFactory(account=mine, kind="email_click", occurred_at=day)
    TouchFactory(account=mine, kind="web_visit", asset="guide", engagement_minutes=Decimal("2.5"))
    aggregates = {
        **_aggregates(),
        "emails": Count("pk", filter=Q(kind="email_open") | Q(kind__in=["email_click"])),
        "guides": Count("pk", filter=Q(mine=True) & Q(kind="web_visit") & Q(asset="guide")),
    }

    rows, rolled = roll_up(_flagged(), aggregates, {"mine"}, ("kind",))
    got = rows.aggregate(**rolled)

    assert got == _flagged().aggregate(**aggregates)
    assert got["opens"] == 3 and got["every_open"] == 4 and got["emails"] == 5
    assert got["impressions"] == 100 and got["minutes"] == Decimal("2.50")
    assert got["guides"] == 1 and got["meetings"] == 0 and got["meeting_minutes"] is None
    sql = str(rows.query)
    assert '"rolled_c_kind"' in sql
    # The asset's conditions are the only flags: ~Q(asset="") and the guides' asset="guide".
    assert sorted(set(re.findall(r'"rolled_m\d+"', sql))) == ['"rolled_m0"', '"rolled_m1"']


def test_a_nullable_column_is_not_rolled_up_as_it_is():
    """A renamed column's negated lookups would lose Django's NULL handling: refused."""
    with pytest.raises(ValueError, match="NOT NULL: stakeholder_id"):
        roll_up(_flagged(), _aggregates(), {"mine"}, ("kind", "stakeholder_id"))


@pytest.mark.django_db
def test_rolled_up_rows_are_one_per_combination_of_flags():
    """However many touches: one row per combination of the flags and the measures' own
    conditions (each condition a column, computed once per touch)."""
    mine = AccountFactory(name="Mine")
    TouchFactory.create_batch(20, account=mine, kind="email_open")
    TouchFactory.create_batch(30, kind="email_open")
    rows, _ = roll_up(_flagged(), _aggregates(), {"mine"})
    assert rows.count() == 2  # (mine, an open), (not mine, an open)


def test_only_sums_and_plain_counts_roll_up():
    assert rollable({"a": Sum("quantity"), "b": Count("pk", filter=Q(kind="x"))})
    assert not rollable({"a": Sum("quantity"), "b": Count("account", distinct=True)})
    assert not rollable({"a": Max("occurred_at")})
    assert not rollable({"a": Sum("quantity", default=0)})  # a sum of sums would drop it
    assert not rollable({})


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("by", ["program", "tier"])
def test_a_grouped_pass_rolls_up_the_touches_with_the_same_figures(
    demo, definitions, by, monkeypatch, source_statements
):
    """The high-value page patterns (a LIKE per pattern) are tested once per touch, not once
    per group and cohort; every group's figures are those of the pass not rolled up and of
    its own ``compute``."""
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))
    period = PERIOD

    def grouped():
        return compute_grouped(period, Filters(), by, keys, definitions=definitions)

    rolled = grouped()
    sql = source_statements["touches"]
    assert "GROUP BY" in sql
    assert sql.count("LIKE ANY") == 1
    # A kind's or a funnel position's condition is tested on the rolled rows (which keep
    # both columns); the content and high-value conditions are the only flags.
    assert '"rolled_c_kind"' in sql and '"rolled_c_funnel_position"' in sql
    assert len(set(re.findall(r'AS "rolled_m\d+"', sql))) == 2
    monkeypatch.setattr(TOUCHES, "rolls_up", False)
    plain = grouped()
    plain_sql = source_statements["touches"]
    assert "GROUP BY" not in plain_sql
    # Not rolled up, each condition is still a flag of the fenced rows (``flag_conditions``).
    assert plain_sql.count("LIKE ANY") == 1
    assert rolled == plain
    for key in keys:
        assert rolled[key] == compute(period, Filters(**{by: (key,)}), definitions=definitions)


@postgresql_only
@pytest.mark.django_db
def test_one_computation_does_not_roll_up(demo, source_statements):
    """Alone, each condition is tested about once per touch anyway: rolling up would add
    the flags and the sums by them for nothing (measured slower for the catalogue)."""
    compute(PERIOD, Filters())
    assert "rolled_" not in source_statements["touches"]


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("by", ["program", "tier"])
def test_a_grouped_pass_tests_each_opportunity_condition_once_per_row(demo, by, source_statements):
    """Opportunities (not rolled up: a median is no sum) in a grouped pass: each measure's
    condition on the opportunity's fields (won, new business, closed in the period) is a
    flag column of the fenced rows, computed once per opportunity, not repeated in each
    group's and cohort's aggregate (hundreds of times in the snapshots' statement). A
    condition that reads the rows' own annotations (a renewal's ``Exists``) stays in the
    aggregates, reading their column. Same figures as each group's own ``compute``."""
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))
    grouped = compute_grouped(PERIOD, Filters(), by, keys, definitions="v2")
    sql = source_statements["opportunities"].split(") SELECT ", 1)[-1]
    aggregates, rows = sql.split(" FROM (SELECT ", 1)
    assert '"own_m0"' in aggregates
    assert "'new_business'" not in aggregates
    assert 0 < rows.count("'new_business'") <= 10  # each distinct condition once
    assert '"renewed"' in aggregates and "EXISTS" not in aggregates
    for key in keys:
        assert grouped[key] == compute(PERIOD, Filters(**{by: (key,)}), definitions="v2")
