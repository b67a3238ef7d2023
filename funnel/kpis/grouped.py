"""Grouped computation: the KPIs of many groups (each program, each tier) in one pass per source.

``compute_grouped(period, filters, by="program", keys=[...])`` returns, per key,
exactly what ``compute(period, replace(filters, program=(key,)))`` returns, but
runs each source once for all the groups: the rows of the union of the groups
(``replace(filters, program=keys)``: a superset of every group's rows), each
row flagged with the groups it belongs to, every measure a conditional
aggregate per group and cohort. The query count is the same for 1 or 50
programs, except for the few sources that cannot be split by a row condition
(version 2's spend allocated to a tier or owner slice of different programs): those
run once per group. Attribution, a runner, credits the union's opportunities once
and sums each group's in the same statement (``attribution._run_grouped``).
Version 2's view-through under a program filter, whose look-back windows run over
each program's own touches, makes rows it can split (``Source.split_rows``: windows
partitioned by account and program) when each group is one program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from funnel.definitions import definitions_mark_used, definitions_resolve
from funnel.models import DefinitionsVersion

from . import version
from .base import Filters, Period
from .context import Context, Planned
from .engine import (
    _cache_get_many,
    _cache_key,
    _cache_set,
    _cacheable,
    _items,
    _plan,
    _specs,
    _subset,
    definitions_echo,
    filters_echo,
)
from .measures import Source, by_group, group_row_q
from .scope import program_pairs

#: What a grouped computation can group by: a filter that takes ids.
GROUP_BY = ("program", "tier")


def compute_grouped(
    period: Period,
    filters: Filters,
    by: str,
    keys: Sequence[int],
    ids: Iterable[str] | None = None,
    definitions: DefinitionsVersion | int | str | None = None,
    *,
    union: bool = False,
) -> dict[int | None, dict[str, Any]]:
    """Key -> ``compute(period, filters with by=(key,), ids, definitions)``, in one grouped pass.

    ``by`` is ``"program"`` or ``"tier"``; the other filters of ``filters`` apply to
    every group (its own ``by`` filter is replaced, as a per-group ``compute`` would).
    ``union``: also key None, the computation of all the keys at once (``by=keys``: the
    programs page's totals row), in the same pass.
    """
    if by not in GROUP_BY:
        raise ValueError(f"Group by one of {', '.join(GROUP_BY)} (got {by!r}).")
    keys = list(dict.fromkeys(int(k) for k in keys))
    if not keys:
        return {}
    return _computed(period, _members(filters, by, keys, union), ids, definitions)


def compute_slices(
    period: Period,
    slices: Sequence[Filters],
    ids: Iterable[str] | None = None,
    definitions: DefinitionsVersion | int | str | None = None,
) -> list[dict[str, Any]]:
    """``[compute(period, f, ids, definitions) for f in slices]`` in one grouped pass, for
    slices that differ only by their tier, program and cohort filters: the nightly
    snapshots' all, cohort and tier slices read the account rows once, each tier a flag of
    them, where they took a pass for all and the cohorts and another for the tiers.

    Slices that differ only by their cohort share one group: no source's rows depend on
    the cohort (each is a condition of its own, in an aggregate's FILTER or a runner's
    statement per cohort), so the group's results serve each of them.
    """
    slices = list(slices)
    if not slices:
        return []
    rest = {dataclasses.replace(f, cohort=None, **dict.fromkeys(GROUP_BY, ())) for f in slices}
    if len(rest) > 1:
        raise ValueError(
            "Slices computed together differ only by their tier, program and cohort filters; "
            "compute the others one by one."
        )
    results = _computed(period, dict(enumerate(slices)), ids, definitions)
    return [results[i] for i in range(len(slices))]


def _computed(
    period: Period,
    members: dict[Any, Filters],
    ids: Iterable[str] | None,
    definitions: DefinitionsVersion | int | str | None,
) -> dict[Any, dict[str, Any]]:
    """Key -> ``compute(period, members[key], ids, definitions)``: from the KPI cache where
    it serves, else in one grouped pass."""
    if _cacheable():
        ref = definitions.pk if isinstance(definitions, DefinitionsVersion) else definitions
        cached = _grouped_cached(period, members, ids, ref)
        if cached is None and definitions is None:
            cached = _grouped_cached(period, members, ids, definitions_resolve(None).pk)
        if cached is not None:
            return cached
    rules = definitions_resolve(definitions)
    specs = _specs(ids, rules.generation)
    definitions_mark_used(rules)
    return _grouped(period, members, specs, rules)


def _members(filters: Filters, by: str, keys: list[int], union: bool) -> dict[int | None, Filters]:
    """Key -> the filters of its group (None: the union of the keys, when asked for)."""
    members: dict[int | None, Filters] = {
        key: dataclasses.replace(filters, **{by: (key,)}) for key in keys
    }
    if union:
        members[None] = dataclasses.replace(filters, **{by: tuple(keys)})
    return members


def _grouped_cached(
    period: Period,
    members: dict[int | None, Filters],
    ids: Iterable[str] | None,
    definitions: int | str | None,
) -> dict[int | None, dict[str, Any]] | None:
    """The groups' results from (or into) the KPI cache, under the very keys ``compute``
    uses for each group's filters: a group ``compute`` cached (the cache warmer's) is
    served here and the other way round. One read-only snapshot, as in ``compute``; when
    any group is missing, all are computed in one grouped pass and stored."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        found = version.data_version_and_definitions(definitions)
        if found is None:
            return None
        data, ref = found
        specs = _specs(ids, ref.generation)
        whole_specs = _specs(None, ref.generation)
        wanted = {}
        for key, scoped in members.items():  # the groups: a bounded list, not data rows
            wanted[key] = (
                _cache_key(period, scoped, specs, data, ref),
                _cache_key(period, scoped, whole_specs, data, ref),
            )
        hits = _cache_get_many([k for pair in wanted.values() for k in pair])
        served = {}
        for key, (own, whole) in wanted.items():
            if own in hits:
                served[key] = hits[own]
            elif whole in hits:
                served[key] = _subset(hits[whole], specs)
        if len(served) == len(members):
            return served
        rules = DefinitionsVersion.objects.get(pk=ref.pk)
        results = _grouped(period, members, specs, rules)
    definitions_mark_used(rules)
    for key, result in results.items():
        _cache_set(wanted[key][0], result)
    return results


