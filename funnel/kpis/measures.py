"""Sources, measures and conditions: the vocabulary every KPI is written in.

A *source* is one set-based query over rows (accounts with their facts,
touches, opportunities, ...) that returns many named *measures* at once, for
every cohort the requested KPIs need. A *condition* is a measure that
counts the rows matching a ``Q``; the same condition filters the rows of a
drill-down, so a count and the list behind it are one definition. Measures
and conditions are module-level functions, registered on their source by a
decorator: a KPI names the objects it reads (``measures=(engaged, ...)``), so
"go to definition" leads from a KPI to its exact rule, and the engine
computes only the measures the requested KPIs declare.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import (
    Aggregate,
    Count,
    Expression,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import Ref

from abm_site.db import PerAccount, flag_column, shared_sets
from funnel.choices import Cohort

from . import statements
from .copies import CopyMismatch, GroupCopy, _copied_members
from .rollup import flag_conditions, roll_up, rollable

if TYPE_CHECKING:
    from .context import Context

logger = logging.getLogger(__name__)

#: Slicing the per-row queryset makes Django aggregate over it as a subquery with a
#: LIMIT, which PostgreSQL never flattens: each row's correlated subqueries then run
#: once, instead of once per aggregate that reads them.
_FENCE = 10**15

#: The column of ``Source.cohort_once``: the row's account is in the ABM cohort.
COHORT_FLAG = "cohort_abm"

Rows = Callable[["Context"], QuerySet]
Runner = Callable[["Context", list[str]], dict[str, dict[str, Any]]]
GroupedRunner = Callable[
    ["Context", list["Context"], list[str]], list[dict[str, dict[str, Any]]] | None
]


@dataclass(eq=False)
class Source:
    """One aggregate query: its rows and the measures registered on it.

    ``prefix`` leads from a row to its account (``""`` for account rows).
    ``drills_to`` is what a drill-down of one of its conditions lists
    (``"account"`` or ``"opportunity"``); ``drill_via_accounts`` makes it list
    the accounts that have matching rows (touch counts drill to accounts).
    ``fence`` for row querysets whose annotations are subqueries (see
    ``_FENCE``). ``after(ctx, cohorts, measures, result)`` completes measures
    whose aggregate is None on this database. ``targeted`` names a boolean annotation of account rows: the
    cohorts test it, and "all" is abm + non_abm when both are computed (every
    measure must then be a count or a sum). ``runner`` replaces the generic
    aggregate for sources that are not one (spend, tiers, stage changes).
    ``prunes``: ``rows(ctx, names)`` annotates only the facts ``names`` (what the
    planned measures refer to), so a request never pays for facts it does not read.
    ``group_q(group_ctx)``: for a grouped computation (``grouped.compute_grouped``), the
    condition that keeps one group's rows out of the rows of the union of the groups
    (default: the group's account scope through ``prefix``); None where no condition can
    (the rows themselves differ per group). ``grouped_runner(union, groups, cohorts)``: a
    runner's grouped version (one result per group), None where it cannot group.
    ``split_rows(union, groups)``: for groups whose ``group_q`` is None, the union's rows
    made so that each group's rows are its own after all (view-through under version 2's
    program filter: each program's windows partitioned by program), each group's kept by
    ``split_q(group)``; None where these groups cannot be split so.
    ``period_q(ctx)``: for a series (``series.compute_series``), the condition that keeps
    one period's rows among the rows of a longer period (``Q()`` where the rows do not
    depend on the period, each condition picking its own dates); None where the rows
    themselves differ per period (account facts, look-back windows).
    ``period_rows(contexts, names)``: for a series, the rows of a pruning source with the
    facts ``names`` of every period at once, the ``i``-th period's fact ``name`` annotated
    as ``period_fact(name, i)`` (one pass over the rows for all the buckets); None where
    that pass would cost more than the periods side by side.
    ``scoped_periods``: a series under a tier or program filter (other accounts in each
    bucket) runs this source in one pass too, each bucket's rows, scope and cohorts flag
    columns of the fenced rows; False: its buckets side by side (touches: the one pass tests
    every bucket's flags on each of the span's many rows, where each bucket's own statement
    scans only its week's rows of its scope: 5.8 s against 2.1 s at 20,000 accounts).
    ``cohort_once``: outside a series, the rows are fenced (as ``fence``) and carry the
    ABM-cohort flag as an alias (``COHORT_FLAG``): each row computes the flag, and any
    alias of the rows an aggregate reads, once, and the aggregates' FILTERs test those
    columns instead of repeating the cohort's condition (a target-list subquery) and the
    aliases' SQL in each aggregate; in a grouped computation each group's condition is a
    flag column there too, not repeated in each of the group's aggregates (the snapshots'
    program pass: 8 groups x 3 cohorts x every measure). A series leaves them unfenced
    (same values).
    ``rolls_up``: a ``cohort_once`` source's rows are summed by their flags before its
    aggregates run, where every aggregate is a sum or a count (``rollup``): many rows per
    account (touches), far fewer combinations of flags. ``roll_columns``: NOT NULL columns
    of few values (a touch's kind) that the rolled rows keep as they are, so that a
    condition on them is tested on the few rolled rows, not computed as a flag on every row.
    """

    name: str
    rows: Rows | None = None
    prefix: str = "account__"
    drills_to: str | None = None
    drill_via_accounts: bool = False
    fence: bool = False
    targeted: str | None = None
    runner: Runner | None = None
    weight: str | None = None
    prunes: bool = False
    group_q: Callable[[Context], Q | None] | None = None
    grouped_runner: GroupedRunner | None = None
    split_rows: Callable[[Context, list[Context]], QuerySet | None] | None = None
    split_q: Callable[[Context], Q] | None = None
    period_q: Callable[[Context], Q] | None = None
    period_rows: Callable[[list[Context], set[str]], QuerySet | None] | None = None
    period_fact: Callable[[str, int], str] | None = None
    scoped_periods: bool = True
    cohort_once: bool = False
    rolls_up: bool = False
    roll_columns: tuple[str, ...] = ()
    after: Callable[[Context, list[str], list[Measure], dict[str, dict[str, Any]]], None] | None = (
        None
    )
    measures: dict[str, Measure] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Source {self.name}>"

    # --- declaring measures -----------------------------------------------------

    def _register(self, measure: Measure) -> Measure:
        if measure.name in self.measures:
            raise ValueError(f"Source {self.name!r} has two measures named {measure.name!r}.")
        self.measures[measure.name] = measure
        return measure

    def measure(
        self, function: Callable[..., Aggregate] | None = None, *, whole: bool = False
    ) -> Any:
        """Register ``function(ctx, cohort_q) -> Aggregate`` as a measure of this source.

        ``whole``: the measure ignores the cohort (e.g. the TAM counts every
        scoped account).
        """

        def register(fn: Callable[..., Aggregate]) -> Measure:
            return self._register(Measure(self, fn.__name__, fn, whole=whole, doc=fn.__doc__))

        return register(function) if function is not None else register

    def condition(self, function: Callable[[Context], Q] | None = None, *, whole: bool = False):
        """Register ``function(ctx) -> Q`` as a condition: the count of rows matching it."""

        def register(fn: Callable[[Context], Q]) -> Condition:
            condition = Condition(self, fn.__name__, None, whole=whole, doc=fn.__doc__, where=fn)
            return self._register(condition)  # type: ignore[return-value]

        return register(function) if function is not None else register

    def output(self, name: str, doc: str = "") -> Measure:
        """A named value of a source computed by its ``runner`` (no aggregate of its own)."""
        return self._register(Measure(self, name, None, doc=doc))

    # --- computing ----------------------------------------------------------------

    def compute(
        self, ctx: Context, cohorts: list[str], measures: Iterable[Measure]
    ) -> dict[str, dict[str, Any]]:
        """The values of ``measures`` for each of ``cohorts``: one query (a few for runners)."""
        if self.runner is not None:
            return self.runner(ctx, cohorts)
        measures = list(measures)
        result = _by_cohort(ctx, self, cohorts, measures)
        if self.after is not None:
            self.after(ctx, cohorts, measures, result)
        return result

    def per_account(self, ctx: Context, where: Q, aggregate: Aggregate) -> Subquery:
        """``aggregate`` over this source's rows matching ``where`` of each listed account:
        a correlated subquery for the accounts a touch source drills to."""
        rows = self.rows(ctx)
        # The matching rows' ids first: a source's rows may carry window functions (the
        # view-through look-back), which cannot be grouped by account in one query.
        matching = rows.filter(where).order_by().values("pk")
        return Subquery(
            rows.model.objects.filter(pk__in=matching, account_id=OuterRef("pk"))
            .order_by()
            .values("account_id")
            .annotate(figure=aggregate)
            .values("figure")[:1]
        )

    def figure_of(self, condition: Condition) -> Any:
        """The figure of a count of ``condition``'s rows when it lists accounts having them
        (touch counts): each account's count of the rows (quantities from version 2)."""
        if not self.drill_via_accounts:
            return None
        from .base import Figure

        def touches(ctx: Context) -> Subquery:
            weighted = self.weight and ctx.generation >= 2
            aggregate = Sum(self.weight) if weighted else Count("pk")
            return self.per_account(ctx, condition.where(ctx), aggregate)

        return Figure("Touches", "count", touches)

    def drill(self, ctx: Context, cohort: str, where: Q) -> QuerySet:
        """The rows (or, for touch sources, the accounts) matching ``where`` in ``cohort``."""
        if self.rows is None:
            raise TypeError(f"Source {self.name!r} has no rows to drill into.")
        from accounts.models import Account

        rows = self.rows(ctx)
        if self.drill_via_accounts:
            matching = rows.filter(where).values("account_id")
            return Account.objects.filter(ctx.scope_q(), ctx.cohort_q(cohort), pk__in=matching)
        if self.prefix == "":
            return rows.filter(ctx.cohort_q(cohort), where)
        return rows.filter(ctx.cohort_q(cohort, self.prefix), where).select_related("account")


@dataclass(eq=False)
class Measure:
    """One named value of a source; ``aggregate(ctx, cohort_q)`` builds its SQL aggregate."""

    source: Source
    name: str
    aggregate: Callable[..., Aggregate] | None
    whole: bool = False
    doc: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source.name}.{self.name}>"

    def expression(self, ctx: Context, cohort_q: Q, group_q: Q | None = None) -> Aggregate | None:
        """The aggregate for one cohort (and, in a grouped computation, one group's rows)."""
        assert self.aggregate is not None, f"{self!r} is computed by its source's runner"
        where = Q() if self.whole else cohort_q
        return self.aggregate(ctx, where if group_q is None else group_q & where)


