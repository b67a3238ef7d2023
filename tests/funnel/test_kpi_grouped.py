"""Grouped computation (#18 item 2): every program's and every tier's KPIs in one pass per source.

``compute_grouped`` must return, per group, exactly what ``compute`` returns with that
group's filter: the whole catalogue, for every program and tier of a seeded demo, under
definitions v1 and v2, over two periods and with the page's other filters.
"""

import datetime as dt
import json
import re

import pytest
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Tier
from engagement.models import Program, Touch
from funnel.kpis import Filters, Period, compute, compute_grouped, compute_slices
from reports.selectors import COHORT_TIER_KPIS, PROGRAM_KPIS
from tests.conftest import postgresql_only
from tests.factories import ProgramFactory, SpendFactory, TouchFactory

pytestmark = postgresql_only

END = dt.date(2026, 6, 30)
SMALL = ["--accounts", "60", "--touches", "3000", "--end-date", END.isoformat()]
PERIODS = [
    Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
    Period(dt.date(2025, 7, 1), dt.date(2026, 6, 30)),
]


@pytest.fixture
def demo(django_db_blocker, django_db_setup):
    call_command("seed_demo", *SMALL, stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.ABM_KPI_CACHE_SECONDS = 0  # each compute() computes: grouped vs per group


@pytest.fixture
def copied(monkeypatch) -> list[int]:
    """The keys of the group copies compiled (``GroupCopy``; a mismatch raises instead)."""
    from funnel.kpis.measures import GroupCopy

    keys: list[int] = []
    compile_copy = GroupCopy.as_sql

    def recording(self, compiler, connection, **extra):
        sql, params = compile_copy(self, compiler, connection, **extra)
        keys.append(self.keys[2])
        return sql, params

    monkeypatch.setattr(GroupCopy, "as_sql", recording)
    return keys


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("by", ["program", "tier"])
def test_grouped_equals_one_compute_per_group_for_the_whole_catalogue(demo, definitions, by):
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))
    assert len(keys) >= 3
    for period in PERIODS:
        for base in (Filters(), Filters(cohort="all")):
            grouped = compute_grouped(period, base, by, keys, definitions=definitions)
            assert list(grouped) == keys
            for key in keys:
                single = Filters(cohort=base.cohort, **{by: (key,)})
                assert grouped[key] == compute(period, single, definitions=definitions), (
                    period,
                    base,
                    key,
                )


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_grouped_programs_keep_the_other_filters(demo, definitions):
    period = PERIODS[0]
    tier = Tier.objects.order_by("rank").first().pk
    keys = list(Program.objects.values_list("pk", flat=True))
    for base in (Filters(), Filters(tier=(tier,), cohort="abm")):
        grouped = compute_grouped(
            period, base, "program", keys, PROGRAM_KPIS, definitions, union=True
        )
        for key in keys:
            scoped = Filters(tier=base.tier, program=(key,), cohort=base.cohort)
            assert grouped[key] == compute(period, scoped, PROGRAM_KPIS, definitions)
        # The union (the programs page's totals): every program at once, in the same pass.
        every = Filters(tier=base.tier, program=tuple(keys), cohort=base.cohort)
        assert grouped[None] == compute(period, every, PROGRAM_KPIS, definitions)


@pytest.mark.django_db
def test_the_union_of_the_whole_catalogue(demo):
    keys = list(Program.objects.values_list("pk", flat=True))
    grouped = compute_grouped(PERIODS[0], Filters(), "program", keys[:3], union=True)
    assert grouped[None] == compute(PERIODS[0], Filters(program=tuple(keys[:3])))
    assert grouped[keys[0]] == compute(PERIODS[0], Filters(program=(keys[0],)))


