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
    compute,
    definitions_echo,
    filters_echo,
)
from .measures import Source, by_group, group_row_q

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
    if _cacheable():
        ref = definitions.pk if isinstance(definitions, DefinitionsVersion) else definitions
        members = _members(filters, by, keys, union)
        cached = _grouped_cached(period, members, ids, ref)
        if cached is None and definitions is None:
            cached = _grouped_cached(period, members, ids, definitions_resolve(None).pk)
        if cached is not None:
            return cached
    rules = definitions_resolve(definitions)
    specs = _specs(ids, rules.generation)
    definitions_mark_used(rules)
    return _grouped(period, _members(filters, by, keys, union), specs, rules)


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
    members: dict[int | None, Filters],
    specs: list,
    rules: DefinitionsVersion,
) -> dict[int | None, dict[str, Any]]:
    keys = list(members)
    some = next(iter(members.values()))
    # The union of the groups: each filter holds every group's ids (the other filters
    # are the same in every group).
    united = dataclasses.replace(
        some,
        **{
            name: tuple(sorted({i for f in members.values() for i in getattr(f, name)}))
            for name in GROUP_BY
        },
    )
    plan = _plan(specs, some)
    # One read of the database's parameters for every group (built in full or not).
    shared: dict[str, Any] = {}
    union = Context(period, united, plan, rules, shared=shared)
    groups = [Context(period, f, plan, rules, shared=shared) for f in members.values()]
    for source, planned in plan.items():  # the sources: a fixed list, not data rows
        cohorts = sorted(planned.cohorts)
        measures = sorted(planned.measures, key=lambda m: m.name)
        for group, result in zip(
            groups, _run(source, union, groups, cohorts, measures), strict=True
        ):
            group._results[source] = result
    return {
        key: {
            "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
            "filters": filters_echo(group.filters),
            "definitions": definitions_echo(rules),
            "kpis": _items(specs, group, group.filters),
        }
        for key, group in zip(keys, groups, strict=True)
    }


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
    return [source.compute(g, cohorts, measures) for g in groups]  # the ungroupable few


def compute_cohorts(
    period: Period,
    slices: Sequence[Filters],
    ids: Iterable[str] | None = None,
    definitions: DefinitionsVersion | int | str | None = None,
) -> list[dict[str, Any]]:
    """``[compute(period, f, ids, definitions) for f in slices]`` for slices that differ only
    by their cohort (the snapshots' all and cohort slices), each source run once
    for every cohort they read.

    No source's rows depend on the filters' cohort (each cohort is a condition of its own,
    in an aggregate's FILTER or a runner's statement per cohort: attribution, spend, stage
    changes, tiers), so each source's one result serves every slice. Where results are
    cached (``compute``'s), each slice is a ``compute`` as before.
    """
    slices = list(slices)
    bases = {dataclasses.replace(f, cohort=None) for f in slices}
    if _cacheable() or len(slices) < 2 or len(bases) != 1:
        return [compute(period, f, ids, definitions) for f in slices]
    rules = definitions_resolve(definitions)
    specs = _specs(ids, rules.generation)
    definitions_mark_used(rules)
    plans = [_plan(specs, f) for f in slices]
    merged: dict[Source, Planned] = {}
    for plan in plans:  # the slices: a bounded list, not data rows
        for source, planned in plan.items():
            into = merged.setdefault(source, Planned())
            into.cohorts |= planned.cohorts
            into.measures |= planned.measures
    read: dict[str, Any] = {}  # the database's parameters, read once for every slice
    shared = Context(period, slices[0], merged, rules, shared=read)
    computed = {
        source: source.compute(
            shared, sorted(planned.cohorts), sorted(planned.measures, key=lambda m: m.name)
        )
        for source, planned in merged.items()  # the sources: a fixed list
    }
    results = []
    for filters, plan in zip(slices, plans, strict=True):
        ctx = Context(period, filters, plan, rules, shared=read)
        ctx._results.update({s: computed[s] for s in plan})
        results.append(
            {
                "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
                "filters": filters_echo(filters),
                "definitions": definitions_echo(rules),
                "kpis": _items(specs, ctx, filters),
            }
        )
    return results
