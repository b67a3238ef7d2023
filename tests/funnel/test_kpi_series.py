"""Live series (#19 item 1): each bucket's point is exactly ``compute()`` of that bucket,
for every KPI a series can hold, in one statement per source whatever the bucket count."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Tier, TierChange
from engagement.choices import TouchKind
from engagement.models import Program, Touch
from funnel.kpis import Filters, Period, catalogue, compute
from funnel.kpis.context import Context
from funnel.kpis.measures import referenced
from funnel.kpis.scope import scope_q
from funnel.kpis.series import (
    SeriesUnavailable,
    buckets,
    compute_series,
    previous_buckets,
    series_kpis,
)
from funnel.kpis.sources.accounts import ACCOUNTS, SCORE_FACTS
from tests.conftest import postgresql_only
from tests.factories import ProgramFactory, at

pytestmark = postgresql_only

END = dt.date(2026, 6, 30)
SMALL = ["--accounts", "60", "--touches", "3000", "--end-date", END.isoformat()]
QUARTER = Period(dt.date(2026, 4, 1), END)
#: Counts, rates, money, days and point-in-time KPIs of every aggregate source.
MIXED = [
    "target_accounts",  # accounts, point in time
    "engaged_target_accounts",  # accounts, count
    "engaged_rate",  # rate
    "customers",  # point in time
    "web_visits",  # touches
    "influenced_pipeline",  # money, opportunities
    "new_revenue_won",  # money
    "sales_cycle_days",  # days (a mean)
    "renewal_rate",  # rate, version 2 reads the day of computing
]


@pytest.fixture
def demo(django_db_blocker, django_db_setup):
    call_command("seed_demo", *SMALL, stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.ABM_KPI_CACHE_SECONDS = 0  # each compute() computes: the series vs per bucket


def test_weeks_end_at_the_period_end_and_cover_it():
    weeks = buckets(QUARTER, "week")
    assert weeks[-1] == Period(dt.date(2026, 6, 24), END)
    assert weeks[0].start <= QUARTER.start < weeks[0].end
    assert len(weeks) == 13  # 91 days: 13 weeks exactly
    assert all((b.start - a.end).days == 1 for a, b in zip(weeks, weeks[1:], strict=False))


def test_months_are_calendar_months_the_last_cut_at_the_period_end():
    months = buckets(Period(dt.date(2026, 1, 15), dt.date(2026, 6, 20)), "month")
    assert months[0] == Period(dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert months[1] == Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert months[-1] == Period(dt.date(2026, 6, 1), dt.date(2026, 6, 20))
    assert len(months) == 6


def test_the_number_of_buckets_is_capped():
    decade = Period(dt.date(2016, 1, 1), END)
    assert len(buckets(decade, "week")) == 53
    assert len(buckets(decade, "month")) == 24
    assert buckets(decade, "month")[-1].end == END


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("bucket", ["week", "month"])
def test_each_point_is_compute_of_its_bucket_for_every_series_kpi(demo, definitions, bucket):
    rules_generation = 1 if definitions == "v1" else 2
    ids = [s.id for s in series_kpis(catalogue(rules_generation))]
    assert len(ids) > 40
    period = QUARTER if bucket == "week" else Period(dt.date(2026, 1, 1), END)
    series = compute_series(period, Filters(), ids, bucket, definitions, previous=True)
    current = buckets(period, bucket)
    earlier = previous_buckets(period, bucket)
    assert earlier[-1].end == current[0].start - dt.timedelta(days=1)
    assert len(series["points"]) == len(current) and len(series["previous"]) == len(earlier)
    for point, b in zip(series["points"] + series["previous"], current + earlier, strict=True):
        assert point == compute(b, Filters(), ids, definitions), (b, bucket)


def _without_scores(generation: int) -> list[str]:
    """The series KPIs whose account facts include no score (``SCORE_FACTS``): their account
    facts run in one pass over the accounts for every bucket (scores run side by side)."""
    ctx = Context(QUARTER, Filters())
    kept = []
    for spec in series_kpis(catalogue(generation)):
        read = [m.expression(ctx, Q()) for m in spec.measures if m.source is ACCOUNTS]
        if not referenced(*read) & SCORE_FACTS:
            kept.append(spec.id)
    return kept


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("bucket", ["week", "month"])
def test_account_facts_in_one_pass_equal_compute_of_each_bucket(demo, definitions, bucket):
    ids = _without_scores(1 if definitions == "v1" else 2)
    assert {"target_accounts", "engaged_rate", "won_accounts", "customers"} <= set(ids)
    period = QUARTER if bucket == "week" else Period(dt.date(2026, 1, 1), END)
    with CaptureQueriesContext(connection) as queries:
        series = compute_series(period, Filters(), ids, bucket, definitions, previous=True)
    last = len(buckets(period, bucket)) * 2 - 1  # the last bucket's facts: one statement
    assert sum(f'"p{last}_targeted"' in q["sql"] for q in queries.captured_queries) == 1
    points = series["points"] + series["previous"]
    periods = buckets(period, bucket) + previous_buckets(period, bucket)
    for point, b in zip(points, periods, strict=True):
        assert point == compute(b, Filters(), ids, definitions), (b, bucket)


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_points_equal_compute_under_filters(demo, definitions):
    tier = Tier.objects.order_by("rank").first().pk
    program = Program.objects.order_by("pk").first().pk
    owner = Account.objects.exclude(owner=None).values_list("owner_id", flat=True).first()
    for filters in (
        Filters(tier=(tier,), cohort="all"),
        Filters(program=(program,)),
        Filters(owner=(owner,), cohort="non_abm"),
    ):
        series = compute_series(QUARTER, filters, MIXED, "week", definitions)
        for point, b in zip(series["points"], buckets(QUARTER, "week"), strict=True):
            assert point == compute(b, filters, MIXED, definitions), (filters, b)


@pytest.mark.django_db
def test_values_move_between_buckets(demo):
    """Not a constant: the demo's weekly engaged counts differ (the test can fail)."""
    series = compute_series(QUARTER, Filters(), ["engaged_target_accounts"], "week")
    values = [p["kpis"][0]["value"] for p in series["points"]]
    assert len(set(values)) > 1