@pytest.mark.django_db
def test_a_program_without_touches_has_zero_accounts_and_its_own_spend(demo):
    idle = ProgramFactory()
    keys = [*Program.objects.exclude(pk=idle.pk).values_list("pk", flat=True), idle.pk]
    grouped = compute_grouped(PERIODS[0], Filters(), "program", keys, PROGRAM_KPIS)
    items = {item["id"]: item for item in grouped[idle.pk]["kpis"]}
    assert items["engaged_target_accounts"]["value"] == 0
    assert items["won_accounts"]["value"] == 0
    assert grouped[idle.pk] == compute(PERIODS[0], Filters(program=(idle.pk,)), PROGRAM_KPIS)


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["program", "tier"])
def test_query_count_is_constant_in_the_number_of_groups(demo, by):
    """The programs page's KPIs (and the tier table's): as many queries for 2 groups as for all."""
    model = Program if by == "program" else Tier
    ids = PROGRAM_KPIS if by == "program" else COHORT_TIER_KPIS
    keys = list(model.objects.values_list("pk", flat=True))
    compute_grouped(PERIODS[0], Filters(), by, keys[:1], ids, "v2")  # creates the versions
    counts = []
    for some in (keys[:2], keys):
        with CaptureQueriesContext(connection) as queries:
            compute_grouped(PERIODS[0], Filters(), by, some, ids, "v2")
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_slices_of_all_the_cohorts_and_the_tiers_equal_one_compute_each(demo, definitions):
    """The snapshots' all, cohort and tier slices in one pass (``compute_slices``): each is
    what ``compute`` gives for its own filters, version 2's spend allocated to each tier
    and whole for the others, over two periods."""
    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    slices = [
        Filters(),
        *(Filters(tier=(t,)) for t in tiers),
        *(Filters(cohort=c) for c in ("abm", "non_abm", "all")),
        Filters(tier=(tiers[0],), cohort="abm"),
    ]
    for period in PERIODS:
        computed = compute_slices(period, slices, definitions=definitions)
        for filters, result in zip(slices, computed, strict=True):
            assert result == compute(period, filters, definitions=definitions), (period, filters)


@pytest.mark.django_db
def test_slices_read_the_account_rows_once_for_all_the_tiers_and_cohorts(demo):
    """All, the three cohorts and every tier: as many statements as all alone plus one
    (version 2's spend of the whole beside each tier's allocated share), and no more for
    one more tier."""
    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    cohorts = [Filters(cohort=c) for c in ("abm", "non_abm", "all")]
    compute_slices(PERIODS[0], [Filters()], definitions="v2")  # creates the versions
    counts = []
    for slices in (
        [Filters()],
        [Filters(), *cohorts, Filters(tier=(tiers[0],))],
        [Filters(), *cohorts, *(Filters(tier=(t,)) for t in tiers)],
    ):
        with CaptureQueriesContext(connection) as queries:
            compute_slices(PERIODS[0], slices, definitions="v2")
        counts.append(len(queries))
    assert counts[1] == counts[2] == counts[0] + 1, counts


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_slices_of_every_kind_in_one_pass_equal_one_compute_each(demo, definitions):
    """All, the cohorts, the tiers and the programs in one pass: each is what ``compute``
    gives for its own filters (version 2's view-through of the programs over rows of their
    own windows, the spend of each tier allocated, each program's its own), over two
    periods."""
    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    programs = list(Program.objects.order_by("pk").values_list("pk", flat=True))
    assert len(programs) >= 3
    slices = [
        Filters(),
        *(Filters(tier=(t,)) for t in tiers),
        *(Filters(program=(p,)) for p in programs),
        *(Filters(cohort=c) for c in ("abm", "non_abm", "all")),
    ]
    for period in PERIODS:
        computed = compute_slices(period, slices, definitions=definitions)
        for filters, result in zip(slices, computed, strict=True):
            assert result == compute(period, filters, definitions=definitions), (period, filters)


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_slices_of_every_kind_read_each_source_once_where_it_can(demo, definitions, copied, caplog):
    """The programs beside all, the cohorts and the tiers add no statement of their own,
    except version 2's view-through, whose windows run over each program's own touches
    (the programs' spend is read with the whole's): fewer than the two passes the
    snapshots took, with each kind's groups past its first two copies of them, none built
    in full."""
    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    programs = list(Program.objects.order_by("pk").values_list("pk", flat=True))
    others = [Filters(), *(Filters(tier=(t,)) for t in tiers)]
    others += [Filters(cohort=c) for c in ("abm", "non_abm", "all")]
    by_program = [Filters(program=(p,)) for p in programs]
    compute_slices(PERIODS[0], others, definitions=definitions)  # creates the versions

    def statements(run) -> int:  # transaction control aside (the programs' pairs' savepoint)
        with CaptureQueriesContext(connection) as queries:
            run()
        return len([q for q in queries if "SAVEPOINT" not in q["sql"]])

    apart = statements(
        lambda: (
            compute_slices(PERIODS[0], others, definitions=definitions),
            compute_grouped(PERIODS[0], Filters(), "program", programs, definitions=definitions),
        )
    )
    alone = statements(lambda: compute_slices(PERIODS[0], others, definitions=definitions))
    copied.clear()
    with caplog.at_level("INFO", logger="funnel.kpis.measures"):
        together = statements(
            lambda: compute_slices(PERIODS[0], others + by_program, definitions=definitions)
        )
    own = 1 if definitions == "v2" else 0  # view-through's rows of the programs' windows
    own += 1  # the programs' pairs, computed once for every statement (``program_pairs``)
    assert together == alone + own < apart, (together, alone, apart)
    assert set(copied) == {*tiers[2:], *programs[2:]}
    assert not [r for r in caplog.records if "built in full" in r.getMessage()]


