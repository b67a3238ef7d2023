"""Live trends: the KPIs of consecutive weeks or months, in one statement per source.

``compute_series(period, filters, ids, bucket="week")`` returns, for each bucket (7-day
windows, or calendar months, ending at ``period.end`` and covering the period), exactly
what ``compute(bucket_period, filters, ids)`` returns. It plans once (``engine._plan``)
and runs each source once for all the buckets: the number of queries depends on the
sources the KPIs read, never on the number of buckets.

Touches, visitors, NPS responses and opportunities are one grouped pass
(``measures.by_group`` over the rows of the whole span, each bucket's measures
conditional on its rows, ``Source.period_q``, and its cohorts as of its own end) when
the filters keep the same accounts in every bucket. Account facts are one pass over the
accounts, each bucket's facts columns of their own (``_by_period``), and under a tier or
program filter (other accounts in each bucket) each bucket's scope a flag column too.
Rows of a tier or program filter's other sources depend on the bucket (``_groups_periods``
says why they are not one pass yet): then
each bucket's aggregate is built the way ``compute`` builds it
(``measures.pending_by_group``) and they run as one ``UNION ALL`` statement tagged by
bucket, the buckets' own queries side by side in one round trip. Runner sources (spend,
tiers, stage changes) are not one aggregate: their KPIs are refused here
(``SeriesUnavailable``) rather than queried once per bucket.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Q
from django.db.models.constants import LOOKUP_SEP

from abm_site.db import shared_sets
from funnel.choices import Cohort
from funnel.definitions import definitions_mark_used, definitions_resolve
from funnel.models import DefinitionsVersion

from . import version
from .base import Filters, KpiSpec, Period
from .context import Context
from .engine import (
    _cache_get_many,
    _cache_key,
    _cacheable,
    _items,
    _plan,
    _specs,
    computed_in_snapshot,
    definitions_echo,
    filters_echo,
)
from .measures import (
    _FENCE,
    Pending,
    Source,
    by_group,
    pending_by_group,
    referenced,
    results_of,
)
from .scope import period_free
from .sources.accounts import SCOPED

Bucket = Literal["week", "month"]
BUCKETS: tuple[str, ...] = ("week", "month")
#: The most buckets one series holds: a year of weeks, two years of months.
MAX_BUCKETS = {"week": 53, "month": 24}


class SeriesUnavailable(ValueError):
    """A KPI whose value is not one aggregate per bucket (a map, or a runner source)."""

    def __init__(self, kpi_id: str, why: str):
        super().__init__(f"KPI {kpi_id!r} has no live series: {why}.")
        self.kpi_id = kpi_id


def buckets(period: Period, bucket: Bucket, count: int | None = None) -> list[Period]:
    """Consecutive buckets ending at ``period.end`` that cover ``period``, oldest first.

    Weeks are 7-day windows ending on ``period.end`` (and every 7 days before); months
    are calendar months, the last one ending on ``period.end``. ``count`` buckets when
    given, else as many as cover the period; at most ``MAX_BUCKETS[bucket]``.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)} (got {bucket!r}).")
    cap = MAX_BUCKETS[bucket]
    found: list[Period] = []
    end = period.end
    while len(found) < cap and (len(found) < count if count else not found or end >= period.start):
        start = end - dt.timedelta(days=6) if bucket == "week" else end.replace(day=1)
        found.append(Period(start, end))
        end = start - dt.timedelta(days=1)
    return found[::-1]


def previous_buckets(period: Period, bucket: Bucket) -> list[Period]:
    """As many buckets as ``period``'s, just before its first: the previous period on the
    same grid (no overlap; for weeks, the same weekdays; for months, whole months)."""
    current = buckets(period, bucket)
    before = current[0].start - dt.timedelta(days=1)
    return buckets(Period(before, before), bucket, count=len(current))


def series_kpis(specs: list[KpiSpec]) -> list[KpiSpec]:
    """The specs a series can compute: scalar values from aggregate sources."""
    return [s for s in specs if _refusal(s) is None]