def _grouped(
    period: Period,
    members: dict[Any, Filters],
    specs: list,
    rules: DefinitionsVersion,
) -> dict[Any, dict[str, Any]]:
    # The groups: the members' filters without their cohort (members that differ only by
    # it share a group's results, read for their own cohort).
    bases = list(dict.fromkeys(dataclasses.replace(f, cohort=None) for f in members.values()))
    # The union of the groups: each filter holds every group's ids, or none where a group
    # has none (every row).
    united = dataclasses.replace(bases[0], **{name: _united(bases, name) for name in GROUP_BY})
    plans = {f: _plan(specs, f) for f in members.values()}
    # The union, which each source runs over, plans what any member reads; each group what
    # its own members read (a tier slice none of the cohort slices' other cohorts).
    plan = _merged(plans.values())
    group_plans = [
        _merged(own for f, own in plans.items() if dataclasses.replace(f, cohort=None) == base)
        for base in bases
    ]
    # One read of the database's parameters for every group (built in full or not).
    shared: dict[str, Any] = {}
    union = Context(period, united, plan, rules, shared=shared)
    groups = [
        Context(period, base, own, rules, shared=shared)
        for base, own in zip(bases, group_plans, strict=True)
    ]
    alone = len(bases) == 1 and bases[0] == united
    programs = () if alone else tuple(sorted({p for base in bases for p in base.program}))
    with program_pairs(period, programs, rules.generation) as pairs_set:
        for ctx in (union, *groups):  # the groups' program conditions: parts of one set
            ctx.programs_of, ctx.pairs_set = programs, pairs_set
        for source, planned in plan.items():  # the sources: a fixed list, not data rows
            cohorts = sorted(planned.cohorts)
            measures = sorted(planned.measures, key=lambda m: m.name)
            if alone:  # one group, the union itself (all and the cohorts): no group flags
                groups[0]._results[source] = source.compute(union, cohorts, measures)
                continue
            for group, result in zip(
                groups, _run(source, union, groups, cohorts, measures), strict=True
            ):
                group._results[source] = result
    results = {}
    for key, filters in members.items():  # the members: a bounded list, not data rows
        group = groups[bases.index(dataclasses.replace(filters, cohort=None))]
        ctx = Context(period, filters, plans[filters], rules, shared=shared)
        ctx._results.update({s: group._results[s] for s in plans[filters]})
        results[key] = {
            "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
            "filters": filters_echo(filters),
            "definitions": definitions_echo(rules),
            "kpis": _items(specs, ctx, filters),
        }
    return results