@pytest.mark.django_db
def test_each_slices_group_aggregates_only_the_cohorts_its_slices_read(demo, monkeypatch):
    """A tier slice reads the ABM figures; the non-ABM cohort slice beside it does not make
    every tier aggregate its non-ABM figures too (``measures._own_cohorts``). Each
    statement's aggregates are named group__cohort__measure (read as they are built: over
    fenced rows the statement does not repeat the names)."""
    from funnel.kpis import measures

    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    slices = [Filters(cohort="non_abm"), *(Filters(tier=(t,)) for t in tiers)]
    aliases = []
    built = measures.pending_by_group

    def pending(*args, **kwargs):
        made = built(*args, **kwargs)
        read: dict[str, set[str]] = {}
        for alias in made.aggregates:
            group, cohort, _ = alias.split("__", 2)
            read.setdefault(group, set()).add(cohort)
        aliases.append(read)
        return made

    monkeypatch.setattr(measures, "pending_by_group", pending)
    computed = compute_slices(PERIODS[0], slices, definitions="v2")
    own = {"0": {"non_abm"}, **{str(i): {"abm"} for i in range(1, len(tiers) + 1)}}
    assert own in aliases
    monkeypatch.undo()
    for filters, result in zip(slices, computed, strict=True):
        assert result == compute(PERIODS[0], filters, definitions="v2"), filters