def _refusal(spec: KpiSpec) -> str | None:
    if spec.unit == "map":
        return "its value is a map, not a number"
    runners = sorted({m.source.name for m in spec.measures if m.source.runner is not None})
    if runners:
        return f"it reads the {', '.join(runners)} source, which is not one aggregate"
    return None


def compute_series(
    period: Period,
    filters: Filters,
    ids: Iterable[str] | None,
    bucket: Bucket = "week",
    definitions: DefinitionsVersion | int | str | None = None,
    *,
    previous: bool = False,
) -> dict[str, Any]:
    """``{"bucket", "points": [compute(b, filters, ids) for b in buckets]}``, in one pass.

    ``previous``: also ``"previous"``, the points of as many buckets just before (the
    previous period on the same grid, ``previous_buckets``), in the same statements (the
    chart's dashed line). Cached like ``compute`` on PostgreSQL in
    autocommit, under the data version and the definitions version. Raises
    ``SeriesUnavailable`` for a KPI without a series, ``UnknownKpi`` as ``compute`` does.
    """
    current = buckets(period, bucket)
    earlier = previous_buckets(period, bucket) if previous else []
    if _cacheable():
        ref = definitions.pk if isinstance(definitions, DefinitionsVersion) else definitions
        cached = _series_cached(period, filters, ids, bucket, ref, current, earlier)
        if cached is None and definitions is None:
            # No default version yet: resolving creates the shipped ones; then the cache.
            pk = definitions_resolve(None).pk
            cached = _series_cached(period, filters, ids, bucket, pk, current, earlier)
        if cached is not None:
            return cached
    rules = definitions_resolve(definitions)
    specs = _checked(_specs(ids, rules.generation))
    definitions_mark_used(rules)
    return _series(current, earlier, filters, specs, rules, bucket)


def _checked(specs: list[KpiSpec]) -> list[KpiSpec]:
    for spec in specs:  # the catalogue: a bounded list
        why = _refusal(spec)
        if why is not None:
            raise SeriesUnavailable(spec.id, why)
    return specs


def _series_cached(
    period: Period,
    filters: Filters,
    ids: Iterable[str] | None,
    bucket: Bucket,
    definitions: int | str | None,
    current: list[Period],
    earlier: list[Period],
) -> dict[str, Any] | None:
    """As ``engine._compute_cached``: one read-only snapshot, keyed by the data version."""
    found = version.data_version_and_definitions(definitions)
    if found is None:
        return None
    data, ref = found
    specs = _checked(_specs(ids, ref.generation))
    scope = ("series", bucket, period, bool(earlier))
    key = _cache_key(scope, filters, specs, data, ref)  # type: ignore[arg-type]
    hits = _cache_get_many([key])
    if key in hits:
        return hits[key]
    return computed_in_snapshot(
        ref.pk,
        lambda data, ref: _cache_key(scope, filters, specs, data, ref),  # type: ignore[arg-type]
        lambda rules: _series(current, earlier, filters, specs, rules, bucket),
    )


def _series(
    current: list[Period],
    earlier: list[Period],
    filters: Filters,
    specs: list[KpiSpec],
    rules: DefinitionsVersion,
    bucket: Bucket,
) -> dict[str, Any]:
    plan = _plan(specs, filters)
    periods = [*current, *earlier]
    read: dict[str, Any] = {}  # the database's parameters (patterns), read once for all
    contexts = [Context(p, filters, plan, rules, shared=read) for p in periods]
    for ctx in contexts:  # the buckets: a bounded list (MAX_BUCKETS)
        ctx.series = tuple(periods)
    for source, planned in plan.items():  # the sources: a fixed list, not data rows
        cohorts = sorted(planned.cohorts)
        measures = sorted(planned.measures, key=lambda m: m.name)
        results = _run(source, contexts, cohorts, measures)
        for ctx, result in zip(contexts, results, strict=True):
            ctx._results[source] = result
    points = [_point(ctx, specs, filters, rules) for ctx in contexts]
    out: dict[str, Any] = {"bucket": bucket, "points": points[: len(current)]}
    if earlier:
        out["previous"] = points[len(current) :]
    return out