@dataclass(eq=False, repr=False)
class Condition(Measure):
    """A measure that counts the rows matching ``where(ctx)``; also the drill-down filter."""

    where: Callable[[Context], Q] = field(default=lambda ctx: Q())

    def __call__(self, ctx: Context) -> Q:
        return self.where(ctx)

    def expression(self, ctx: Context, cohort_q: Q, group_q: Q | None = None) -> Aggregate:
        where = (Q() if self.whole else cohort_q) & self.where(ctx)
        if group_q is not None:
            where = group_q & where
        if self.source.weight and ctx.generation >= 2:
            return Sum(self.source.weight, filter=where)
        return Count("pk", filter=where)

    def rows(self, ctx: Context, cohort: str) -> QuerySet:
        """The rows behind the count: accounts or opportunities, as a lazy queryset (a
        ``whole`` condition counts every cohort, so its list does too)."""
        return self.source.drill(ctx, Cohort.ALL if self.whole else cohort, self.where(ctx))


def _by_cohort(
    ctx: Context, source: Source, cohorts: list[str], measures: list[Measure]
) -> dict[str, dict[str, Any]]:
    """One ``aggregate()`` of every measure for every cohort, split by cohort.

    With a single cohort (and no measure that ignores it) the rows are
    filtered to it up front: fewer rows, no per-aggregate condition. Rows are
    whole accounts either way, so per-account window functions see the same
    partitions.
    """
    return by_group(ctx, source, cohorts, measures)[0]


