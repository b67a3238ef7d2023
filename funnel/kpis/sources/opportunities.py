"""Opportunity-level sources: opportunities of scoped accounts, and NPS responses.

Opportunity conditions drill into the opportunities themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, RowNumber, TruncDate

from abm_site.db import DaysBetween, PercentileCont
from engagement.choices import ENGAGEMENT_KINDS
from engagement.models import Touch
from funnel.choices import OpportunityStatus, OpportunityType
from funnel.models import NpsResponse, Opportunity
from funnel.querysets import closed_in_q, created_in_q, open_as_of_q

from ..base import Figure
from ..context import Context
from ..measures import Condition, Source

WON = OpportunityStatus.WON
LOST = OpportunityStatus.LOST
NB = OpportunityType.NEW_BUSINESS


def scoped_opportunities(ctx: Context) -> QuerySet[Opportunity]:
    """Opportunities of scoped accounts (any date: each condition picks its own).

    The correlated facts that several conditions read (a touch before creation, a
    renewal) are aliases: the fenced aggregate (``cohort_once``) computes each once per
    row, not once per FILTER that reads it; nothing computes them where nothing reads them.
    """
    return Opportunity.objects.filter(ctx.scope_q("account__")).alias(
        touched_before=_only_where(created_in_q(ctx.start, ctx.end), _touched_before(ctx)),
        renewed=_only_where(renewals_due(ctx), Exists(_renewal(ctx))),
    )


def _only_where(where: Q, fact: Exists) -> Case:
    """``fact`` on the rows ``where`` keeps (false elsewhere): every condition that reads it
    keeps only those rows, and the others skip its correlated subquery."""
    return Case(When(where, then=fact), default=Value(False), output_field=BooleanField())


def _median_fallback(
    ctx: Context, cohorts: list[str], measures: list, result: dict[str, dict[str, Any]]
) -> None:
    """SQLite has no ``percentile_cont``: the middle row(s) by row number, one query a cohort.

    Window functions number the rows in order and count them; only the one or
    two middle rows come back.
    """
    if connection.vendor == "postgresql" or sales_cycle_median not in measures:
        return
    for cohort in cohorts:
        rows = (
            scoped_opportunities(ctx)
            .filter(ctx.cohort_q(cohort, "account__"), won_new_business_dated(ctx))
            .annotate(
                days=_cycle_days(),
                rn=Window(RowNumber(), order_by=[F("days").asc(), F("pk").asc()]),
                total=Window(Count("pk")),
            )
            .filter(rn__gte=(F("total") + 1) / 2, rn__lte=(F("total") + 2) / 2)
            .values_list("days", flat=True)
        )
        middle = list(rows)
        result[cohort]["sales_cycle_median"] = sum(middle) / len(middle) if middle else None


OPPORTUNITIES = Source(
    "opportunities",
    scoped_opportunities,
    drills_to="opportunity",
    after=_median_fallback,
    period_q=lambda ctx: Q(),  # every opportunity: each condition picks its own dates
    cohort_once=True,
)


@OPPORTUNITIES.condition
def won_new_business(ctx: Context) -> Q:
    """New-business opportunities closed won in the period."""
    return closed_in_q(ctx.start, ctx.end, status=WON, type=NB)


@OPPORTUNITIES.condition
def lost_new_business(ctx: Context) -> Q:
    """New-business opportunities closed lost in the period."""
    return closed_in_q(ctx.start, ctx.end, status=LOST, type=NB)


@OPPORTUNITIES.condition
def decided_new_business(ctx: Context) -> Q:
    """New-business opportunities closed won or lost in the period (a win rate's base)."""
    return won_new_business(ctx) | lost_new_business(ctx)


@OPPORTUNITIES.condition
def won_new_business_dated(ctx: Context) -> Q:
    """Won new business of the period with a known creation date (for cycle times)."""
    return won_new_business(ctx) & Q(created_on__isnull=False)


@OPPORTUNITIES.condition
def open_opportunities(ctx: Context) -> Q:
    """Open at the end of the period (created by then or undated, not closed by then)."""
    return open_as_of_q(ctx.end)


@OPPORTUNITIES.condition
def open_new_business(ctx: Context) -> Q:
    """Open new-business opportunities at the end of the period."""
    return open_as_of_q(ctx.end) & Q(type=NB)


def _days_from_created(days: int) -> Cast:
    """The opportunity's creation day moved by ``days``, as a moment (a day's margin either
    side covers any time zone): bounds an index range scan of the account's touches."""
    shifted = ExpressionWrapper(
        OuterRef("created_on") + dt.timedelta(days=days), output_field=DateField()
    )
    return Cast(shifted, DateTimeField())


def _touched_before(ctx: Context) -> Exists:
    """An engagement touch of the account on the creation day or in the ``influence_days``
    days before (version 2: a touch of a program)."""
    programs_only = ctx.generation >= 2
    days = int(ctx.params["influence_days"])
    touches = Touch.objects.filter(
        account_id=OuterRef("account_id"),
        kind__in=ENGAGEMENT_KINDS,
        occurred_at__gte=_days_from_created(-days - 1),
        occurred_at__lt=_days_from_created(2),
    )
    if programs_only:
        touches = touches.filter(program__isnull=False)
    exact = touches.annotate(
        _ago=DaysBetween(OuterRef("created_on"), TruncDate("occurred_at"))
    ).filter(_ago__gte=0, _ago__lte=days)
    return Exists(exact)


@OPPORTUNITIES.condition
def influenced(ctx: Context) -> Q:
    """Version 1: opportunities (any type) created in the period with an engagement touch
    of the account on the creation day or in the ``influence_days`` days before.
    Version 2: new-business opportunities, and the touch must be one of a program."""
    if ctx.generation >= 2:
        return created_in_q(ctx.start, ctx.end, type=NB) & Q(touched_before=True)
    return created_in_q(ctx.start, ctx.end) & Q(touched_before=True)


@OPPORTUNITIES.condition
def created_new_business(ctx: Context) -> Q:
    """New-business opportunities created in the period."""
    return created_in_q(ctx.start, ctx.end, type=NB)


@OPPORTUNITIES.condition
def renewals_due(ctx: Context) -> Q:
    """Contracts (won, any type) whose end date falls in the period."""
    return Q(status=WON, contract_end__gte=ctx.start, contract_end__lte=ctx.end)


def _renewal(ctx: Context) -> QuerySet[Opportunity]:
    """Another won renewal of the account closed after the contract was won and no later
    than ``renewal_grace_days`` after its end."""
    grace = int(ctx.params["renewal_grace_days"])
    return (
        Opportunity.objects.filter(
            account_id=OuterRef("account_id"),
            type=OpportunityType.RENEWAL,
            status=WON,
            closed_on__gte=OuterRef("closed_on"),
        )
        .exclude(pk=OuterRef("pk"))
        .annotate(_late=DaysBetween(F("closed_on"), OuterRef("contract_end")))
        .filter(_late__lte=grace)
    )


@OPPORTUNITIES.condition
def renewed_contracts(ctx: Context) -> Q:
    """Renewals due that the account renewed (``_renewal``)."""
    return renewals_due(ctx) & Q(renewed=True)


def _grace_closed(ctx: Context) -> Q:
    """The contract's grace window (``renewal_grace_days`` after its end) closed before the
    computation date."""
    grace = int(ctx.params["renewal_grace_days"])
    return Q(contract_end__lt=ctx.today - dt.timedelta(days=grace))


@OPPORTUNITIES.condition
def renewals_settled(ctx: Context) -> Q:
    """Renewals due whose grace window has closed, or that are already renewed (version 2's
    renewal rate counts only these)."""
    return renewals_due(ctx) & (_grace_closed(ctx) | renewed_contracts(ctx))


@OPPORTUNITIES.condition
def renewals_pending(ctx: Context) -> Q:
    """Renewals due still inside their grace window and not renewed yet."""
    return renewals_due(ctx) & ~(_grace_closed(ctx) | renewed_contracts(ctx))


@OPPORTUNITIES.condition
def won_expansion(ctx: Context) -> Q:
    """Expansion opportunities closed won in the period."""
    return closed_in_q(ctx.start, ctx.end, status=WON, type=OpportunityType.EXPANSION)


@OPPORTUNITIES.condition
def won_any(ctx: Context) -> Q:
    """Opportunities of any type closed won in the period."""
    return closed_in_q(ctx.start, ctx.end, status=WON)


@OPPORTUNITIES.condition
def won_to_date(ctx: Context) -> Q:
    """Opportunities of any type won by the end of the period."""
    return Q(status=WON, closed_on__lte=ctx.end)


@OPPORTUNITIES.condition
def won_new_business_to_date(ctx: Context) -> Q:
    """New-business opportunities won by the end of the period."""
    return won_to_date(ctx) & Q(type=NB)


def _amount_of(condition: Condition):
    def amount(ctx: Context, cq: Q) -> Sum:
        return Sum("amount", filter=cq & condition(ctx))

    amount.__name__ = f"{condition.name}_amount"
    amount.__doc__ = f"Sum of amounts of {condition.name.replace('_', ' ')}."
    return OPPORTUNITIES.measure(amount)


won_new_business_amount = _amount_of(won_new_business)
open_new_business_amount = _amount_of(open_new_business)
influenced_amount = _amount_of(influenced)
created_new_business_amount = _amount_of(created_new_business)
won_expansion_amount = _amount_of(won_expansion)
won_any_amount = _amount_of(won_any)


def _annual_value():
    return Cast(F("amount"), FloatField()) * Value(12.0) / Cast(F("term_months"), FloatField())


def _cycle_days():
    return DaysBetween(F("closed_on"), F("created_on"))


@OPPORTUNITIES.measure
def sales_cycle_sum(ctx: Context, cq: Q) -> Sum:
    """Days from creation to close, summed over dated won new business of the period."""
    return Sum(_cycle_days(), filter=cq & won_new_business_dated(ctx))


@OPPORTUNITIES.measure
def sales_cycle_median(ctx: Context, cq: Q):
    """The median of the same (PostgreSQL; SQLite: ``_median_fallback``)."""
    if connection.vendor == "postgresql":
        return PercentileCont(_cycle_days(), filter=cq & won_new_business_dated(ctx))
    return None  # SQLite: ``_median_fallback`` computes it


@OPPORTUNITIES.measure
def annual_value_sum(ctx: Context, cq: Q) -> Sum:
    """Annualised values (amount / (term / 12)) of opportunities won in the period."""
    return Sum(_annual_value(), filter=cq & won_any(ctx))


@OPPORTUNITIES.measure
def annual_value_to_date_sum(ctx: Context, cq: Q) -> Sum:
    """Annualised values of opportunities won by the end of the period."""
    return Sum(_annual_value(), filter=cq & won_to_date(ctx))


@OPPORTUNITIES.measure
def annual_value_new_business_sum(ctx: Context, cq: Q) -> Sum:
    """Annualised values of new-business opportunities won in the period."""
    return Sum(_annual_value(), filter=cq & won_new_business(ctx))


@OPPORTUNITIES.measure
def annual_value_new_business_to_date_sum(ctx: Context, cq: Q) -> Sum:
    """Annualised values of new-business opportunities won by the end of the period."""
    return Sum(_annual_value(), filter=cq & won_new_business_to_date(ctx))


# --- NPS ----------------------------------------------------------------------------------


def period_nps(ctx: Context) -> QuerySet[NpsResponse]:
    return NpsResponse.objects.filter(
        ctx.scope_q("account__"), responded_on__gte=ctx.start, responded_on__lte=ctx.end
    )


NPS = Source(
    "nps",
    period_nps,
    period_q=lambda ctx: Q(responded_on__gte=ctx.start, responded_on__lte=ctx.end),
    drills_to="account",
    drill_via_accounts=True,
    # The ABM flag once per response, not a target-list hash per aggregate: the grouped
    # passes' NPS statement in half (#18).
    cohort_once=True,
)


@NPS.condition
def nps_responses(ctx: Context) -> Q:
    return Q()


@NPS.condition
def promoters(ctx: Context) -> Q:
    """Scores 9-10."""
    return Q(score__gte=9)


@NPS.condition
def detractors(ctx: Context) -> Q:
    """Scores 0-6."""
    return Q(score__lte=6)


# --- figures: what each listed opportunity contributes to a KPI ---------------------------

#: The amount of each opportunity a sum of amounts lists (pipeline, revenue).
AMOUNT = Figure("Amount", "money", lambda ctx: F("amount"))
#: The amount of each won deal a mean deal value averages.
AMOUNT_MEAN = Figure("Amount", "money", lambda ctx: F("amount"), "mean")
#: Days from creation to close of each won deal a sales cycle averages.
CYCLE_MEAN = Figure("Sales cycle", "days", lambda ctx: _cycle_days(), "mean")
CYCLE_MEDIAN = Figure("Sales cycle", "days", lambda ctx: _cycle_days(), "median")
#: The annualised value (amount x 12 / term months) an annual contract value averages.
ANNUAL_VALUE_MEAN = Figure("Annual value", "money", lambda ctx: _annual_value(), "mean")
