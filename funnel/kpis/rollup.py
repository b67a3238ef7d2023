"""Rolled-up rows: a source's many rows summed by the flags its aggregates test, first.

A grouped pass over touches (the nightly snapshots: all, the cohorts, the tiers and the
programs) makes about two hundred conditional sums, each testing its group's flag, its
cohort's and its measure's own condition (a kind, content, a high-value URL pattern) on
every one of the period's touches: the measures' conditions are evaluated once per
group and cohort, the URL patterns' LIKE among them. Rolled up, each row computes each
measure's condition once, as a flag column; the rows are summed by their flags (a few
hundred combinations, however many touches), and the aggregates sum those sums. The
figures are the same sums, added in another order.

Only sums and plain counts roll up (a count is the sum of each combination's count);
any other aggregate (a distinct count, a maximum) keeps the statement as it was.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum

from abm_site.db import flag_column

from .copies import GroupCopy


def rollable(aggregates: dict[str, Any]) -> bool:
    """Every aggregate is a sum or a plain count (a group copy: its template's kind), with
    no default of its own (which a sum of sums would not keep)."""
    return bool(aggregates) and all(
        isinstance(a, GroupCopy)
        or (type(a) in (Sum, Count) and not a.distinct and a.default is None)
        for a in aggregates.values()
    )


def roll_up(
    queryset: QuerySet, aggregates: dict[str, Any], flags: set[str]
) -> tuple[QuerySet, dict[str, Any]]:
    """``queryset``'s rows summed by their flags, and ``aggregates`` rewritten over them.

    ``flags`` are the boolean columns ``queryset`` annotates (each group's, the cohort's):
    the conditions of an aggregate that read only those stay in its FILTER; the rest of
    its condition (the measure's own) becomes a flag column of its own, one per distinct
    condition. Each distinct weight (a sum's expression, a count's) is summed per
    combination of the flags. ``rollable(aggregates)`` must hold.
    """
    owns: dict[Q, str] = {}  # a measure's own condition -> its flag column
    weights: dict[tuple[bool, Any], str] = {}  # (a count?, its expression) -> its column
    rolled: dict[str, Any] = {}
    for alias, aggregate in aggregates.items():  # the statement's aggregates, not rows
        if isinstance(aggregate, GroupCopy):  # compiled from its (rolled) template
            rolled[alias] = aggregate
            continue
        kept, own = _split(aggregate.filter, flags)
        if own:
            kept &= Q(**{owns.setdefault(own, f"rolled_m{len(owns)}"): True})
        counting = isinstance(aggregate, Count)
        (weight,) = aggregate.source_expressions
        column = weights.setdefault((counting, weight), f"rolled_w{len(weights)}")
        rolled[alias] = SumOfSums(F(column), filter=kept or None, count=counting)
    queryset = queryset.annotate(**{name: flag_column(own) for own, name in owns.items()})
    sums = {
        column: Count(weight) if counting else Sum(weight)
        for (counting, weight), column in weights.items()
    }
    rows = queryset.order_by().values(*sorted(flags), *owns.values()).annotate(**sums)
    return rows, rolled


class SumOfSums(Sum):
    """The sum of a rolled-up column: of sums, or of counts (``count``: 0 where no row is,
    as a count of no rows is). Its output field is the column's, so a sum of integers
    (numeric in PostgreSQL, a sum of bigints) is read as an integer, as before."""

    def __init__(self, *expressions: Any, count: bool = False, **extra: Any):
        super().__init__(*expressions, **extra)
        self.count = count

    def as_sql(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        sql, params = super().as_sql(compiler, connection, **extra)
        return (f"COALESCE({sql}, 0)" if self.count else sql), params


def _split(where: Q | None, flags: set[str]) -> tuple[Q, Q]:
    """``where`` as (its conjuncts that read only ``flags``, the rest)."""
    from .measures import referenced

    if not where:
        return Q(), Q()
    conjuncts = where.children if where.connector == Q.AND and not where.negated else [where]
    kept, own = Q(), Q()
    for child in conjuncts:  # one condition's few conjuncts
        part = child if isinstance(child, Q) else Q(child)
        if referenced(part) <= flags:
            kept &= part
        else:
            own &= part
    return kept, own