def by_group(
    ctx: Context,
    source: Source,
    cohorts: list[str],
    measures: list[Measure],
    groups: list[Context] | None = None,
    split: QuerySet | None = None,
) -> list[dict[str, dict[str, Any]]]:
    """``_by_cohort`` for each of ``groups`` at once: one result per group, in order.

    See ``pending_by_group``, which builds the query; this runs it, or a statement of
    the same shape compiled for another period with this one's parameters
    (``statements``: proven to be the one this period compiles to).
    """

    def build(at: Context, members: list[Context] | None, wrapper: Any) -> dict[str, Any]:
        # Split rows are the period's own: a probe at another period (``statements``) makes
        # its own from its contexts, so that the statement it compiles is that period's.
        rows = split if at is ctx or split is None else source.split_rows(at, members)
        try:
            pending = pending_by_group(
                at, source, cohorts, measures, members, copies=True, split=rows
            )
            return _aggregate(pending, wrapper)
        except CopyMismatch as mismatch:  # raised while compiling, before the statement runs
            logger.info("%r: groups built in full, not as copies (%s)", source, mismatch)
            pending = pending_by_group(at, source, cohorts, measures, members, split=rows)
            return _aggregate(pending, wrapper)

    count = 1 if groups is None else len(groups)
    own = (
        None
        if groups is None
        else tuple(tuple(sorted(_own_cohorts(g, source, cohorts))) for g in groups)
    )
    # (Rolled up or not, the cohort a column or not: a source's switches, read here so that
    # flipping one recompiles.)
    switches = (source.rolls_up, source.cohort_once, source.roll_columns)
    shape = (source, switches, split is not None, tuple(cohorts), tuple(measures), own)
    row = statements.aggregate_row(ctx, groups, shape, build)
    return results_of(row, count, cohorts, measures, _derived(source, cohorts))


