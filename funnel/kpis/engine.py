"""The KPI engine: ``compute()`` runs the catalogue, ``drilldown()`` lists the rows behind a count.

``compute`` plans before it queries: from the requested KPIs and the cohort
filter it works out which sources (aggregate queries) are needed and for
which cohorts, so each source runs once with every cohort's measures as
conditional aggregates. The number of queries depends on the KPIs asked for,
never on the amount of data.
"""

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from funnel.definitions import definitions_mark_used, definitions_resolve
from funnel.models import DefinitionsVersion

from . import lift, overview, stage1, stage2, stage3, stage4, stage5, stage6, version  # noqa: F401
from .base import REGISTRY, Filters, KpiSpec, NoDrilldown, Period, UnknownKpi, catalogue
from .context import Context, Planned
from .fingerprint import fingerprint
from .measures import Source

#: The default: no tier, program or owner filter, each KPI's default cohort.
NO_FILTERS = Filters()

logger = logging.getLogger(__name__)

# Catalogue order (KPIS.md): stages 1 to 6, then funnel, velocity and the comparison, then
# the lift KPIs (a list's treated against its held-out accounts).
for _spec in sorted(
    REGISTRY.values(),
    key=lambda spec: (spec.stage == 0, spec.stage, spec.id in lift.LIFT_IDS),
):
    REGISTRY[_spec.id] = REGISTRY.pop(_spec.id)


def _specs(ids: Iterable[str] | None, generation: int) -> list[KpiSpec]:
    """The specs of ``ids`` (all by default) as ``generation`` defines them, in catalogue order."""
    specs = catalogue(generation)
    if ids is None:
        return specs
    if isinstance(ids, str):
        ids = [ids]
    available = {spec.id for spec in specs}
    wanted = set()
    for kpi_id in ids:
        if kpi_id not in REGISTRY:
            raise UnknownKpi(kpi_id)
        if kpi_id not in available:
            raise UnknownKpi(kpi_id, generation=generation)
        wanted.add(kpi_id)
    return [spec for spec in specs if spec.id in wanted]


def _plan(specs: list[KpiSpec], filters: Filters) -> dict[Source, Planned]:
    """Source -> the cohorts and measures it must compute for these KPIs."""
    plan: dict[Source, Planned] = {}
    for spec in specs:
        needed = {str(c) for c in spec.also_cohorts} or {spec.cohort_for(filters.cohort)}
        for measure in spec.measures:
            planned = plan.setdefault(measure.source, Planned())
            planned.cohorts |= needed
            planned.measures.add(measure)
    return plan


def filters_echo(filters: Filters) -> dict[str, Any]:
    """How a result names the filters it was computed for."""
    echo: dict[str, Any] = {
        "cohort": filters.cohort or "default",
        "tier": list(filters.tier),
        "program": list(filters.program),
        "owner": list(filters.owner),
    }
    if filters.list_id is not None:
        echo["list"] = filters.list_id
    return echo


def compute(
    period: Period,
    filters: Filters = NO_FILTERS,
    ids: Iterable[str] | None = None,
    definitions: DefinitionsVersion | int | str | None = None,
) -> dict[str, Any]:
    """The KPIs ``ids`` (all by default) for ``period`` and ``filters``, in the KPIS.md shape.

    ``definitions`` is the definitions version (object, id or name; the default
    version when None); the result names it. On PostgreSQL, outside a
    transaction, results are cached under the data version
    (``version.data_version``) and the definitions version: exact, because any
    write to KPI input changes the data version and a used definitions version
    never changes. A subset is also served from a cached whole catalogue (what
    ``warm`` computes). Raises ``UnknownKpi`` for an id not in the catalogue of
    that version, ``UnknownDefinitions`` for a version that does not exist.
    """
    if _cacheable():
        ref = definitions.pk if isinstance(definitions, DefinitionsVersion) else definitions
        cached = _compute_cached(period, filters, ids, ref)
        if cached is None and definitions is None:
            # No default version yet: resolving creates the shipped ones; then the cache.
            cached = _compute_cached(period, filters, ids, definitions_resolve(None).pk)
        if cached is not None:
            return cached
    rules = definitions_resolve(definitions)
    specs = _specs(ids, rules.generation)
    definitions_mark_used(rules)
    return _compute(specs, period, filters, rules)


