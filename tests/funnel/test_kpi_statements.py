"""Compiled statements reused across computations (``funnel.kpis.statements``): a second
computation of one shape for another period runs the first's SQL with its own
parameters, and its results are exactly those of a computation compiled afresh."""

import datetime as dt
import itertools
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Q
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext

from abm_site.db import day_start
from funnel.kpis import Filters, Period, compute, compute_grouped, measures, statements
from funnel.kpis.query import MAX_PERIOD_DAYS
from funnel.kpis.sources.touches import TOUCHES
from tests.factories import (
    AccountFactory,
    HighValuePageFactory,
    OpportunityFactory,
    ProgramFactory,
    SpendFactory,
    TierFactory,
    TouchFactory,
)

NEW_YORK = "America/New_York"
#: Three periods of different lengths; the second spans the spring DST change (10 March).
PERIODS = (
    Period(dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    Period(dt.date(2024, 2, 25), dt.date(2024, 4, 14)),
    Period(dt.date(2023, 10, 29), dt.date(2023, 11, 12)),  # autumn DST change (5 Nov)
)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(NEW_YORK))


@pytest.fixture
def world(db, settings):
    """Touches on both sides of each DST change's local midnight, in two tiers, one
    program; a won and an open opportunity; spend; a high-value page."""
    settings.TIME_ZONE = NEW_YORK
    statements.clear()
    tier, other_tier = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    program = ProgramFactory()
    engaged = AccountFactory(name="Engaged", tier=tier)
    won = AccountFactory(name="Won", tier=other_tier)
    late = AccountFactory(name="Late", tier=tier)
    other = AccountFactory(name="Other", is_target=False)
    HighValuePageFactory(url_pattern="/pricing")
    for day in (dt.date(2024, 3, 10), dt.date(2023, 11, 5), dt.date(2024, 1, 31)):
        TouchFactory(account=engaged, kind="web_visit", occurred_at=_at(day, 0, 30))
        TouchFactory(account=late, kind="meeting", occurred_at=_at(day, 23, 30), program=program)
        TouchFactory(account=other, kind="web_visit", occurred_at=_at(day, 12))
    TouchFactory(
        account=won, kind="web_visit", occurred_at=_at(dt.date(2024, 4, 14), 23, 59), url="/pricing"
    )
    TouchFactory(account=won, kind="ad_click", occurred_at=_at(dt.date(2024, 2, 25), 0, 0))
    OpportunityFactory(
        account=won,
        status="won",
        amount=Decimal("3000.50"),
        created_on=dt.date(2024, 1, 5),
        closed_on=dt.date(2024, 3, 10),
    )
    OpportunityFactory(account=engaged, status="open", amount=Decimal("1000"))
    SpendFactory(spent_on=dt.date(2024, 3, 10), amount=Decimal("900"), program=program)
    return {"tier": tier, "program": program}


def _compiled_afresh(settings, period, filters, definitions, ids=None):
    settings.ABM_KPI_STATEMENT_REUSE = False
    try:
        return compute(period, filters, ids, definitions=definitions)
    finally:
        settings.ABM_KPI_STATEMENT_REUSE = True


def _filters(world, name):
    return {
        "none": Filters(),
        "tier": Filters(tier=(world["tier"].pk,)),
        "program": Filters(program=(world["program"].pk,)),
        "abm": Filters(cohort="abm"),
    }[name]


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("filters", ["none", "tier", "program", "abm"])
def test_a_reused_statement_gives_what_a_fresh_compile_gives(world, settings, version, filters):
    chosen = _filters(world, filters)
    before = statements.counts["reused"]
    for period in PERIODS:
        reused = compute(period, chosen, definitions=version)
        assert reused == _compiled_afresh(settings, period, chosen, definitions=version)
    proven = [e for e in statements._ENTRIES.values() if isinstance(e, statements._Statement)]
    assert proven, "no shape was proven"
    assert statements.counts["reused"] > before