def test_slices_that_differ_by_more_than_tier_program_and_cohort_are_refused():
    with pytest.raises(ValueError, match="differ only by their tier, program and cohort"):
        compute_slices(PERIODS[0], [Filters(), Filters(owner=(1,))])


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["program", "tier"])
def test_grouped_runners_compute_each_groups_set_once_per_statement(demo, by):
    """Stage velocity and the tier split, grouped: each group's accounts are read from sets
    the statement computes once, not a scan for each group, cohort and aggregate that reads
    it (48 scans of a program's touches per statement before): the accounts' last tier
    changes, one set of (tier, account) pairs for all the tiers and their union (one set
    and a tier lookup per account for each tier before); the programs' touches, one set of
    (program, account) pairs for all the programs and their union, put in the session once
    for the whole computation (``scope.program_pairs``). Each group's figures are still its
    own ``compute``'s."""
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))
    ids = ["stage_velocity_days", "target_accounts_by_tier"]
    with CaptureQueriesContext(connection) as queries:
        grouped = compute_grouped(PERIODS[0], Filters(), by, keys, ids, "v2")
    # The stage changes' statement (by stage) and the tier split's (by tier rank). Of the
    # tiers, the stage changes' rows (of accounts) test the union's scope as a set too, the
    # tier split's (the accounts themselves) inline.
    statements = (("stage changes", '"from_stage"', 1), ("tiers", '"tier_rank"', 0))
    for table, marker, union in statements:
        (statement,) = [q["sql"] for q in queries if marker in q["sql"]]
        assert statement.count(" AS MATERIALIZED (") == 1, table
        if by == "tier":
            assert statement.count("DISTINCT ON") == 1, table
        if by == "program":  # the pairs from the session; the tier split's union scope inline
            assert statement.count("current_setting(") == 2, table
            assert statement.count('FROM "engagement_touch"') == 1 - union, table
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(**{by: (key,)}), ids, "v2")


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["program", "tier"])
def test_account_rows_flag_each_group_from_one_shared_set(demo, by):
    """The accounts source (one row per account, each group a flag computed once per
    account) reads every group's accounts from one set of pairs: (tier, account), not a
    tier lookup per account for each tier; (program, account), not a scan of each program's
    touches (read from the session, where the computation put them once). Besides it, only
    the union's own scope reads the tier changes or touches."""
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))[:3]
    ids = ["engaged_target_accounts"]
    with CaptureQueriesContext(connection) as queries:
        grouped = compute_grouped(PERIODS[0], Filters(), by, keys, ids, "v2")
    (statement,) = [q["sql"] for q in queries if 'FROM "accounts_account"' in q["sql"]]
    assert statement.count(" AS MATERIALIZED (") == 1
    if by == "program":  # the union's scope; the pairs are the computation's (in the session)
        assert statement.count('FROM "engagement_touch"') == 1
        assert statement.count("current_setting(") == 2
    else:  # the pairs, and the union's scope
        assert statement.count('FROM "accounts_tierchange"') == 2
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(**{by: (key,)}), ids, "v2")


@pytest.mark.django_db
def test_tier_spend_allocation_reads_the_tiers_once(demo):
    """Version 2's spend of every tier, allocated in one statement: each tier's accounts are
    its part of one set of (tier, account) pairs, not a tier lookup per account twice per
    tier; each tier's figures are still its own ``compute``'s."""
    keys = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    ids = ["cost_per_engaged_account", "customer_acquisition_cost"]
    with CaptureQueriesContext(connection) as queries:
        grouped = compute_grouped(PERIODS[0], Filters(), "tier", keys, ids, "v2")
    (statement,) = [q["sql"] for q in queries if "acq_cents" in q["sql"]]
    assert statement.count(" AS MATERIALIZED (") == 1
    assert statement.count("DISTINCT ON") == 1
    assert statement.count('FROM "accounts_tierchange"') == 1
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(tier=(key,)), ids, "v2")


def test_unknown_grouping_is_refused():
    with pytest.raises(ValueError, match="Group by one of program, tier"):
        compute_grouped(PERIODS[0], Filters(), "owner", [1])


