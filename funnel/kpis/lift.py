"""Lift KPIs: treated against held-out accounts of a list's holdout (definitions generation 2).

A list's holdout (``accounts.Holdout``) splits the members it was drawn from into
treated and held-out accounts at random, within strata of tier and fit grade, so the
difference between the two groups over a period estimates what the programs changed.
Each lift KPI compares one per-account outcome between the groups, with the absolute
and relative difference and a 95 % interval: Newcombe's hybrid score interval for the
rates (two Wilson intervals combined), Welch's t interval for the per-account amounts.
All five are computed in one grouped statement over the draw's accounts.

They are catalogue KPIs (stage 0, beside the cohort comparison): ``compute()`` runs them
when the filters name a list (``Filters(list_id=...)``) with a holdout, through the
``lift`` source below, and gives each a null value with a ``reason`` otherwise; the lift
page and API, the KPI API, the exports and the snapshots all read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    OuterRef,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from abm_site.db import day_bounds
from accounts.models import Holdout, HoldoutAssignment
from engagement.models import Touch
from engagement.selectors import engagement_touch_q
from funnel.choices import Cohort, OpportunityStatus, OpportunityType
from funnel.models import Opportunity
from funnel.querysets import closed_in_q, created_in_q

from .arithmetic import (
    newcombe_difference,
    ratio,
    round_2,
    round_ratio,
    sample_variance,
    welch_interval,
)
from .base import Filters, Period, kpi
from .measures import Source

#: The definitions generation that introduced the lift KPIs (KPIS.md-style "v2 (new)").
LIFT_GENERATION = 2
#: Below this many accounts in either group a lift result carries a warning.
MIN_GROUP_ACCOUNTS = 30
#: ... and a rate's result also when either group has fewer events (or non-events) than this.
MIN_GROUP_EVENTS = 5


@dataclass(frozen=True)
class LiftSpec:
    """One lift KPI: the per-account outcome it compares and how its interval is made."""

    id: str
    label: str
    unit: str  # "ratio" (share of accounts) or "money" (amount per account)
    outcome: str  # the outcome column of the grouped statement
    definition: str

    @property
    def method(self) -> str:
        return "newcombe" if self.unit == "ratio" else "welch"


_GROUPS = (
    " Treated: the accounts of the list's holdout draw not held out; held out: the others "
    "(the draw's accounts are fixed when it is made, whatever the list does later)."
)

#: The lift KPIs, in catalogue order (README "Holdouts and lift" documents them).
LIFT_KPIS: tuple[LiftSpec, ...] = (
    LiftSpec(
        "lift_engaged_rate",
        "Engaged rate lift",
        "ratio",
        "engaged",
        "Share of accounts with at least one engagement touch in the period, treated "
        "minus held out." + _GROUPS,
    ),
    LiftSpec(
        "lift_opportunity_rate",
        "Opportunity rate lift",
        "ratio",
        "opportunity",
        "Share of accounts with a new_business opportunity created in the period, treated "
        "minus held out." + _GROUPS,
    ),
    LiftSpec(
        "lift_win_rate",
        "Win rate lift",
        "ratio",
        "won",
        "Share of accounts with a won new_business opportunity closed in the period, "
        "treated minus held out." + _GROUPS,
    ),
    LiftSpec(
        "lift_pipeline_per_account",
        "Pipeline per account lift",
        "money",
        "pipeline",
        "Sum of amounts of new_business opportunities created in the period per account "
        "(accounts without one count as 0), treated minus held out." + _GROUPS,
    ),
    LiftSpec(
        "lift_revenue_per_account",
        "Revenue per account lift",
        "money",
        "revenue",
        "Sum of amounts of new_business opportunities won (closed won) in the period per "
        "account (accounts without one count as 0), treated minus held out." + _GROUPS,
    ),
)


class NoHoldout(LookupError):
    """The list has no holdout, so there is no control group to compare with."""


def _amount(opportunities) -> Coalesce:
    total = opportunities.order_by().values("account_id").annotate(total=Sum("amount"))
    money = DecimalField(max_digits=20, decimal_places=2)
    return Coalesce(Subquery(total.values("total")[:1], output_field=money), Value(Decimal(0)))


def _flag(condition) -> Case:
    return Case(When(condition, then=1), default=0)


def lift_groups(list_id: int, period: Period) -> dict[bool, dict[str, Any]]:
    """Per group (``True``: held out) of the holdout of list ``list_id``, the account count,
    the count of accounts with each rate's outcome, and the sum and sum of squares of each
    amount: one grouped statement (both groups empty when the list has no holdout)."""
    start_dt, end_dt = day_bounds(period.start, period.end)
    account = OuterRef("account_id")
    engaged = Touch.objects.filter(
        engagement_touch_q(), account_id=account, occurred_at__gte=start_dt, occurred_at__lt=end_dt
    )
    new_business = Opportunity.objects.filter(account_id=account)
    created = new_business.filter(
        created_in_q(period.start, period.end, type=OpportunityType.NEW_BUSINESS)
    )
    won = new_business.filter(
        closed_in_q(
            period.start,
            period.end,
            status=OpportunityStatus.WON,
            type=OpportunityType.NEW_BUSINESS,
        )
    )
    pipeline, revenue = _amount(created), _amount(won)
    rows = (
        HoldoutAssignment.objects.filter(holdout__list_id=list_id)
        .order_by()
        .values("held_out")
        .annotate(
            n=Count("pk"),
            engaged=Sum(_flag(Exists(engaged))),
            opportunity=Sum(_flag(Exists(created))),
            won=Sum(_flag(Exists(won))),
            pipeline=Sum(pipeline),
            pipeline_sq=Sum(pipeline * pipeline),
            revenue=Sum(revenue),
            revenue_sq=Sum(revenue * revenue),
        )
    )
    empty = {"n": 0, "engaged": 0, "opportunity": 0, "won": 0}
    empty |= {"pipeline": 0, "pipeline_sq": 0, "revenue": 0, "revenue_sq": 0}
    groups = {True: dict(empty), False: dict(empty)}
    for row in rows:
        groups[bool(row.pop("held_out"))].update({k: v or 0 for k, v in row.items()})
    return groups


def _rate(spec: LiftSpec, treated: dict, held: dict) -> dict[str, Any]:
    x1, n1, x2, n2 = treated[spec.outcome], treated["n"], held[spec.outcome], held["n"]
    p1, p2 = ratio(x1, n1), ratio(x2, n2)
    interval = newcombe_difference(x1, n1, x2, n2)
    warning = _size_warning(n1, n2)
    if warning is None and n1 and n2 and min(x1, n1 - x1, x2, n2 - x2) < MIN_GROUP_EVENTS:
        warning = (
            f"Fewer than {MIN_GROUP_EVENTS} accounts with (or without) the outcome in a group: "
            "the interval is wide and the lift uncertain."
        )
    return _result(
        spec,
        {"n": n1, "numerator": x1, "value": round_ratio(p1)},
        {"n": n2, "numerator": x2, "value": round_ratio(p2)},
        p1,
        p2,
        interval and (round_ratio(interval[0]), round_ratio(interval[1])),
        round_ratio,
        warning,
    )


def _money(spec: LiftSpec, treated: dict, held: dict) -> dict[str, Any]:
    key = spec.outcome
    n1, n2 = treated["n"], held["n"]
    t1, t2 = float(treated[key]), float(held[key])
    m1, m2 = ratio(treated[key], n1), ratio(held[key], n2)
    interval = None
    if m1 is not None and m2 is not None:
        interval = welch_interval(
            float(m1),
            sample_variance(t1, float(treated[f"{key}_sq"]), n1),
            n1,
            float(m2),
            sample_variance(t2, float(held[f"{key}_sq"]), n2),
            n2,
        )
    return _result(
        spec,
        {"n": n1, "total": round_2(treated[key]), "value": round_2(m1)},
        {"n": n2, "total": round_2(held[key]), "value": round_2(m2)},
        m1,
        m2,
        interval and (round_2(interval[0]), round_2(interval[1])),
        round_2,
        _size_warning(n1, n2),
    )


def _size_warning(n1: int, n2: int) -> str | None:
    if min(n1, n2) < MIN_GROUP_ACCOUNTS:
        return (
            f"Fewer than {MIN_GROUP_ACCOUNTS} accounts in a group ({n1:,} treated, {n2:,} held "
            "out): too small a sample to read a lift from."
        )
    return None


def _result(spec, treated, held, v1, v2, interval, rounder, warning) -> dict[str, Any]:
    difference = None if v1 is None or v2 is None else Decimal(v1) - Decimal(v2)
    relative = None if difference is None or not v2 else difference / Decimal(v2)
    return {
        "value": rounder(difference),
        "reason": None,
        "treated": treated,
        "held_out": held,
        "difference": rounder(difference),
        "relative_difference": round_ratio(relative),
        "ci95": None
        if interval is None
        else {"low": interval[0], "high": interval[1], "method": spec.method},
        "warning": warning,
    }


#: The lift KPIs' ids, in catalogue order.
LIFT_IDS: tuple[str, ...] = tuple(spec.id for spec in LIFT_KPIS)
#: Why a lift KPI is null without a list filter (the API's ``list``, the pages' list).
NO_LIST = (
    "A lift KPI compares a list's treated and held-out accounts: name a list with a holdout "
    "(the filter list=<id>; the lift page of a list: /lists/<id>/lift/)."
)


def _no_holdout(list_id: int) -> str:
    return (
        f"List {list_id} has no holdout (or its draw holds no accounts), so there is no control "
        f"group: draw one in the admin (Accounts > Holdouts) or with `manage.py holdout_draw "
        f"--list {list_id} --share 0.2 --seed <seed>`."
    )


def _outcomes(ctx: Any, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    """The lift source: both groups' outcomes for the filters' list (one statement), or
    why there are none. The groups are the holdout draw's, whatever the cohort."""
    list_id = ctx.filters.list_id
    if list_id is None:  # no list: nothing to compare, and no query
        found: dict[str, Any] = {"groups": None, "reason": NO_LIST}
    else:
        groups = lift_groups(list_id, ctx.period)
        if groups[True]["n"] + groups[False]["n"] == 0:
            found = {"groups": None, "reason": _no_holdout(list_id)}
        else:
            found = {"groups": groups, "reason": None}
    return {cohort: {"lift_outcomes": found} for cohort in cohorts}