def compute_draft(
    period: Period, filters: Filters, ids: Iterable[str] | None, draft: DefinitionsVersion
) -> dict[str, Any]:
    """The KPIs under a version not saved yet (the weights page's preview of a change).

    The same computation as ``compute``, but never cached (an unsaved version has no id
    to key it by) and marking no version used.
    """
    return _compute(_specs(ids, draft.generation), period, filters, draft)


def _compute_cached(
    period: Period, filters: Filters, ids: Iterable[str] | None, definitions: int | str | None
) -> dict[str, Any] | None:
    """The result from (or into) the cache; None where the cache cannot serve this request.

    The data version and the definitions version come back in one statement
    (one snapshot, in autocommit), so a cached result costs one query and no
    transaction. A miss computes in one read-only snapshot that reads the data
    version again with every source: the result is the data of exactly the
    version it is stored under, even while writers commit.
    """
    found = version.data_version_and_definitions(definitions)
    if found is None:
        return None
    data, ref = found
    specs = _specs(ids, ref.generation)
    key = _cache_key(period, filters, specs, data, ref)
    whole = _cache_key(period, filters, _specs(None, ref.generation), data, ref)
    hits = _cache_get_many([key, whole])
    if key in hits:
        return hits[key]
    if whole in hits:
        return _subset(hits[whole], specs)
    return computed_in_snapshot(
        ref.pk,
        lambda data, ref: _cache_key(period, filters, specs, data, ref),
        lambda rules: _compute(specs, period, filters, rules),
    )