def _point(
    ctx: Context, specs: list[KpiSpec], filters: Filters, rules: DefinitionsVersion
) -> dict[str, Any]:
    """What ``compute`` returns for the bucket (``engine._compute``'s shape)."""
    return {
        "period": {"from": ctx.start.isoformat(), "to": ctx.end.isoformat()},
        "filters": filters_echo(filters),
        "definitions": definitions_echo(rules),
        "kpis": _items(specs, ctx, filters),
    }


#: PostgreSQL's limit on a select list is 1,664 columns: a grouped pass has one per bucket,
#: cohort and measure (a whole catalogue of 26 weeks runs its buckets side by side instead).
MAX_COLUMNS = 1500


def _groups_periods(source: Source, ctx: Context) -> bool:
    """Whether one pass over the rows of the whole span can give every bucket its result.

    The source must say which rows a period keeps (``period_q``) and its rows must not be
    account facts of the period. Under a tier (as of the period end) or a program (touched
    by then) filter, whose accounts differ by bucket, the union's rows are those of
    ``period_free`` filters and each bucket's period, scope and cohorts are flag columns of
    the fenced rows (``measures._period_flags``), each resolved and computed once per
    bucket, unless the source runs its buckets side by side then (``Source.scoped_periods``).
    (Each bucket's scope as a subquery in each of its aggregates gave the same numbers but
    was slower than side by side: #18, Django resolved and compiled it once per aggregate,
    a thousand times.)
    """
    return (
        source.period_q is not None
        and not source.fence
        and not source.targeted
        and (source.scoped_periods or ctx.filters == period_free(ctx.filters))
    )


def _groups_facts(source: Source, filters: Filters) -> bool:
    """Whether one pass over the accounts can carry every bucket's account facts as columns
    of its own (``Source.period_rows``); under a tier or program filter each bucket's scope
    is a flag column of its own (``period_fact("scoped", i)``)."""
    return source.period_rows is not None


def _by_period(
    source: Source, contexts: list[Context], cohorts: list[str], measures: list
) -> list[dict[str, dict[str, Any]]] | None:
    """Every bucket's result of a source of account facts, in one pass over the accounts
    (None when its columns would exceed ``MAX_COLUMNS``, or the source says one pass costs
    more, ``Source.period_rows``: then side by side).

    Each bucket's measures are built as ``compute`` builds them (``Measure.expression`` on
    the bucket's own context), then pointed at that bucket's facts (``_relabel``): the
    statement holds one column per bucket and fact, one aggregate per bucket, cohort and
    measure, the same arithmetic as each bucket's own statement.
    """
    assert source.period_rows is not None and source.period_fact is not None
    flag = source.targeted
    assert flag, f"{source!r}: account facts carry the cohort flag"
    derived = {Cohort.ABM, Cohort.NON_ABM, Cohort.ALL} <= set(cohorts)
    computed = [c for c in cohorts if not (derived and c == Cohort.ALL)]
    conditions = {Cohort.ABM: Q(**{flag: True}), Cohort.NON_ABM: Q(**{flag: False})}
    # Under a tier or program filter each bucket's accounts are its own scope's: a flag
    # column per bucket (``SCOPED``), a group condition (whole measures test it too).
    filters = contexts[0].filters
    scoped = Q(**{SCOPED: True}) if filters != period_free(filters) else None
    built: dict[str, tuple[int, Any]] = {}
    for i, ctx in enumerate(_sharing(contexts, measures)):  # the buckets (MAX_BUCKETS)
        for cohort in computed:
            for m in measures:
                expression = m.expression(ctx, conditions.get(cohort, Q()), scoped)
                if expression is not None:  # None: the source's ``after`` step computes it
                    built[f"{i}__{cohort}__{m.name}"] = (i, expression)
    names = referenced(Q(**{flag: True}), *(e for _, e in built.values())) - {SCOPED}
    if len(names) * len(contexts) > MAX_COLUMNS:  # a column per bucket and fact
        return None
    queryset = source.period_rows(contexts, names)
    if queryset is None:
        return None
    columns = set(queryset.query.annotations)
    renames = [
        {
            n: source.period_fact(n, i)
            for n in (*names, SCOPED)
            if source.period_fact(n, i) in columns
        }
        for i in range(len(contexts))
    ]
    aggregates = {key: _relabel(e, renames[i]) for key, (i, e) in built.items()}
    queryset = queryset.order_by()[:_FENCE] if source.fence else queryset
    with shared_sets(queryset.db):  # each InShared set once per statement
        row = queryset.aggregate(**aggregates) if aggregates else {}
    return results_of(row, len(contexts), cohorts, measures, derived)