def _outcomes_grouped(
    union: Any, groups: list[Any], cohorts: list[str]
) -> list[dict[str, dict[str, Any]]]:
    """Grouped (by tier or program): the groups share the list, and the holdout's groups do
    not depend on the tier, program or owner filters, so one statement serves them all."""
    shared = _outcomes(union, cohorts)
    return [{c: dict(v) for c, v in shared.items()} for _ in groups]


LIFT = Source("lift", runner=_outcomes, grouped_runner=_outcomes_grouped)
lift_outcomes = LIFT.output(
    "lift_outcomes",
    "Per group of the filters' list's holdout: accounts, accounts with each outcome, and the "
    "sum and sum of squares of each amount (or the reason there are none).",
)

#: Catalogue tags of each lift KPI: the R of the KPI it lifts.
_R = {"lift_engaged_rate": "reputation"}
_FILTERS = (
    " Needs a list with a holdout (filter list); the tier, program, owner and cohort "
    "filters do not apply: the groups are the draw's."
)


def lift_item(spec: LiftSpec, outcomes: dict[str, Any]) -> dict[str, Any]:
    """One lift KPI's result from the lift source: the difference as ``value``, both groups,
    the relative difference, the interval and a warning; or nulls and the ``reason``."""
    groups = outcomes["groups"]
    if groups is None:
        return {
            "value": None,
            "reason": outcomes["reason"],
            "treated": None,
            "held_out": None,
            "difference": None,
            "relative_difference": None,
            "ci95": None,
            "warning": None,
        }
    compare = _rate if spec.unit == "ratio" else _money
    return compare(spec, groups[False], groups[True])