def test_a_reused_statement_compiles_no_sql_and_runs_as_many_queries(world, settings):
    # Touch sources only, no high-value page (its patterns are read again: one compile).
    ids = ["web_visits", "ad_click_through_rate", "view_through_visits"]
    assert compute(PERIODS[0], ids=ids) and compute(PERIODS[1], ids=ids)  # learnt, proven
    fresh_period = Period(dt.date(2024, 3, 3), dt.date(2024, 3, 17))
    settings.ABM_KPI_STATEMENT_REUSE = False
    with CaptureQueriesContext(connection) as compiled:
        expected = compute(fresh_period, ids=ids)
    settings.ABM_KPI_STATEMENT_REUSE = True
    before = dict(statements.counts)
    compiles = []
    for kpis in ([], ids):  # no KPI: the definitions' reads alone
        with (
            mock.patch.object(
                SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
            ) as as_sql,
            CaptureQueriesContext(connection) as reused,
        ):
            result = compute(fresh_period, ids=kpis)
        compiles.append(as_sql.call_count)
    assert result == expected
    assert compiles[1] == compiles[0]  # not one compile for the KPIs' statements
    assert statements.counts["reused"] > before["reused"]
    assert statements.counts["compiled"] == before["compiled"]
    assert len(reused.captured_queries) == len(compiled.captured_queries)


#: Periods of very different lengths, in the order computed: the accounts' touch window
#: starts at the period start (400 days and more) or at the relationship score's look-back,
#: 120 days before the end (shorter); both sides of both DST changes.
LENGTHS = (
    Period(dt.date(2024, 3, 10), dt.date(2024, 3, 10)),  # 1 day: the spring DST change
    Period(dt.date(2024, 2, 25), dt.date(2024, 3, 25)),  # 30 days
    Period(dt.date(2023, 9, 1), dt.date(2023, 11, 29)),  # 90 days: the autumn change
    Period(dt.date(2023, 3, 12), dt.date(2024, 4, 14)),  # 400 days
    Period(dt.date(2024, 4, 14) - dt.timedelta(days=MAX_PERIOD_DAYS - 1), dt.date(2024, 4, 14)),
)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_accounts_statement_is_reused_at_every_length(world, settings, version):
    """The accounts' touch window starts at the least of the period start and the scores'
    look-backs, a different one by the period's length: each is a parameter and SQL takes
    the least, so from the third computation on the accounts statement (the catalogue's
    largest) compiles no SQL, and gives what a fresh compile gives at every length."""
    assert [(p.end - p.start).days + 1 for p in LENGTHS] == [1, 30, 90, 400, MAX_PERIOD_DAYS]
    window_sql, original = [], SQLCompiler.as_sql

    def as_sql(compiler, *args, **kwargs):
        sql, params = original(compiler, *args, **kwargs)
        if "scored_touches" in sql:  # the accounts' touch window (``_window``)
            window_sql.append(sql)
        return sql, params

    for i, period in enumerate(LENGTHS):
        window_sql.clear()
        compiled = statements.counts["compiled"]
        with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=as_sql):
            reused = compute(period, definitions=version)
        if i >= 2:  # learnt at the first, proven at the second
            assert window_sql == []
            assert statements.counts["compiled"] == compiled
        assert reused == _compiled_afresh(settings, period, Filters(), definitions=version)
    accounts = [e for k, e in statements._ENTRIES.items() if k[0][0].name == "accounts"]
    assert [type(e) for e in accounts] == [statements._Statement]
    # The look-back reads touches before the period: the meetings of 10 March and 31
    # January weigh in the one-day period's relationship score.
    items = {i["id"]: i for i in compute(LENGTHS[0], definitions=version)["kpis"]}
    assert items["relationship_score_avg"]["value"] > 0


def test_a_grouped_computation_reuses_its_statements_exactly(world, settings):
    """Tiers side by side (three groups: the copies of ``GroupCopy`` too), periods apart."""
    tiers = [world["tier"].pk, TierFactory(name="Tier 3", rank=3).pk]
    tiers.append(TierFactory(name="Tier 4", rank=4).pk)
    before = statements.counts["reused"]
    for period in PERIODS:
        grouped = compute_grouped(period, Filters(), "tier", tiers)
        settings.ABM_KPI_STATEMENT_REUSE = False
        assert grouped == compute_grouped(period, Filters(), "tier", tiers)
        settings.ABM_KPI_STATEMENT_REUSE = True
    assert statements.counts["reused"] > before