@pytest.mark.django_db
def test_no_groups_no_queries(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert compute_grouped(PERIODS[0], Filters(), "program", []) == {}


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_funnel_snapshots_per_slice_equal_one_compute_per_slice(demo, definitions):
    """The nightly funnel snapshots compute tiers and programs grouped: each slice's
    published figures are what ``compute`` gives for that slice's filters."""
    from funnel.definitions import definitions_resolve
    from funnel.kpis import funnel_slices, slice_kpi_ids
    from funnel.models import FunnelSnapshot
    from funnel.snapshots import funnel_snapshots_upsert

    window = 30
    rules = definitions_resolve(definitions)
    slices = funnel_slices()
    assert {name.split(":")[0] for name, _ in slices} >= {"all", "tier", "program", "cohort"}
    assert funnel_snapshots_upsert(END, window, definitions=rules) == len(slices)
    period = Period(END - dt.timedelta(days=window - 1), END)
    published = {
        s.slice: s.kpis
        for s in FunnelSnapshot.objects.filter(date=END, window_days=window, definitions=rules)
    }
    for name, filters in slices:
        # A slice without a list leaves out the lift KPIs (they need a list's holdout).
        ids = slice_kpi_ids(filters, rules.generation)
        expected = json.loads(
            json.dumps(compute(period, filters, ids, rules), cls=DjangoJSONEncoder)
        )
        assert published[name] == expected, name
    # Unchanged data: nothing restated.
    assert funnel_snapshots_upsert(END, window, definitions=rules) == 0


@pytest.mark.django_db
def test_funnel_snapshots_add_no_query_per_program(demo):
    """The nightly snapshots of one more program run no more queries: every source runs once
    for all the programs (version 2's view-through under the program filter too: its windows
    partitioned by program; attribution too: one statement credits the union's
    opportunities, each program's total an aggregate of its own, ``_run_grouped``; it ran
    once per program slice before, one more query per program)."""
    from funnel.snapshots import funnel_snapshots_upsert

    window = 30
    funnel_snapshots_upsert(END, window, definitions="v2")  # publishes (and makes the versions)
    with CaptureQueriesContext(connection) as before:
        assert funnel_snapshots_upsert(END, window, definitions="v2") == 0
    # One more program, with touches of its own in the window: a slice of its own.
    account = Touch.objects.filter(program__isnull=False).values_list("account", flat=True)[0]
    more = ProgramFactory()
    TouchFactory(
        account_id=account,
        program=more,
        kind="web_visit",
        occurred_at=dt.datetime(2026, 6, 20, 12, tzinfo=dt.UTC),
    )
    assert funnel_snapshots_upsert(END, window, definitions="v2") >= 1
    with CaptureQueriesContext(connection) as after:
        assert funnel_snapshots_upsert(END, window, definitions="v2") == 0
    assert len(after) == len(before)


@pytest.fixture
def kpi_cache(settings):
    from django.core.cache import cache

    settings.ABM_KPI_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_grouped_results_share_the_cache_with_compute(kpi_cache):
    """Under the cache (PostgreSQL, autocommit) each group's result is stored under the key
    ``compute`` uses for that group's filters: the cache warmer's results serve the grouped
    page and the other way round; a committed write computes again."""
    alpha, beta = ProgramFactory(), ProgramFactory()
    keys = [alpha.pk, beta.pk]
    first = compute_grouped(PERIODS[0], Filters(), "program", keys, PROGRAM_KPIS)
    with CaptureQueriesContext(connection) as queries:
        assert compute(PERIODS[0], Filters(program=(beta.pk,)), PROGRAM_KPIS) == first[beta.pk]
    assert not [q for q in queries if "engagement_touch" in q["sql"]]  # served from the cache
    with CaptureQueriesContext(connection) as queries:
        again = compute_grouped(PERIODS[0], Filters(), "program", keys, PROGRAM_KPIS)
    assert again == first
    assert not [q for q in queries if "engagement_touch" in q["sql"]]
    SpendFactory(program=alpha, spent_on=PERIODS[0].start, amount=100)
    changed = compute_grouped(PERIODS[0], Filters(), "program", keys, PROGRAM_KPIS)
    spend = {i["id"]: i for i in changed[alpha.pk]["kpis"]}["cost_per_engaged_account"]
    assert float(spend["numerator"]) == 100  # Alpha's spend, computed again


@pytest.mark.django_db
def test_tier_groups_past_the_first_two_reuse_the_first_groups_compiled_sql(demo, copied, caplog):
    """The third tier's aggregates are the first tier's SQL with its own id (``GroupCopy``),
    not trees of their own, with no group built in full, and its figures are still its own
    ``compute``'s."""
    keys = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    assert len(keys) == 3
    with caplog.at_level("INFO", logger="funnel.kpis.measures"):
        grouped = compute_grouped(PERIODS[0], Filters(), "tier", keys, definitions="v2")
    assert set(copied) == {keys[2]}
    assert not [r for r in caplog.records if "built in full" in r.getMessage()]
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(tier=(key,)), definitions="v2")