#: A lift is a difference between two groups of a list's holdout, not a list of rows.
LIFT_GROUPS = (
    "A difference between the treated and the held-out accounts of the list's holdout; "
    "the list's lift page lists both groups' counts and the contaminating touches."
)


def _register(spec: LiftSpec) -> None:
    @kpi(
        spec.id,
        stage=0,
        label=spec.label,
        unit=spec.unit,
        kind="outcome",
        r=_R.get(spec.id, "revenue"),
        definition=spec.definition + _FILTERS,
        measures=(lift_outcomes,),
        fixed_cohort=str(Cohort.ALL),
        generation=LIFT_GENERATION,
        no_population=LIFT_GROUPS,
    )
    def lift(ctx: Any, cohort: str) -> dict[str, Any]:
        return lift_item(spec, ctx.value(lift_outcomes, cohort))

    lift.__name__ = lift.__qualname__ = spec.id


for _spec in LIFT_KPIS:  # the five KPIs of the catalogue
    _register(_spec)


def slice_kpi_ids(filters: Filters, generation: int) -> list[str] | None:
    """The KPIs a snapshot slice publishes: the whole catalogue (None) where the slice names a
    list, else every KPI but the lift ones (they need a list's holdout)."""
    if filters.list_id is not None:
        return None
    from .base import catalogue

    return [spec.id for spec in catalogue(generation) if spec.id not in LIFT_IDS]


def holdout_lift(holdout: Holdout, period: Period, definitions: Any = None) -> dict[str, Any]:
    """Every lift KPI of ``holdout``'s list over ``period``, through ``compute()`` (the KPIs'
    one definition), with the holdout it compares: the lift page and API.

    ``definitions``: the version (object, id or name; the default when None). Raises
    ``UnknownKpi`` under a definitions generation before the lift KPIs existed.
    """
    from .engine import compute

    result = compute(
        period, Filters(list_id=holdout.list_id), ids=LIFT_IDS, definitions=definitions
    )
    first = result["kpis"][0]
    return {
        "period": result["period"],
        "definitions": result["definitions"],
        "holdout": {
            "list": holdout.list_id,
            "seed": holdout.seed,
            "share": float(holdout.share),
            "drawn_on": holdout.drawn_on.isoformat(),
            "treated": (first["treated"] or {}).get("n", 0),
            "held_out": (first["held_out"] or {}).get("n", 0),
        },
        "kpis": result["kpis"],
    }


def holdout_of_list(list_id: int) -> Holdout:
    """The list's holdout with its list (one query), or ``NoHoldout``."""
    found = Holdout.objects.select_related("list").filter(list_id=list_id).first()
    if found is None:
        raise NoHoldout(f"List {list_id} has no holdout.")
    return found


__all__ = [
    "LIFT",
    "LIFT_GENERATION",
    "LIFT_IDS",
    "LIFT_KPIS",
    "MIN_GROUP_ACCOUNTS",
    "LiftSpec",
    "NoHoldout",
    "holdout_of_list",
    "holdout_lift",
    "lift_groups",
    "lift_item",
    "lift_outcomes",
    "slice_kpi_ids",
]