def test_grouped_programs_reuse_every_statement_their_pairs_set_reads(world, settings):
    """Programs side by side read one set of (program, account) pairs: the probes at other
    periods build the same statement (their contexts keep the pass's programs), so every
    statement of a pass without split rows is reused from the third period on, exactly."""
    keys = [world["program"].pk, ProgramFactory(name="Other").pk, ProgramFactory(name="Third").pk]
    ids = ["engaged_target_accounts", "opportunity_rate", "web_visits"]
    compute_grouped(PERIODS[0], Filters(), "program", keys, ids, "v1")  # observed
    compute_grouped(PERIODS[1], Filters(), "program", keys, ids, "v1")  # proven
    compiled = []
    for period in PERIODS:
        before = statements.counts["compiled"]
        grouped = compute_grouped(period, Filters(), "program", keys, ids, "v1")
        compiled.append(statements.counts["compiled"] - before)
        settings.ABM_KPI_STATEMENT_REUSE = False
        assert grouped == compute_grouped(period, Filters(), "program", keys, ids, "v1")
        settings.ABM_KPI_STATEMENT_REUSE = True
    assert compiled == [0] * len(PERIODS)


def test_programs_with_split_view_through_are_exact_when_a_period_comes_again(
    world, settings, monkeypatch
):
    """Version 2's view-through for every program in one statement reads rows split by
    program (``split``), made for the period: the probes at other periods make their own,
    so the statement is proven and reused like the others (it used to be compiled every
    time), and a period computed twice and then others stay exact."""
    program, other = world["program"], ProgramFactory(name="Other program")
    account = AccountFactory(name="Viewer")
    days = [
        (dt.date(2024, 1, 10), dt.date(2024, 1, 12)),
        (dt.date(2024, 3, 1), dt.date(2024, 3, 3)),
        (dt.date(2023, 11, 1), dt.date(2023, 11, 6)),
    ]
    for (ad_day, visit_day), chosen in itertools.product(days, (program, other)):
        # Each program's own impression, then its own visit (v2 counts a program's touches).
        TouchFactory(
            account=account, kind="ad_impression", program=chosen, occurred_at=_at(ad_day, 9)
        )
        TouchFactory(
            account=account, kind="web_visit", program=chosen, occurred_at=_at(visit_day, 10)
        )
    keys = [program.pk, other.pk]
    ids = ["view_through_visits", "view_through_conversions", "web_visits"]
    built = []  # the sources whose aggregate each run builds (not reused)
    pending_by_group = measures.pending_by_group

    def building(ctx, source, *args, **kwargs):
        if statements.reuse():  # not the fresh computation it is checked against
            built[-1].add(source.name)
        return pending_by_group(ctx, source, *args, **kwargs)

    monkeypatch.setattr(measures, "pending_by_group", building)
    for period in (PERIODS[1], PERIODS[1], PERIODS[0], PERIODS[2], PERIODS[1]):
        built.append(set())
        grouped = compute_grouped(period, Filters(), "program", keys, ids, definitions="v2")
        settings.ABM_KPI_STATEMENT_REUSE = False
        fresh = compute_grouped(period, Filters(), "program", keys, ids, definitions="v2")
        settings.ABM_KPI_STATEMENT_REUSE = True
        assert grouped == fresh
        items = {i["id"]: i for i in grouped[program.pk]["kpis"]}
        assert items["view_through_visits"]["value"] >= 1  # each period has one
    assert "view_through" in built[0]
    assert built[2:] == [set()] * 3  # observed, proven, then reused: nothing built


def test_proving_runs_no_extra_query(world, settings):
    """The compiles at the probe periods are stopped before they run: the computation
    that proves a shape runs the queries of one that does not."""
    compute(PERIODS[0], ids=["web_visits"])  # the first computation's one-off reads
    counted = []
    for reuse in (False, True):
        settings.ABM_KPI_STATEMENT_REUSE = reuse
        statements.clear()
        runs = []
        for period in PERIODS:
            with CaptureQueriesContext(connection) as captured:
                compute(period)
            runs.append(len(captured.captured_queries))
        counted.append(runs)
    assert counted[0] == counted[1]
    assert statements.counts["probed"] > 0


