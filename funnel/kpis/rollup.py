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

Columns of few values (a touch's kind and funnel position, ``Source.roll_columns``) are
kept as they are in the rolled rows: a condition on them alone (a kind) is tested in the
aggregates' FILTERs over the few rolled rows, not computed as a flag of every touch (the
snapshots' touches statement 0.87x at 2,000 accounts).
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
    queryset: QuerySet, aggregates: dict[str, Any], flags: set[str], columns: tuple[str, ...] = ()
) -> tuple[QuerySet, dict[str, Any]]:
    """``queryset``'s rows summed by their flags, and ``aggregates`` rewritten over them.

    ``flags`` are the boolean columns ``queryset`` annotates (each group's, the cohort's):
    the conditions of an aggregate that read only those stay in its FILTER; the rest of
    its condition (the measure's own) becomes a flag column of its own, one per distinct
    condition. Each distinct weight (a sum's expression, a count's) is summed per
    combination of the flags. ``rollable(aggregates)`` must hold.
    """
    # A renamed column's lookups keep their NULL handling only where there is no NULL.
    if nullable := [c for c in columns if queryset.model._meta.get_field(c).null]:
        raise ValueError(f"Rolled-up columns must be NOT NULL: {', '.join(nullable)}.")
    owns: dict[Q, str] = {}  # a measure's own condition -> its flag column
    weights: dict[tuple[bool, Any], str] = {}  # (a count?, its expression) -> its column
    rolled: dict[str, Any] = {}
    for alias, aggregate in aggregates.items():  # the statement's aggregates, not rows
        if isinstance(aggregate, GroupCopy):  # compiled from its (rolled) template
            rolled[alias] = aggregate
            continue
        kept, own = _split(aggregate.filter, flags, set(columns))
        kept = _renamed(kept, columns)
        if own:
            kept &= Q(**{owns.setdefault(own, f"rolled_m{len(owns)}"): True})
        counting = isinstance(aggregate, Count)
        (weight,) = aggregate.source_expressions
        column = weights.setdefault((counting, weight), f"rolled_w{len(weights)}")
        rolled[alias] = SumOfSums(F(column), filter=kept or None, count=counting)
    queryset = queryset.annotate(
        **{_ROLLED + c: F(c) for c in columns},
        **{name: flag_column(own) for own, name in owns.items()},
    )
    sums = {
        column: Count(weight) if counting else Sum(weight)
        for (counting, weight), column in weights.items()
    }
    kept_columns = [_ROLLED + c for c in columns]
    rows = queryset.order_by().values(*sorted(flags), *kept_columns, *owns.values())
    return rows.annotate(**sums), rolled


def flag_conditions(
    queryset: QuerySet, aggregates: dict[str, Any], flags: set[str]
) -> tuple[QuerySet, dict[str, Any]]:
    """``aggregates`` over ``queryset``'s rows with each measure's own condition that several
    groups' aggregates repeat a flag column of the rows, computed once per row (``queryset``
    is then fenced by the caller), not in each group's and cohort's aggregate. Any
    aggregate (a median too): only its FILTER changes. A condition of one group's own (a
    program's accounts) stays in its aggregates, which group copies then still match; so
    does a conjunct on the rows' own annotations (a window, an ``Exists``): a flag beside
    them would compute their SQL again, where the aggregates read their columns."""
    from .measures import referenced

    computed = set(queryset.query.annotations)
    split: dict[str, tuple[Q, Q]] = {}  # alias -> (what its FILTER keeps, its own condition)
    groups: dict[Q, set[str]] = {}
    for alias, aggregate in aggregates.items():  # the statement's aggregates, not rows
        if isinstance(aggregate, GroupCopy) or not getattr(aggregate, "filter", None):
            continue
        kept, rest = _split(aggregate.filter, flags)
        inline, own = Q(), Q()
        for part in _conjuncts(rest):
            if referenced(part) & computed:
                inline &= part
            else:
                own &= part
        split[alias] = (kept & inline, own)
        if own:
            groups.setdefault(own, set()).add(alias.split("__", 1)[0])
    owns: dict[Q, str] = {}
    flagged: dict[str, Any] = {}
    for alias, aggregate in aggregates.items():
        kept, own = split.get(alias, (Q(), Q()))
        if not own or len(groups[own]) < 2:
            flagged[alias] = aggregate
            continue
        copy = aggregate.copy()
        copy.filter = kept & Q(**{owns.setdefault(own, f"own_m{len(owns)}"): True})
        flagged[alias] = copy
    queryset = queryset.annotate(**{name: flag_column(own) for own, name in owns.items()})
    return queryset, flagged


#: The prefix of a column the rolled rows keep as it is (``columns``).
_ROLLED = "rolled_c_"


def _renamed(where: Q, columns: tuple[str, ...]) -> Q:
    """``where`` reading the rolled rows' copies of ``columns``."""
    renamed = Q(_connector=where.connector, _negated=where.negated)
    for child in where.children:  # a condition's few conjuncts
        if isinstance(child, Q):
            renamed.children.append(_renamed(child, columns))
        elif child[0].split("__", 1)[0] in columns:
            renamed.children.append((_ROLLED + child[0], child[1]))
        else:
            renamed.children.append(child)
    return renamed


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


def _split(where: Q | None, flags: set[str], columns: set[str] = frozenset()) -> tuple[Q, Q]:
    """``where`` as (its conjuncts that read only ``flags`` and ``columns``, the rest); a
    conjunct reading ``columns`` is kept only if it is plain lookups (``_renamed``)."""
    from .measures import referenced

    kept, own = Q(), Q()
    for part in _conjuncts(where):
        names = referenced(part)
        if names <= flags or (names <= flags | columns and _plain(part)):
            kept &= part
        else:
            own &= part
    return kept, own


def _conjuncts(where: Q | None) -> list[Q]:
    """``where``'s conjuncts, each a Q (one condition's few: not rows)."""
    if not where:
        return []
    children = where.children if where.connector == Q.AND and not where.negated else [where]
    return [child if isinstance(child, Q) else Q(child) for child in children]


def _plain(where: Q) -> bool:
    """Only lookups of names (field, value), nested: what ``_renamed`` can rename."""
    return all(
        _plain(child) if isinstance(child, Q) else isinstance(child, tuple)
        for child in where.children
    )
