"""Spend and stage history: sources that are not one aggregate over account rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, DateField, F, Max, OuterRef, Q, Subquery, Sum

from abm_site.db import DaysBetween
from engagement.choices import ACQUISITION_CATEGORIES, SpendCategory
from engagement.models import Spend
from funnel.models import AccountStageChange

from ..context import Context
from ..measures import Source


def _money(value) -> Decimal:
    return Decimal(value or 0)


def _spend(ctx: Context, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    """Spend is not per account: tier, owner and cohort leave it whole; program restricts it."""
    spend = Spend.objects.filter(spent_on__gte=ctx.start, spent_on__lte=ctx.end)
    if ctx.filters.program:
        spend = spend.filter(program_id__in=ctx.filters.program)
    acquisition = Q(category__in=ACQUISITION_CATEGORIES)
    row = spend.aggregate(
        abm=Sum("amount", filter=acquisition & Q(program__isnull=False)),
        acquisition=Sum("amount", filter=acquisition),
        retention=Sum(
            "amount", filter=Q(category__in=(SpendCategory.ONBOARDING, SpendCategory.SUPPORT))
        ),
    )
    values = {name: _money(value) for name, value in row.items()}
    return dict.fromkeys(cohorts, values)


SPEND = Source("spend", runner=_spend)
abm_spend = SPEND.output("abm", "Marketing and sales spend of programs in the period.")
acquisition_spend = SPEND.output("acquisition", "All marketing and sales spend in the period.")
retention_spend = SPEND.output("retention", "Onboarding and support spend in the period.")


def _stage_changes(ctx: Context, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    previous = (
        AccountStageChange.objects.filter(
            account_id=OuterRef("account_id"), changed_on__lt=OuterRef("changed_on")
        )
        .order_by()
        .values("account_id")
        .annotate(last=Max("changed_on"))
        .values("last")
    )
    changes = (
        AccountStageChange.objects.filter(
            ctx.scope_q("account__"), changed_on__gte=ctx.start, changed_on__lte=ctx.end
        )
        .annotate(entered_on=Subquery(previous, output_field=DateField()))
        .filter(entered_on__isnull=False)
    )
    days = DaysBetween(F("changed_on"), F("entered_on"))
    annotations = {}
    for c in cohorts:
        cq = ctx.cohort_q(c, "account__")
        annotations[f"{c}__sum"] = Sum(days, filter=cq)
        annotations[f"{c}__n"] = Count("pk", filter=cq)
    rows = changes.values("from_stage").annotate(**annotations).order_by()
    result: dict[str, dict[str, Any]] = {c: {"stages": {}} for c in cohorts}
    for row in rows:  # one row per stage: a handful
        for c in cohorts:
            if row[f"{c}__n"]:
                result[c]["stages"][row["from_stage"]] = (row[f"{c}__sum"], row[f"{c}__n"])
    return result


STAGE_CHANGES = Source("stage_changes", runner=_stage_changes)
days_in_stage = STAGE_CHANGES.output(
    "stages", "Stage -> (days summed, changes) over stage changes out of it in the period."
)
