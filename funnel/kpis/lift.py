"""Lift KPIs: treated against held-out accounts of a list's holdout (definitions generation 2).

A list's holdout (``accounts.Holdout``) splits the members it was drawn from into
treated and held-out accounts at random, within strata of tier and fit grade, so the
difference between the two groups over a period estimates what the programs changed.
Each lift KPI compares one per-account outcome between the groups, with the absolute
and relative difference and a 95 % interval: Newcombe's hybrid score interval for the
rates (two Wilson intervals combined), Welch's t interval for the per-account amounts.
All five are computed in one grouped statement over the draw's accounts.
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
from funnel.choices import OpportunityStatus, OpportunityType
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
from .base import Period, UnknownKpi

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


def lift_groups(holdout: Holdout, period: Period) -> dict[bool, dict[str, Any]]:
    """Per group (``True``: held out) the account count, the count of accounts with each
    rate's outcome, and the sum and sum of squares of each amount: one grouped statement."""
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
        HoldoutAssignment.objects.filter(holdout=holdout)
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
        "id": spec.id,
        "label": spec.label,
        "unit": spec.unit,
        "definition": spec.definition,
        "treated": treated,
        "held_out": held,
        "difference": rounder(difference),
        "relative_difference": round_ratio(relative),
        "ci95": None
        if interval is None
        else {"low": interval[0], "high": interval[1], "method": spec.method},
        "warning": warning,
    }


def holdout_lift(
    holdout: Holdout, period: Period, generation: int = LIFT_GENERATION
) -> dict[str, Any]:
    """Every lift KPI of ``holdout`` over ``period`` (one statement).

    Raises ``UnknownKpi`` under a definitions generation before the lift KPIs existed.
    """
    if generation < LIFT_GENERATION:
        raise UnknownKpi(LIFT_KPIS[0].id, generation)
    groups = lift_groups(holdout, period)
    treated, held = groups[False], groups[True]
    kpis = [(_rate if spec.unit == "ratio" else _money)(spec, treated, held) for spec in LIFT_KPIS]
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "holdout": {
            "list": holdout.list_id,
            "seed": holdout.seed,
            "share": float(holdout.share),
            "drawn_on": holdout.drawn_on.isoformat(),
            "treated": treated["n"],
            "held_out": held["n"],
        },
        "kpis": kpis,
    }


def holdout_of_list(list_id: int) -> Holdout:
    """The list's holdout with its list (one query), or ``NoHoldout``."""
    found = Holdout.objects.select_related("list").filter(list_id=list_id).first()
    if found is None:
        raise NoHoldout(f"List {list_id} has no holdout.")
    return found


__all__ = [
    "LIFT_GENERATION",
    "LIFT_KPIS",
    "MIN_GROUP_ACCOUNTS",
    "LiftSpec",
    "NoHoldout",
    "holdout_of_list",
    "holdout_lift",
    "lift_groups",
]