@pytest.mark.django_db
def test_program_groups_past_the_first_two_are_copies_with_their_own_shared_sets(
    demo, copied, caplog
):
    """Each program's accounts are its part of the pass's one set of (program, account)
    pairs (``InShared`` with keys): the third program's aggregates still copy the first's
    with its own key, no group is built in full, no statement materializes a set of
    one program's touches, and its figures are its own ``compute``'s."""
    keys = list(Program.objects.order_by("pk").values_list("pk", flat=True))[:3]
    assert len(keys) == 3
    with (
        caplog.at_level("INFO", logger="funnel.kpis.measures"),
        CaptureQueriesContext(connection) as queries,
    ):
        grouped = compute_grouped(PERIODS[0], Filters(), "program", keys, definitions="v2")
    assert set(copied) == {keys[2]}
    for query in queries:
        sets = re.findall(
            r' AS MATERIALIZED \((SELECT [^)]*?FROM "engagement_touch")', query["sql"]
        )
        assert all(body.startswith('SELECT DISTINCT U0."program_id"') for body in sets), sets
    assert not [r for r in caplog.records if "built in full" in r.getMessage()]
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(program=(key,)), definitions="v2")


@pytest.mark.django_db
def test_a_pass_that_builds_its_groups_in_full_says_why_and_reads_the_pages_once(
    demo, monkeypatch, caplog
):
    """A copy refused at compile time (here: every one) is logged with its reason; the
    groups then built in full read the high-value page patterns from the one read of the
    pass, not one more query per group."""
    from funnel.kpis.measures import CopyMismatch, GroupCopy

    def refuse(self, compiler, connection, **extra):
        raise CopyMismatch(f"{self.template}: refused by the test")

    keys = list(Program.objects.order_by("pk").values_list("pk", flat=True))
    assert len(keys) >= 4

    def pattern_reads(run):
        with CaptureQueriesContext(connection) as queries:
            result = run()
        reads = [q for q in queries if 'FROM "engagement_highvaluepage"' in q["sql"]]
        return result, len(reads)

    def grouped(some):
        return compute_grouped(PERIODS[0], Filters(), "program", some, definitions="v2")

    copies, copied_reads = pattern_reads(lambda: grouped(keys))
    monkeypatch.setattr(GroupCopy, "as_sql", refuse)
    with caplog.at_level("INFO", logger="funnel.kpis.measures"):
        full, full_reads = pattern_reads(lambda: grouped(keys))
        _, fewer_reads = pattern_reads(lambda: grouped(keys[:3]))
    assert full == copies
    assert copied_reads == full_reads == fewer_reads == 1
    reasons = [r.getMessage() for r in caplog.records if "built in full" in r.getMessage()]
    assert reasons and all("refused by the test" in reason for reason in reasons)


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["program", "tier"])
def test_a_cohort_once_sources_groups_are_flag_columns_not_repeated_per_aggregate(
    demo, by, source_statements
):
    """Touches, opportunities, NPS and visitors (``cohort_once``) state each group's condition
    once, as a flag column of their fenced rows: the program and tier passes of the nightly
    snapshots no longer test every group's condition in each of its aggregates (8 programs x
    3 cohorts x every measure). The figures are each group's own ``compute``'s."""
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))[:3]
    assert len(keys) == 3
    grouped = compute_grouped(PERIODS[0], Filters(), by, keys, definitions="v2")
    for name in ("touches", "opportunities", "nps", "visitors"):
        sql = source_statements[name].split(") SELECT ", 1)[-1]  # past the shared sets
        aggregates = sql.split(" FROM ", 1)[0]
        for i in range(len(keys)):
            assert f'"group_{i}"' in aggregates, name
        # No group's condition (an account set, a tier as of the end: subqueries) and no
        # cohort's in the aggregates: each is a column of the fenced rows.
        assert "SELECT" not in aggregates[len("SELECT") :], name
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(**{by: (key,)}), definitions="v2")


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["program", "tier"])
def test_view_through_tests_the_target_list_once_per_row_not_per_aggregate(
    demo, by, source_statements
):
    """The snapshots' cohorts beside the tiers (or the programs, over rows of their own
    windows): each view-through row carries its cohort flag (``cohort_once``), where each of
    the 2 x cohorts x groups aggregates tested the target list again (a hashed subplan per
    aggregate, probed for every row the window pass makes). The figures are each slice's
    own ``compute``'s."""
    model = Program if by == "program" else Tier
    keys = list(model.objects.order_by("pk").values_list("pk", flat=True))[:3]
    slices = [Filters(**{by: (key,)}) for key in keys]
    slices += [Filters(**{by: (keys[0],)}, cohort=c) for c in ("non_abm", "all")]
    slices += [Filters(cohort=c) for c in ("abm", "non_abm", "all")] if by == "tier" else []
    computed = compute_slices(PERIODS[0], slices, ["view_through_visits"], "v2")
    sql = source_statements["view_through"].split(") SELECT ", 1)[-1]  # past the shared sets
    aggregates = sql.split(" FROM (SELECT ", 1)[0]
    assert aggregates.count("FILTER") >= 5
    assert "SELECT" not in aggregates[len("SELECT") :]
    assert sql.count('"accounts_listmembership"') == 1  # the flag's, once per row
    for filters, result in zip(slices, computed, strict=True):
        assert result == compute(PERIODS[0], filters, ["view_through_visits"], "v2"), filters