@pytest.mark.django_db
def test_query_count_is_constant_in_the_number_of_buckets(demo):
    compute_series(QUARTER, Filters(), MIXED, "week", "v2")  # creates the versions
    counts = []
    for period in (Period(dt.date(2026, 6, 17), END), QUARTER, Period(dt.date(2025, 7, 1), END)):
        with CaptureQueriesContext(connection) as queries:
            compute_series(period, Filters(), MIXED, "week", "v2", previous=True)
        counts.append(len(queries))
    # One statement per source (accounts, touches, opportunities) and the definitions.
    assert counts[0] == counts[1] == counts[2] <= 5, counts
    # Touches and opportunities are one grouped pass (a bucket's rows by a condition);
    # account facts are one pass over the accounts, each bucket's facts columns of its own
    # (p0_targeted ... p25_targeted): nothing runs side by side.
    with CaptureQueriesContext(connection) as queries:
        compute_series(QUARTER, Filters(), MIXED, "week", "v2", previous=True)
    assert not any("UNION ALL" in q["sql"] for q in queries.captured_queries)
    facts = [q["sql"] for q in queries.captured_queries if '"p25_targeted"' in q["sql"]]
    assert len(facts) == 1 and "accounts_account" in facts[0]
    with CaptureQueriesContext(connection) as queries:
        compute_series(QUARTER, Filters(tier=(Tier.objects.first().pk,)), MIXED, "week", "v2")
    # A tier filter (as of each bucket's end) changes the accounts: the account facts are
    # still one pass (each bucket's scope a flag column), and so are opportunities (each
    # bucket's rows a flag column of the fenced rows); touches side by side
    # (``Source.scoped_periods``).
    assert sum("UNION ALL" in q["sql"] for q in queries.captured_queries) == 1
    assert sum('"p12_scoped"' in q["sql"] for q in queries.captured_queries) == 1
    assert sum('"group_12"' in q["sql"] for q in queries.captured_queries) == 1


@pytest.mark.django_db
def test_maps_and_runner_sources_are_refused(demo):
    with pytest.raises(SeriesUnavailable, match="map"):
        compute_series(QUARTER, Filters(), ["funnel"], "week")
    with pytest.raises(SeriesUnavailable, match="spend"):
        compute_series(QUARTER, Filters(), ["cost_per_engaged_account"], "week")


# --- filters whose accounts differ by bucket (#18) -----------------------------------------

#: Inside the quarter and the quarter before: tier moves and a new program's first touches.
MOVES = (dt.date(2026, 2, 10), dt.date(2026, 4, 22), dt.date(2026, 5, 15), dt.date(2026, 6, 3))


