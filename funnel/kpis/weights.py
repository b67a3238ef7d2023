"""Score weights and windows changed by an admin: the preview of a change, and its save.

A change never edits a version: it is saved as a new definitions version derived from the
one it changes (``definitions_derive``), and becomes the default only when asked. Before
saving, ``weights_preview`` shows what the change would do on the current data, computed
set-based: how many accounts would change engagement score, relationship score, research
grade, surge state or stage (the snapshot figures, as the nightly recompute would write
them), and how the headline and score KPIs would move. Its number of queries depends on
the KPIs shown, never on the amount of data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection

from engagement.selectors import high_value_patterns_for
from funnel.definitions import (
    DefinitionsInvalid,
    definitions_derive,
    definitions_params_errors,
)
from funnel.models import DefinitionsVersion
from funnel.snapshots import snapshot_queryset

from .base import Filters, Period
from .engine import NO_FILTERS, compute, compute_draft
from .formatting import format_value

#: The KPIs whose numbers read the score parameters (shown by the preview after the
#: headline KPIs the page names).
SCORE_KPIS: tuple[str, ...] = (
    "relationship_score_avg",
    "relationship_improving_accounts",
    "relationship_degrading_accounts",
    "intent_surging_accounts",
    "research_intensity_accounts",
    "at_risk_customers",
    "customer_relationship_score_avg",
)
#: Account ids span: the preview compares every account.
_ALL_IDS = (0, 2**63 - 1)


@dataclass(frozen=True)
class AccountChanges:
    """How many accounts' snapshot figures as of ``day`` differ between two versions."""

    day: dt.date
    accounts: int
    engagement_score: int
    relationship_score: int
    research_grade: int
    surge_started: int
    surge_stopped: int
    stage: int

    @property
    def surge(self) -> int:
        return self.surge_started + self.surge_stopped


@dataclass(frozen=True)
class KpiMove:
    """One KPI under the old and the new parameters, formatted as the pages show it."""

    id: str
    label: str
    unit: str
    old: Any
    new: Any
    old_text: str | None
    new_text: str | None

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class WeightsPreview:
    """What saving ``params`` as a new version derived from ``base`` would change."""

    base: DefinitionsVersion
    params: dict[str, Any]
    changed_params: list[str]
    period: Period
    accounts: AccountChanges
    kpis: list[KpiMove]


def weights_changed(base: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """The parameters (``map.kind`` for one weight) whose value differs, sorted."""
    changed = []
    for name in sorted(set(base) | set(params)):
        old, new = base.get(name), params.get(name)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += [
                f"{name}.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
            ]
        elif old != new:
            changed.append(name)
    return changed


def account_changes(day: dt.date, old: Mapping[str, Any], new: Mapping[str, Any]) -> AccountChanges:
    """Accounts whose snapshot figures as of ``day`` differ under ``new`` from ``old``.

    One statement: the recompute's own snapshot query under each parameter set, joined
    by account and counted (scores to the cent, as the snapshots store them), plus one
    for the high-value page patterns when the versions do not pin them.
    """
    patterns = high_value_patterns_for(old)
    pinned_old = {**old, "high_value_patterns": patterns}
    pinned_new = {
        **new,
        "high_value_patterns": high_value_patterns_for(new)
        if (new.get("high_value_patterns") != old.get("high_value_patterns"))
        else patterns,
    }
    old_sql, old_args = snapshot_queryset(day, *_ALL_IDS, params=pinned_old).query.sql_with_params()
    new_sql, new_args = snapshot_queryset(day, *_ALL_IDS, params=pinned_new).query.sql_with_params()

    def cents(column: str) -> str:
        return f"ROUND(CAST({column} AS NUMERIC), 2)"

    def count(condition: str) -> str:
        return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"

    sql = (
        "SELECT COUNT(*), "  # noqa: S608 - compiled ORM SQL, no user text
        f"{count(cents('o.snap_engagement') + ' <> ' + cents('n.snap_engagement'))}, "
        f"{count(cents('o.snap_relationship') + ' <> ' + cents('n.snap_relationship'))}, "
        f"{count('o.snap_research <> n.snap_research')}, "
        f"{count('n.snap_surge AND NOT o.snap_surge')}, "
        f"{count('o.snap_surge AND NOT n.snap_surge')}, "
        f"{count('o.snap_stage <> n.snap_stage')} "
        f"FROM ({old_sql}) o JOIN ({new_sql}) n ON n.pk = o.pk"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*old_args, *new_args))
        row = cursor.fetchone()
    return AccountChanges(day, *(int(v) for v in row))


def weights_preview(
    base: DefinitionsVersion,
    params: Mapping[str, Any],
    period: Period,
    kpi_ids: Iterable[str],
    filters: Filters = NO_FILTERS,
) -> WeightsPreview:
    """What saving ``params`` (all of a version's parameters) as a new version derived from
    ``base`` would change: accounts as of the period's end, and ``kpi_ids`` over the period.

    Raises ``DefinitionsInvalid`` (naming each bad parameter) before any computation.
    """
    merged = {**base.params, **params}
    errors = definitions_params_errors(merged)
    if errors:
        raise DefinitionsInvalid(errors)
    ids = list(dict.fromkeys(kpi_ids))
    draft = DefinitionsVersion(
        name=f"{base.name} (preview)", generation=base.generation, params=merged
    )
    before = compute(period, filters, ids=ids, definitions=base)["kpis"]
    after = {item["id"]: item for item in compute_draft(period, filters, ids, draft)["kpis"]}
    moves = [
        KpiMove(
            item["id"],
            item["label"],
            item["unit"],
            item["value"],
            after[item["id"]]["value"],
            format_value(item["value"], item["unit"]),
            format_value(after[item["id"]]["value"], item["unit"]),
        )
        for item in before
    ]
    return WeightsPreview(
        base=base,
        params=merged,
        changed_params=weights_changed(base.params, merged),
        period=period,
        accounts=account_changes(period.end, base.params, merged),
        kpis=moves,
    )


def weights_save(
    base: DefinitionsVersion,
    params: Mapping[str, Any],
    *,
    name: str,
    note: str = "",
    make_default: bool = False,
) -> DefinitionsVersion:
    """Save a change of weights as a new version derived from ``base`` (never editing
    ``base``); the default moves only with ``make_default``. Nothing is recomputed: the
    nightly recompute and the pages use whichever version is the default."""
    changed = weights_changed(base.params, {**base.params, **params})
    note = note.strip() or (f"Changed {', '.join(changed)}." if changed else "No change.")
    return definitions_derive(
        base, name=name, params=dict(params), note=note, make_default=make_default
    )