@pytest.mark.django_db
def test_program_accounts_test_the_target_list_once_per_account(demo, source_statements):
    """The program KPIs' accounts beside the cohorts and the tiers (the snapshots' pass): each
    account's ABM flag and tier flags are columns (``cohort_once``), where each aggregate
    tested the target list and its tier's set again."""
    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    slices = [Filters(), *(Filters(tier=(t,)) for t in tiers)]
    slices += [Filters(cohort=c) for c in ("abm", "non_abm", "all")]
    ids = ["program_reached_accounts", "program_engaged_accounts"]
    computed = compute_slices(PERIODS[0], slices, ids, "v2")
    sql = source_statements["program_accounts"]
    assert sql.count('"accounts_listmembership"') == 1
    for filters, result in zip(slices, computed, strict=True):
        assert result == compute(PERIODS[0], filters, ids, "v2"), filters


@pytest.mark.django_db
def test_a_program_groups_touches_test_the_program_before_the_accounts_set(demo, source_statements):
    """Version 2's program groups of touches: each flag tests the touch's program first, so
    the touches of the other programs skip the program's set of accounts (a hashed lookup
    per touch and program: 8 per touch in the snapshots' pass, now at most one)."""
    keys = list(Program.objects.order_by("pk").values_list("pk", flat=True))[:3]
    grouped = compute_grouped(PERIODS[0], Filters(), "program", keys, definitions="v2")
    flags = re.findall(r"CASE WHEN \((.*?)\) THEN true", source_statements["touches"])
    programs = [f for f in flags if '"program_id" IN (' in f]
    assert len(programs) == len(keys)
    for flag in programs:
        assert flag.startswith('"engagement_touch"."program_id" IN ('), flag
    for key in keys:
        assert grouped[key] == compute(PERIODS[0], Filters(program=(key,)), definitions="v2")


@pytest.mark.django_db
def test_each_groups_scope_is_built_once_per_form(demo, monkeypatch):
    """A pass over every slice asks each group's scope of every source: each context builds
    each form of it (through accounts or not, shared sets or not) once, not once per source
    (Django builds its sets' querysets each time)."""
    from funnel.kpis import context

    built = []
    scope_q = context.scope_q

    def counting(filters, period, prefix="", **kwargs):
        built.append((filters, period, prefix, kwargs["shared"], kwargs["programs_of"]))
        return scope_q(filters, period, prefix, **kwargs)

    monkeypatch.setattr(context, "scope_q", counting)
    tiers = list(Tier.objects.order_by("pk").values_list("pk", flat=True))
    programs = list(Program.objects.order_by("pk").values_list("pk", flat=True))
    slices = [Filters(), *(Filters(tier=(t,)) for t in tiers)]
    slices += [Filters(program=(p,)) for p in programs]
    compute_slices(PERIODS[0], slices, definitions="v2")
    assert len(built) > len(slices)
    assert len(built) == len(set(built))