def _relabel(node: Any, names: dict[str, str]) -> Any:
    """``node`` (a ``Q`` or an expression) with its references to the facts ``names`` renamed
    (``engaged_n`` to ``p3_engaged_n``): a bucket's measure read from its own columns."""
    if isinstance(node, Q):
        renamed = copy.copy(node)
        renamed.children = [
            (_head(child[0], names), _relabel(child[1], names))
            if isinstance(child, tuple)
            else _relabel(child, names)
            for child in node.children
        ]
        return renamed
    if type(node) is F:  # not OuterRef: it names the outer query's columns
        return F(_head(node.name, names))
    if hasattr(node, "get_source_expressions"):
        sources = node.get_source_expressions()
        relabelled = [_relabel(e, names) for e in sources]
        if any(a is not b for a, b in zip(sources, relabelled, strict=True)):
            node = node.copy()
            node.set_source_expressions(relabelled)
    return node


def _head(lookup: str, names: dict[str, str]) -> str:
    head, sep, rest = lookup.partition(LOOKUP_SEP)
    return f"{names[head]}{sep}{rest}" if head in names else lookup


def _run(
    source: Source, contexts: list[Context], cohorts: list[str], measures: list
) -> list[dict[str, dict[str, Any]]]:
    """Every bucket's result of ``source`` in one statement: one grouped pass over the
    span's rows, each bucket's measures conditional on its rows (``_groups_periods``),
    else the buckets' own aggregates side by side."""
    assert source.runner is None, f"{source!r} is a runner ({_refusal.__doc__})"
    first = contexts[0]
    columns = len(contexts) * len(cohorts) * len(measures)
    if _groups_periods(source, first) and columns <= MAX_COLUMNS:
        span = Period(min(c.start for c in contexts), max(c.end for c in contexts))
        union = Context(span, period_free(first.filters), first.plan, first.definitions)
        results = by_group(union, source, cohorts, measures, _sharing(contexts, measures))
        if source.after is not None:
            for ctx, result in zip(contexts, results, strict=True):
                source.after(ctx, cohorts, measures, result)
        return results
    results = None
    if _groups_facts(source, first.filters) and columns <= MAX_COLUMNS:
        results = _by_period(source, contexts, cohorts, measures)
    if results is not None:
        if source.after is not None:
            for ctx, result in zip(contexts, results, strict=True):
                source.after(ctx, cohorts, measures, result)
        return results
    pending = [pending_by_group(contexts[0], source, cohorts, measures)]
    if "patterns" in contexts[0].__dict__:  # read from the database once, not per bucket
        for ctx in contexts[1:]:
            ctx.__dict__["patterns"] = contexts[0].__dict__["patterns"]
    pending += [pending_by_group(ctx, source, cohorts, measures) for ctx in contexts[1:]]
    rows = run_together(pending)
    results = [p.finish(row)[0] for p, row in zip(pending, rows, strict=True)]
    if source.after is not None:
        for ctx, result in zip(contexts, results, strict=True):
            source.after(ctx, cohorts, measures, result)
    return results


def _sharing(contexts: list[Context], measures: list) -> list[Context]:
    """``contexts``, reading the database's parameters (high-value page patterns) once: the
    first bucket's measures are built (not run) to learn whether they read them."""
    for m in measures:  # the measures of one source: a fixed list
        if m.aggregate is not None or hasattr(m, "where"):
            m.expression(contexts[0], Q())
    if "patterns" in contexts[0].__dict__:
        for ctx in contexts[1:]:  # the buckets: a bounded list (MAX_BUCKETS)
            ctx.__dict__["patterns"] = contexts[0].__dict__["patterns"]
    return contexts


