"""The funnel stage of an account on a day: the one statement of the stage rules.

The nightly snapshots, the KPI engine's version-2 funnel and funnel flow all
read an account's stage from here, as SQL over many accounts at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Value,
    When,
)

from abm_site.db import LocalDayStart, PerAccount, day_start
from engagement.choices import ENGAGEMENT_KINDS
from engagement.models import Touch

from .choices import OpportunityStatus, OpportunityType, Stage
from .models import Opportunity
from .querysets import open_as_of_q
from .selectors import customer_q, first_won_new_business, targeted_expression

#: The stage ladder, lowest first: an account "at or beyond" a stage holds it or a later one.
LADDER: tuple[str, ...] = (
    Stage.TARGET,
    Stage.ENGAGED,
    Stage.OPPORTUNITY,
    Stage.CUSTOMER,
    Stage.RETAINED,
    Stage.EXPANDED,
)
#: Stage -> its rank (none is 0, below the ladder).
RANK: dict[str, int] = {Stage.NONE: 0, **{s: i + 1 for i, s in enumerate(LADDER)}}


def at_or_beyond(stage: str) -> tuple[str, ...]:
    """The stages at or beyond ``stage`` on the ladder."""
    return tuple(s for s in LADDER if RANK[s] >= RANK[stage])


def later_than(stage: str) -> tuple[str, ...]:
    """The stages strictly beyond ``stage``."""
    return tuple(s for s in LADDER if RANK[s] > RANK[stage])


Day = dt.date | str
"""A day: a date, or the name of a row's date column (the stage history evaluates many
days at once, one per checkpoint row)."""


def _outer(day: Day):
    """The day in a condition on the row itself."""
    return day if isinstance(day, dt.date) else F(day)


def _inner(day: Day):
    """The day inside a subquery correlated to the row."""
    return day if isinstance(day, dt.date) else OuterRef(day)


def _won_q(type_: str, day: Day) -> Q:
    return Q(type=type_, status=OpportunityStatus.WON, closed_on__lte=day)


def _shift(day, days: int):
    if isinstance(day, dt.date):
        return day + dt.timedelta(days=days)
    return ExpressionWrapper(day + dt.timedelta(days=days), output_field=DateField())


def _day_start(day):
    return day_start(day) if isinstance(day, dt.date) else LocalDayStart(day)


def engaged_recently(day: Day, params: Mapping[str, Any], account_ref: str = "pk") -> Exists:
    """An engagement touch in the engagement window (``engagement_window_days``) ending with
    ``day``: what makes a target account engaged."""
    window = int(params["engagement_window_days"])
    inner = _inner(day)
    return Exists(
        Touch.objects.filter(
            account_id=OuterRef(account_ref),
            kind__in=ENGAGEMENT_KINDS,
            occurred_at__gte=_day_start(_shift(inner, 1 - window)),
            occurred_at__lt=_day_start(_shift(inner, 1)),
        )
    )


def stage_facts(
    day: Day,
    params: Mapping[str, Any],
    engaged_now=None,
    account_ref: str = "pk",
    prefix: str = "",
) -> dict[str, Any]:
    """The per-row annotations ``stage_expression(day)`` reads.

    For an Account queryset (``account_ref="pk"``), or for rows that carry an
    account (``account_ref="account_id"``, ``prefix="account__"``). ``day`` may be
    an expression of the row (the stage history's checkpoints). ``engaged_now``
    may be given (the snapshots count engagement touches in the join they
    already make); by default it is one index range probe per row.
    """
    opportunities = Opportunity.objects.filter(account_id=OuterRef(account_ref)).order_by()
    inner = _inner(day)
    if engaged_now is None:
        engaged_now = PerAccount(engaged_recently(day, params, account_ref))
    return {
        "first_won": PerAccount(first_won_new_business(account_ref)),
        "targeted_now": PerAccount(targeted_expression(_outer(day), prefix)),
        "engaged_now": engaged_now,
        "open_new_business": PerAccount(
            Exists(opportunities.filter(open_as_of_q(inner), type=OpportunityType.NEW_BUSINESS))
        ),
        "renewed": PerAccount(Exists(opportunities.filter(_won_q(OpportunityType.RENEWAL, inner)))),
        "expanded": PerAccount(
            Exists(opportunities.filter(_won_q(OpportunityType.EXPANSION, inner)))
        ),
        "churned_on_then": F(f"{prefix}churned_on"),
    }


def stage_expression(day: Day) -> Case:
    """The account's funnel stage at the end of ``day`` (DESIGN.md, KPIS.md).

    Highest stage reached and still held: expanded (a customer with a won
    expansion), retained (a customer with a won renewal), customer, opportunity
    (an open new-business opportunity), engaged (a target account with an
    engagement touch in the trailing engagement window), target (on the target
    list), else none. Reads the annotations of ``stage_facts``.
    """
    customer = customer_q(_outer(day), churned_on="churned_on_then")
    return Case(
        When(customer & Q(expanded=True), then=Value(Stage.EXPANDED)),
        When(customer & Q(renewed=True), then=Value(Stage.RETAINED)),
        When(customer, then=Value(Stage.CUSTOMER)),
        When(open_new_business=True, then=Value(Stage.OPPORTUNITY)),
        When(Q(targeted_now=True) & Q(engaged_now=True), then=Value(Stage.ENGAGED)),
        When(targeted_now=True, then=Value(Stage.TARGET)),
        default=Value(Stage.NONE),
    )


def flag(q: Q) -> Case:
    """A boolean column from a condition."""
    return Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())