def _aggregate(pending: Pending, wrapper: Any = None) -> dict[str, Any]:
    """Run the aggregate (``wrapper``: an execute wrapper that sees the statement as sent,
    its shared sets attached); each aggregate ``Alone``."""
    if not pending.aggregates:
        return {}
    aggregates = {
        alias: a if isinstance(a, GroupCopy) else Alone(a)
        for alias, a in pending.aggregates.items()
    }
    with shared_sets(pending.queryset.db):  # each InShared set once per statement
        if wrapper is None:
            return pending.queryset.aggregate(**aggregates)
        with connections[pending.queryset.db].execute_wrapper(wrapper):
            return pending.queryset.aggregate(**aggregates)


def _derived(source: Source, cohorts: list[str]) -> bool:
    """The all-accounts cohort is derived (ABM plus non-ABM) rather than aggregated."""
    return bool(source.targeted) and {Cohort.ABM, Cohort.NON_ABM, Cohort.ALL} <= set(cohorts)


class Alone(Expression):
    """An aggregate of a statement that reads none of the statement's other aggregates.

    Django's ``aggregate()`` lets each aggregate read the ones before it: it rewrites
    every aggregate's whole tree against a map of all the earlier ones (a copy and a
    hash of every node, for each of a statement's hundreds of aggregates), for nothing
    here: the measures read rows, not each other. This keeps that rewrite to the one
    that matters (its columns, read from the fenced rows) and is the aggregate in
    everything else (its SQL, output field, converters).
    """

    def __init__(self, aggregate: Any):
        super().__init__()
        self.aggregate = aggregate

    def __repr__(self) -> str:
        return f"Alone({self.aggregate!r})"

    def get_source_expressions(self) -> list[Any]:
        return [self.aggregate]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        (self.aggregate,) = exprs

    def replace_expressions(self, replacements):  # noqa: ANN001, ANN201
        # The map of the aggregates before this one (its keys are references to
        # aggregates, the latest last): none of them is in this one's tree.
        if replacements:
            latest = next(reversed(replacements))
            if isinstance(latest, Ref) and getattr(latest.source, "contains_aggregate", False):
                return self
        return super().replace_expressions(replacements)

    @property
    def output_field(self):  # noqa: ANN201
        return self.aggregate.output_field

    @property
    def empty_result_set_value(self):  # noqa: ANN201
        return self.aggregate.empty_result_set_value

    def get_db_converters(self, connection):  # noqa: ANN001, ANN201
        return self.aggregate.get_db_converters(connection)

    def as_sql(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        return compiler.compile(self.aggregate)


@dataclass
class Pending:
    """One source's aggregate, built but not run: ``finish(row)`` splits its row into
    results. A series (``series.compute_series``) runs many buckets' in one statement."""

    queryset: QuerySet
    aggregates: dict[str, Aggregate]
    finish: Callable[[dict[str, Any]], list[dict[str, dict[str, Any]]]]


def pending_by_group(
    ctx: Context,
    source: Source,
    cohorts: list[str],
    measures: list[Measure],
    groups: list[Context] | None = None,
    *,
    copies: bool = False,
    split: QuerySet | None = None,
) -> Pending:
    """The aggregate of ``by_group``, unrun.

    ``ctx`` is then the union of the groups (its rows hold every group's rows); each
    group's rows are marked by a flag column (``source.group_q`` of the group, computed
    once per row inside the fence, also a ``cohort_once`` source's; repeated in each
    aggregate of an unfenced source) and
    each measure is a conditional aggregate per
    group and cohort, its rule read from the group's own context. Without ``groups``:
    ``ctx`` alone, one result. ``copies``: the groups past the first two that differ only
    by their key (one program, one tier) reuse the first group's compiled SQL with their
    own key (``GroupCopy``): Django builds two groups' aggregate trees, not one per group.
    ``split``: the union's rows from ``source.split_rows``, each group's kept by
    ``source.split_q``.
    """
    assert source.rows is not None
    # Groups of other periods (a series' buckets): each reads its cohorts as of its own end.
    periods = groups is not None and any(g.period != ctx.period for g in groups)
    once = source.cohort_once and not source.targeted and not periods
    if source.targeted or once:
        flag = source.targeted or COHORT_FLAG
        flagged = {
            Cohort.ABM: Q(**{flag: True}),
            Cohort.NON_ABM: Q(**{flag: False}),
            Cohort.ALL: Q(),
        }
        conditions = {cohort: flagged[cohort] for cohort in cohorts}
    else:
        conditions = {cohort: ctx.cohort_q(cohort, source.prefix) for cohort in cohorts}
    derived = _derived(source, cohorts)
    computed = [c for c in cohorts if not (derived and c == Cohort.ALL)]
    assert not (periods and source.targeted), f"{source!r} cannot group periods"
    narrowed = Q()
    if len(cohorts) == 1 and not any(m.whole for m in measures) and not periods:
        narrowed, conditions[cohorts[0]] = conditions[cohorts[0]], Q()
    members: list[tuple[Context, Q | None]] = [(ctx, None)]
    flags: dict[str, Any] = {}
    # Buckets whose filters keep other accounts than the union's (a tier as of each end, a
    # program touched by then; the union's are ``period_free``): each bucket's rows, scope
    # and cohorts are flag columns of the fenced rows, each condition resolved and computed
    # once per bucket and row, not once per aggregate that reads it (``_period_flags``).
    scoped = periods and any(g.filters != ctx.filters for g in groups or ())
    every = False
    if groups is not None:
        members = []
        for i, group in enumerate(groups):  # the groups: a bounded list, not data rows
            if scoped:
                kept = _period_flags(source, group, i, computed, flags)
                # Q() keeps every row: so does the union then (``Q() | q`` would be ``q``).
                every = every or not kept
                narrowed = Q() if every else kept if i == 0 else narrowed | kept
                members.append((group, Q(**{f"group_{i}": True})))
                continue
            if periods:
                assert source.period_q is not None and not source.fence
                # The union's filters select the same accounts in every bucket (the series
                # checks it): a bucket's rows are its period's.
                members.append((group, source.period_q(group)))
                continue
            if group.filters == ctx.filters:  # the union itself (a totals row): every row
                members.append((group, None))
                continue
            where = source.split_q(group) if split is not None else group_row_q(source, group)
            assert where is not None, f"{source!r} cannot split its rows by group"
            if not (source.fence or once):
                # Unfenced rows: the condition is repeated in each aggregate instead.
                members.append((group, where))
                continue
            # Fenced rows compute each group's flag once (an account's, once per account).
            flag = flag_column(where)
            flags[f"group_{i}"] = PerAccount(flag) if source.fence else flag
            members.append((group, Q(**{f"group_{i}": True})))
    # Each group's own cohorts: what its slices read (a tier slice no non-ABM figures when
    # only the cohort slices beside it do).
    own = [[c for c in computed if c in _own_cohorts(m, source, computed)] for m, _ in members]
    copied = _copied_members(members, flags) if copies and not periods else {}
    copied = {i: c for i, c in copied.items() if own[i] == own[c.template[0]] == own[c.template[1]]}
    aggregates: dict[str, Any] = {}
    for i, (member, group_q) in enumerate(members):
        for cohort in own[i]:
            if scoped:
                named = f"cohort_{i}_{cohort}"
                where = Q(**{named: True}) if named in flags else Q()
            else:
                where = member.cohort_q(cohort, source.prefix) if periods else conditions[cohort]
            for m in measures:
                if i in copied:
                    template = copied[i].template
                    if f"{template[0]}__{cohort}__{m.name}" in aggregates:
                        aggregates[f"{i}__{cohort}__{m.name}"] = copied[i].of(f"{cohort}__{m.name}")
                    continue
                expression = m.expression(member, where, group_q)
                if expression is not None:  # None: the source's ``after`` step computes it
                    aggregates[f"{i}__{cohort}__{m.name}"] = expression
    if split is not None:
        queryset = split
    elif source.prunes:
        names = referenced(narrowed, *conditions.values(), *aggregates.values()) - set(flags)
        queryset = source.rows(ctx, names - {COHORT_FLAG})
    else:
        queryset = source.rows(ctx)
    # Rolled up where each measure's condition repeats per group (a grouped pass): alone,
    # flagging every row and summing by the flags costs more than it saves (measured).
    rolls = once and source.rolls_up and len(members) > 1 and split is None and rollable(aggregates)
    if once:  # a column of the rolled-up rows' groups, else an alias the FILTERs read
        cohort = {COHORT_FLAG: ctx.targeted(source.prefix)}
        queryset = queryset.annotate(**cohort) if rolls else queryset.alias(**cohort)
    queryset = queryset.filter(narrowed)
    if flags:
        queryset = queryset.annotate(**flags)
    if rolls:
        flagged = {*flags, COHORT_FLAG}
        queryset, aggregates = roll_up(queryset, aggregates, flagged, source.roll_columns)
    elif source.fence or once or scoped:
        if once and len(members) > 1:  # each measure's condition once per row, not per group
            queryset, aggregates = flag_conditions(queryset, aggregates, {*flags, COHORT_FLAG})
        # No model ordering inside the fence: it would sort every row for nothing.
        queryset = queryset.order_by()[:_FENCE]

    def finish(row: dict[str, Any]) -> list[dict[str, dict[str, Any]]]:
        return results_of(row, len(members), cohorts, measures, derived)

    return Pending(queryset, aggregates, finish)


def _own_cohorts(group: Context, source: Source, cohorts: list[str]) -> set[str]:
    """The cohorts of ``cohorts`` that ``group``'s own plan reads from ``source`` (all of them
    where it plans none), with the ABM and non-ABM ones its derived all-accounts needs."""
    planned = group.plan.get(source)
    if planned is None:
        return set(cohorts)
    wanted = set(planned.cohorts)
    if Cohort.ALL in wanted and Cohort.ALL not in cohorts:  # derived: ABM plus non-ABM
        wanted |= {Cohort.ABM, Cohort.NON_ABM}
    return wanted & set(cohorts)


def _period_flags(
    source: Source, bucket: Context, i: int, cohorts: list[str], flags: dict[str, Any]
) -> Q:
    """Adds bucket ``i``'s flag columns to ``flags``: ``group_{i}`` (its period's rows of
    its scope's accounts) and ``cohort_{i}_<cohort>`` (its cohorts as of its end; none for
    all accounts). Returns the condition of its rows (the union's rows: some bucket's)."""
    assert source.period_q is not None and not source.fence
    if source.group_q is not None:
        scope = source.group_q(bucket)
    else:
        scope = bucket.scope_q(source.prefix, shared=True)
    assert scope is not None, f"{source!r} cannot split its rows by scope"
    kept = source.period_q(bucket) & scope
    flags[f"group_{i}"] = flag_column(kept)
    for cohort in cohorts:
        where = bucket.cohort_q(cohort, source.prefix)
        if where:
            flags[f"cohort_{i}_{cohort}"] = flag_column(where)
    return kept


#: The SQL aggregates ``flagged_totals`` takes (by name: they are written into its SQL).
TOTALS = frozenset({"SUM", "COUNT"})


def flagged_totals(
    rows: QuerySet,
    by: list[str],
    members: list[Q],
    cohorts: dict[str, Q],
    totals: dict[str, tuple[str, str]],
) -> list[dict[str, Any]]:
    """Totals of ``rows`` by their columns ``by`` for each member (a group's condition) and
    cohort, in one statement: one dict per distinct ``by``, its totals named
    ``f"{i}__{cohort}__{name}"``. ``totals``: name -> (``TOTALS`` aggregate, column or "*").

    Each member's and cohort's condition is a flag column of the fenced rows, computed
    once per row, and so is any annotation of ``rows`` (a correlated subquery's value).
    Grouped and aggregated by Django, each total would repeat them: the nightly snapshots'
    stage changes looked each change's previous change up 48 times, once per total.
    """
    unknown = {function for function, _ in totals.values()} - TOTALS
    if unknown:  # written into the SQL: only the known aggregates, never a caller's text
        raise ValueError(f"flagged_totals takes {sorted(TOTALS)}, not {sorted(unknown)}")
    flags = {f"group_{i}": flag_column(where) for i, where in enumerate(members)}
    flags |= {f"cohort_{c}": flag_column(where) for c, where in cohorts.items()}
    read = dict.fromkeys(column for _, column in totals.values() if column != "*")
    fenced = rows.annotate(**flags).order_by().values(*by, *read, *flags)[:_FENCE]
    db = connections[fenced.db]
    quote = db.ops.quote_name
    selected, names = [quote(column) for column in by], list(by)
    for i in range(len(members)):  # the groups and cohorts: bounded lists, not data rows
        for cohort in cohorts:
            where = f"{quote(f'group_{i}')} AND {quote(f'cohort_{cohort}')}"
            for name, (function, column) in totals.items():
                operand = "*" if column == "*" else quote(column)
                selected.append(f"{function}({operand}) FILTER (WHERE {where})")
                names.append(f"{i}__{cohort}__{name}")
    grouped = f" GROUP BY {', '.join(quote(column) for column in by)}" if by else ""
    with shared_sets(fenced.db):  # each member's set once
        inner, params = fenced.query.sql_with_params()
        # Quoted identifiers, ``TOTALS`` and Django's compiled SQL: every value a parameter.
        sql = f"SELECT {', '.join(selected)} FROM ({inner}) AS {quote('rows')}{grouped}"  # noqa: S608
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def results_of(
    row: dict[str, Any], count: int, cohorts: list[str], measures: list[Measure], derived: bool
) -> list[dict[str, dict[str, Any]]]:
    """The ``count`` groups' results of one aggregate row keyed ``<group>__<cohort>__<name>``;
    with ``derived``, each group's all-accounts cohort is its ABM plus its non-ABM (a whole
    measure ignores the cohort: its ABM-side value is already the whole)."""
    results: list[dict[str, dict[str, Any]]] = [{c: {} for c in cohorts} for _ in range(count)]
    for key, value in row.items():
        i, cohort, name = key.split("__", 2)
        results[int(i)][cohort][name] = value
    if derived:
        wholes = {m.name for m in measures if m.whole}
        for result in results:
            abm, non_abm = result[Cohort.ABM], result[Cohort.NON_ABM]
            if abm.keys() != non_abm.keys():  # a group that does not read its all-accounts
                continue
            result[Cohort.ALL] = {
                name: abm[name] if name in wholes else _plus(abm[name], non_abm[name])
                for name in abm
            }
    return results


def group_row_q(source: Source, group: Context) -> Q | None:
    """The condition that keeps ``group``'s rows of ``source`` among the union's rows. Of a
    fenced source, each group's flag is computed once per row: its sets (a tier's accounts,
    a program's) are shared, not a lookup per account and tier or a scan per program."""
    if source.group_q is not None:
        return source.group_q(group)
    return group.scope_q(source.prefix, shared=source.fence)


def referenced(*nodes: Any) -> set[str]:
    """The names (first lookup segment) that these Q objects and expressions refer to.

    How a pruning source learns which of its annotations a request reads: from the
    very expressions it will aggregate, so a measure cannot forget to declare one.
    """
    names: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, Q):
            for child in node.children:
                if isinstance(child, tuple):
                    names.add(child[0].split(LOOKUP_SEP, 1)[0])
                    stack.append(child[1])
                else:
                    stack.append(child)
        elif isinstance(node, F):
            names.add(node.name.split(LOOKUP_SEP, 1)[0])
        elif hasattr(node, "get_source_expressions"):
            stack.extend(node.get_source_expressions())
            stack.append(getattr(node, "filter", None))
    return names


def _plus(a: Any, b: Any) -> Any:
    """``a + b`` where a missing (NULL) sum counts as nothing, and two stay missing."""
    if a is None:
        return b
    return a if b is None else a + b