def computed_in_snapshot(
    definitions_pk: int,
    key_of: Callable[[str, version.DefinitionsRef], str],
    build: Callable[[DefinitionsVersion], dict[str, Any]],
) -> dict[str, Any] | None:
    """``build(rules)`` in one read-only snapshot, cached under the key of the data version
    that snapshot reads (read again inside it): the result is the data of exactly the
    version it is stored under, even while writers commit. None where there is none."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        found = version.data_version_and_definitions(definitions_pk)
        if found is None:
            return None
        data, ref = found
        key = key_of(data, ref)
        rules = DefinitionsVersion.objects.get(pk=ref.pk)
        result = build(rules)
    definitions_mark_used(rules)
    _cache_set(key, result)
    return result


def _compute(
    specs: list[KpiSpec], period: Period, filters: Filters, rules: DefinitionsVersion
) -> dict[str, Any]:
    ctx = Context(period, filters, _plan(specs, filters), definitions=rules)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "filters": filters_echo(filters),
        "definitions": definitions_echo(rules),
        "kpis": _items(specs, ctx, filters),
    }


def definitions_echo(rules: DefinitionsVersion) -> dict[str, Any]:
    """How a result names the definitions version it was computed under."""
    return {"id": rules.pk, "name": rules.name, "generation": rules.generation}


def _subset(result: dict[str, Any], specs: list[KpiSpec]) -> dict[str, Any]:
    """The items of ``specs`` out of a whole-catalogue result (each item stands alone)."""
    wanted = {spec.id for spec in specs}
    return {**result, "kpis": [item for item in result["kpis"] if item["id"] in wanted]}


def _cacheable() -> bool:
    """Only PostgreSQL in autocommit mode.

    Inside a caller's transaction its own uncommitted writes are in the data
    version it reads, and a rollback would leave a cached result that no
    committed data ever produced. SQLite (the embedded default) has no data
    version and computes every time.
    """
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and bool(settings.ABM_KPI_CACHE_SECONDS)
    )


_CODE = fingerprint()
_T = TypeVar("_T")


def _cache_key(
    period: Period, filters: Filters, specs: list[KpiSpec], data: int | str, rules: Any
) -> str:
    # ``data`` names the database as well as its data version (``version._IDENTITY``): two
    # databases sharing one Redis database, or a restored backup, never read each other's.
    # Settings, code and definitions that change results are part of the key, so a
    # reconfigured or upgraded deployment never reads another configuration's numbers.
    # A definitions version is immutable once used, so its id stands for its parameters.
    # Version 2 reads the computation date (renewals still inside their grace window).
    today = timezone.localdate().isoformat() if rules.generation >= 2 else ""
    config = (settings.TIME_ZONE, _CODE, rules.pk, rules.generation, today)
    scope = repr((period, filters, [spec.id for spec in specs], data, config))
    return "kpis:" + hashlib.sha256(scope.encode()).hexdigest()


def cached_by_data_version(name: str, scope: Any, build: Callable[[], _T]) -> _T:
    """``build()``, cached under the database's id and data version like KPI results.

    For what pages derive from KPI input besides KPIs (the dashboard's account
    lists): a warm page then runs none of its heavy queries. ``scope`` names
    everything else the result depends on (period, filters, definitions, the
    snapshot run it reads); the day and the code fingerprint are added here.
    The version is read before ``build`` runs, so a result is never older than
    the version it is stored under. Outside PostgreSQL autocommit it just builds.
    """
    data = version.data_key() if _cacheable() else None
    if data is None:
        return build()
    config = (settings.TIME_ZONE, _CODE, timezone.localdate().isoformat())
    key = f"{name}:" + hashlib.sha256(repr((scope, data, config)).encode()).hexdigest()
    hits = _cache_get_many([key])
    if key in hits:
        return hits[key]
    result = build()
    _cache_set(key, result)
    return result


def _cache_get_many(keys: list[str]) -> dict[str, Any]:
    try:
        return cache.get_many(keys)
    except (OSError, RedisError, DatabaseError) as exc:  # cache down: compute instead
        logger.warning("KPI cache unavailable (%s); computing without it.", exc)
        return {}


def _cache_set(key: str, result: dict[str, Any]) -> None:
    try:
        cache.set(key, result, timeout=settings.ABM_KPI_CACHE_SECONDS)
    except (OSError, RedisError, DatabaseError) as exc:
        logger.warning("KPI cache unavailable (%s); result not cached.", exc)


def _items(specs: list[KpiSpec], ctx: Context, filters: Filters) -> list[dict[str, Any]]:
    items = []
    for spec in specs:  # the catalogue: a fixed list of KPIs, not of data rows
        cohort = str(spec.cohort_for(filters.cohort))
        item = {
            "id": spec.id,
            "stage": spec.stage,
            "label": spec.label,
            "unit": spec.unit,
            "kind": spec.kind,
            "r": spec.r,
            "definition": spec.describe(ctx.params),
            "cohort": cohort,
        }
        item.update(spec.compute(ctx, cohort))
        items.append(item)
    return items


def drilldown(
    kpi_id: str,
    period: Period,
    filters: Filters = NO_FILTERS,
    definitions: DefinitionsVersion | int | str | None = None,
    part: str | None = None,
) -> QuerySet:
    """The accounts (or opportunities) behind the KPI ``kpi_id`` (a count, or a sum of
    amounts), or behind one ``part`` of a map KPI (a funnel stage), as a lazy queryset.

    Raises ``UnknownKpi`` for an unknown id and ``NoDrilldown`` for a KPI (or a part)
    without rows behind it. A KPI with a ``figure`` (an amount, days, touches) has each
    row annotated with it as ``figure``: what the row contributes to the number.
    """
    rules = definitions_resolve(definitions)
    (spec,) = _specs([kpi_id], rules.generation)
    condition = spec.drill_for(part)
    if condition is None:
        raise NoDrilldown(kpi_id if part is None else f"{kpi_id}.{part}")
    ctx = Context(period, filters, definitions=rules)
    rows = condition.rows(ctx, str(spec.cohort_for(filters.cohort)))
    if part is None and spec.figure is not None:
        rows = rows.annotate(figure=spec.figure.expression(ctx))
    return rows