def test_a_parameter_no_rule_predicts_is_never_reused(world, settings, monkeypatch):
    """A condition whose parameter changes with every build (not a function of the
    dates): its statement is compiled every time, and its numbers stay right."""
    condition = TOUCHES.measures["web_visits"]
    counter = itertools.count(1)
    where = condition.where
    monkeypatch.setattr(
        condition, "where", lambda ctx: where(ctx) & ~Q(pk=-(10**9 + next(counter)))
    )
    before = dict(statements.counts)
    results = [compute(period, ids=["web_visits"]) for period in PERIODS]
    assert statements.counts["reused"] == before["reused"]
    assert statements.counts["compiled"] - before["compiled"] == len(PERIODS)
    assert statements._NEVER in statements._ENTRIES.values()
    for period, result in zip(PERIODS, results, strict=True):
        assert result == _compiled_afresh(settings, period, Filters(), None, ["web_visits"])


def test_a_changed_high_value_page_is_read_again(world, settings):
    """The patterns the statement was built with are read again when it is reused, and
    another list of them compiles the statement afresh."""
    ids = ["high_value_page_visits"]
    every = Filters(cohort="all")
    before = [compute(period, every, ids) for period in PERIODS[:2]]
    assert [type(e) for e in statements._ENTRIES.values()] == [statements._Statement]
    HighValuePageFactory(url_pattern="/demo")
    TouchFactory(
        account=AccountFactory(name="Demo"),
        kind="web_visit",
        url="/demo",
        occurred_at=_at(dt.date(2024, 1, 10), 9),
    )
    reused, compiled = statements.counts["reused"], statements.counts["compiled"]
    result = compute(PERIODS[0], every, ids)
    # Other patterns: the proven statement is not this one's; compiled afresh.
    assert statements.counts["reused"] == reused
    assert statements.counts["compiled"] == compiled + 1
    assert result == _compiled_afresh(settings, PERIODS[0], every, None, ids)
    assert result["kpis"][0]["value"] == before[0]["kpis"][0]["value"] + 1


def _compiles(first: Period) -> list:
    periods = [first, *statements.probe_periods(first.end)]
    return [statements._Compiled(p.start, p.end, "", ()) for p in periods]


def test_the_probes_span_every_length_a_period_may_have():
    lengths = {length for _, length in statements.PROBES}
    assert min(lengths) == 1
    assert max(lengths) == MAX_PERIOD_DAYS


@pytest.mark.parametrize("days", [1, 30, 90, 365])
def test_rules_are_learnt_at_the_first_period_and_checked_at_the_probes(settings, days):
    settings.TIME_ZONE = NEW_YORK
    at = _compiles(Period(dt.date(2024, 4, 1) - dt.timedelta(days=days - 1), dt.date(2024, 4, 1)))
    # The day after the end, as the local midnight (the probes cross DST changes).
    values = [day_start(c.end + dt.timedelta(days=1)) for c in at]
    assert statements._rule(values, at) == ("day_start", "end", 1)
    assert statements._rule([day_start(c.start) for c in at], at) == ("day_start", "start", 0)
    # A week before the start, as a date; the length in days plus one; a constant.
    week = [c.start - dt.timedelta(days=7) for c in at]
    assert statements._rule(week, at) == ("date", "start", -7)
    lengths = [(c.end - c.start).days + 2 for c in at]
    assert statements._rule(lengths, at) == ("length", "", 1)
    assert statements._rule(["x"] * len(at), at) == ("same", "x", 0)
    # Not a function the family has: the earlier of the start and 119 days before the end
    # (a look-back window), even from a first period where it is always the latter.
    lower = [day_start(min(c.start, c.end - dt.timedelta(days=119))) for c in at]
    assert statements._rule(lower, at) is None
    # The same value at every period but one: no rule.
    assert statements._rule([1] * (len(at) - 1) + [2], at) is None
    # The quarter's first day: the same at some periods, not a rule.
    quarters = [dt.date(c.end.year, 3 * ((c.end.month - 1) // 3) + 1, 1) for c in at]
    assert statements._rule(quarters, at) is None
    # A UTC midnight is no local midnight here.
    utc = [dt.datetime.combine(c.start, dt.time(), tzinfo=dt.UTC) for c in at]
    assert statements._rule(utc, at) is None