@pytest.fixture
def moving(demo):
    """The demo, with accounts that change tier inside the span (into and out of the first
    tier) and a program whose first touch of each of its accounts falls inside it."""
    first, second = Tier.objects.order_by("rank")[:2]
    ins = list(Account.objects.exclude(tier=first).order_by("pk")[:4])
    outs = list(Account.objects.filter(tier=first).order_by("pk")[:2])
    assert len(ins) == 4 and len(outs) == 2
    for day, account in zip(MOVES, ins, strict=True):
        TierChange.objects.create(account=account, tier=first, effective_on=day)
    for day, account in zip(MOVES[1:3], outs, strict=True):
        TierChange.objects.create(account=account, tier=second, effective_on=day)
    program = ProgramFactory(name="New in the span")
    kinds = (TouchKind.WEB_VISIT, TouchKind.FORM_FILL, TouchKind.WEB_VISIT, TouchKind.MEETING)
    reached = Account.objects.order_by("-pk")[:8]
    for i, account in enumerate(reached):  # the accounts: eight fixture rows
        day = MOVES[i % 4] + dt.timedelta(days=i)
        Touch.objects.create(
            account=account, program=program, kind=kinds[i % 4], occurred_at=at(day)
        )
        later = day + dt.timedelta(days=9)
        Touch.objects.create(
            account=account, program=program, kind=kinds[(i + 1) % 4], occurred_at=at(later)
        )
    return first.pk, program.pk


def _accounts(filters: Filters, b: Period, generation: int) -> set[int]:
    return set(
        Account.objects.filter(scope_q(filters, b, generation=generation)).values_list(
            "pk", flat=True
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("kind", ["tier", "program"])
def test_points_equal_compute_under_a_filter_whose_accounts_move(moving, definitions, kind):
    """Every series KPI of a stage page under a tier (as of each bucket's end) or a program
    (touched by then; version 2: engaged in the bucket) filter: each bucket as ``compute``."""
    tier, program = moving
    filters = Filters(tier=(tier,)) if kind == "tier" else Filters(program=(program,))
    generation = 1 if definitions == "v1" else 2
    ids = [s.id for s in series_kpis(catalogue(generation))]
    series = compute_series(QUARTER, filters, ids, "week", definitions, previous=True)
    periods = buckets(QUARTER, "week") + previous_buckets(QUARTER, "week")
    scopes = {frozenset(_accounts(filters, b, generation)) for b in periods}
    assert len(scopes) > 3  # the buckets' accounts really differ
    for point, b in zip(series["points"] + series["previous"], periods, strict=True):
        assert point == compute(b, filters, ids, definitions), (filters, b)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["tier", "program"])
def test_a_filtered_series_is_one_pass_whatever_the_buckets(moving, kind):
    tier, program = moving
    filters = Filters(tier=(tier,)) if kind == "tier" else Filters(program=(program,))
    compute_series(QUARTER, filters, MIXED, "week", "v2")  # creates the versions
    counts = []
    for period in (Period(dt.date(2026, 6, 17), END), QUARTER, Period(dt.date(2025, 7, 1), END)):
        with CaptureQueriesContext(connection) as queries:
            compute_series(period, filters, MIXED, "week", "v2", previous=True)
        counts.append(len(queries))
        # The account facts: one pass, each bucket's scope a flag column of its own.
        last = len(buckets(period, "week")) * 2 - 1
        facts = [q["sql"] for q in queries.captured_queries if f'"p{last}_scoped"' in q["sql"]]
        assert len(facts) == 1 and "UNION ALL" not in facts[0], period
    assert counts[0] == counts[1] == counts[2] <= 5, counts


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["tier", "program"])
def test_program_accounts_read_the_program_touches_once_for_all_buckets(moving, kind):
    """The program KPIs' accounts: one pass over the slice's accounts, and the program
    touches of every bucket one set (each bucket's reached and engaged flags its columns),
    not a scan of the touches per bucket and condition."""
    tier, program = moving
    filters = Filters(tier=(tier,)) if kind == "tier" else Filters(program=(program,))
    ids = ["program_reached_accounts", "program_engaged_accounts"]
    compute_series(QUARTER, filters, ids, "week", "v2")  # creates the versions
    with CaptureQueriesContext(connection) as queries:
        compute_series(QUARTER, filters, ids, "week", "v2", previous=True)
    (statement,) = [q["sql"] for q in queries.captured_queries if "engagement_touch" in q["sql"]]
    assert "UNION ALL" not in statement
    assert statement.count('FROM "engagement_touch"') == 1
    assert '"r25"' in statement and '"e25"' in statement