def _merged(plans: Iterable[dict[Source, Planned]]) -> dict[Source, Planned]:
    """One plan of every source, cohort and measure of ``plans``."""
    merged: dict[Source, Planned] = {}
    for plan in plans:  # a bounded list of plans, not data rows
        for source, planned in plan.items():
            into = merged.setdefault(source, Planned())
            into.cohorts |= planned.cohorts
            into.measures |= planned.measures
    return merged


def _united(bases: list[Filters], name: str) -> tuple[int, ...]:
    """The union of the groups' ``name`` filters: () (no filter) where a group has none."""
    values = [getattr(b, name) for b in bases]
    if not all(values):
        return ()
    return tuple(sorted({i for v in values for i in v}))


def _run(
    source: Source, union: Context, groups: list[Context], cohorts: list[str], measures: list
) -> list[dict[str, dict[str, Any]]]:
    """One result per group: one grouped query where the source can split its rows by a
    condition per group (or make rows it can split, ``split_rows``), else the source once
    per group."""
    split = None
    if source.runner is not None:
        grouped = source.grouped_runner(union, groups, cohorts) if source.grouped_runner else None
        if grouped is not None:
            return grouped
    elif (
        all(group_row_q(source, g) is not None for g in groups)
        or (split := source.split_rows(union, groups) if source.split_rows else None) is not None
    ):
        results = by_group(union, source, cohorts, measures, groups, split)
        if source.after is not None:
            for group, result in zip(groups, results, strict=True):
                source.after(group, cohorts, measures, result)
        return results
    parts = _parts(groups)
    if parts is None:
        return [source.compute(g, cohorts, measures) for g in groups]  # the ungroupable few
    # Groups of programs beside groups without (the snapshots' programs beside all and the
    # tiers) where the source cannot take them together: a pass for each kind.
    results: list[Any] = [None] * len(groups)
    for part in parts:  # two kinds of groups
        members = [groups[i] for i in part]
        bases = [g.filters for g in members]
        filters = dataclasses.replace(bases[0], **{name: _united(bases, name) for name in GROUP_BY})
        own = Context(union.period, filters, union.plan, union.definitions, shared=union._shared)
        own.programs_of, own.pairs_set = union.programs_of, union.pairs_set
        for i, result in zip(part, _run(source, own, members, cohorts, measures), strict=True):
            results[i] = result
    return results


def _parts(groups: list[Context]) -> list[list[int]] | None:
    """The indexes of the groups with a program filter and of the others, when there are
    both (else None)."""
    programs = [i for i, g in enumerate(groups) if g.filters.program]
    if not programs or len(programs) == len(groups):
        return None
    return [[i for i, g in enumerate(groups) if not g.filters.program], programs]