# --- many aggregates, one statement ------------------------------------------------------


class _Capture:
    """Makes ``Query.get_aggregation`` build its compiler but not run it (kept in ``.compiler``).

    Django builds an aggregate's SQL and its value converters inside ``get_aggregation``;
    this borrows them for one call, on this thread's connection only, so the statement is
    exactly the one ``QuerySet.aggregate`` would run.
    """

    _classes: dict[type, type] = {}

    def __init__(self, alias: str):
        self.ops = connections[alias].ops
        self.compiler: Any = None

    def __enter__(self) -> _Capture:
        original = type(self.ops).compiler.__get__(self.ops)
        capture = self

        def compiler(name: str) -> type:
            base = original(name)
            if base not in _Capture._classes:

                def execute_sql(self: Any, *args: Any, **kwargs: Any) -> None:
                    _Capture.current.compiler = self
                    return None

                _Capture._classes[base] = type(
                    f"Capturing{base.__name__}", (base,), {"execute_sql": execute_sql}
                )
            return _Capture._classes[base]

        _Capture.current = capture
        self.ops.compiler = compiler
        return self

    def __exit__(self, *exc: Any) -> None:
        del self.ops.compiler

    current: _Capture


def run_together(pending: list[Pending]) -> list[dict[str, Any]]:
    """The row ``queryset.aggregate(**aggregates)`` of each of ``pending``, in one statement.

    Each aggregate's SQL is built by Django as ``aggregate`` builds it, then the selects
    are joined by ``UNION ALL``, each tagged with its position; values go through the
    same converters. An aggregate over nothing (an empty ``IN ()``) needs no SQL.
    """
    rows: list[dict[str, Any] | None] = [None] * len(pending)
    parts: list[tuple[int, str, list[Any], Any]] = []
    for i, p in enumerate(pending):  # the buckets: a bounded list (MAX_BUCKETS)
        if not p.aggregates:
            rows[i] = {}
            continue
        with _Capture(p.queryset.db) as capture:
            empty = p.queryset.query.chain().get_aggregation(p.queryset.db, p.aggregates)
        compiler = capture.compiler
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            rows[i] = empty
            continue
        parts.append((i, sql, list(params), compiler))
    if parts:
        # Django's own SQL with its placeholders, tagged by an integer: nothing user-given.
        statement = " UNION ALL ".join(
            f"SELECT {i} AS series_bucket, q{i}.* FROM ({sql}) q{i}"  # noqa: S608
            for i, sql, _, _ in parts
        )
        params = [v for _, _, part, _ in parts for v in part]
        compilers = {i: compiler for i, _, _, compiler in parts}
        db = pending[parts[0][0]].queryset.db
        with connections[db].cursor() as cursor:
            cursor.execute(statement, params)
            fetched = cursor.fetchall()
        for raw in fetched:  # one row per bucket
            i, values = raw[0], raw[1:]
            compiler = compilers[i]
            cols = list(compiler.query.annotation_select.values())
            converted = next(compiler.apply_converters([values], compiler.get_converters(cols)))
            rows[i] = dict(zip(compiler.query.annotation_select, converted, strict=True))
    assert all(row is not None for row in rows), "a bucket's aggregate returned no row"
    return rows  # type: ignore[return-value]


#: The catalogue fields of an item: the same in every point, so a series names them once.
_CATALOGUE_FIELDS = ("id", "stage", "label", "unit", "kind", "r", "definition", "cohort")


def kpi_series(result: dict[str, Any], kpi_id: str, key: str = "points") -> list[dict[str, Any]]:
    """One KPI's points of a ``compute_series`` result: ``{"from", "to", "value", ...}`` each
    (the item's value and its parts, without the catalogue fields)."""
    points = []
    for point in result.get(key, []):  # the buckets: a bounded list
        item = next(i for i in point["kpis"] if i["id"] == kpi_id)
        points.append(
            {
                "from": point["period"]["from"],
                "to": point["period"]["to"],
                **{k: v for k, v in item.items() if k not in _CATALOGUE_FIELDS},
            }
        )
    return points
