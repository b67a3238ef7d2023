"""Drill-down querysets: the rows behind a count, from the same conditions as the count."""

from collections.abc import Callable

from django.db.models import QuerySet

from accounts.models import Account
from funnel.models import Opportunity

from .sources import (
    Context,
    account_conditions,
    account_facts,
    opportunity_conditions,
    period_touches,
    touch_conditions,
    view_through_candidates,
    view_through_conditions,
)

Drill = Callable[[Context, str], QuerySet]


def accounts_where(name: str) -> Drill:
    """Accounts of the cohort matching the account-level condition ``name``."""

    def drill(ctx: Context, cohort: str) -> QuerySet[Account]:
        return account_facts(ctx).filter(ctx.cohort_q(cohort), account_conditions(ctx)[name])

    return drill


def accounts_with_touches(name: str) -> Drill:
    """Accounts of the cohort with at least one touch of the period counted by ``name``."""

    def drill(ctx: Context, cohort: str) -> QuerySet[Account]:
        touched = period_touches(ctx).filter(touch_conditions(ctx)[name]).values("account_id")
        return Account.objects.filter(ctx.scope_q(), ctx.cohort_q(cohort), pk__in=touched)

    return drill


def opportunities_where(name: str) -> Drill:
    """Opportunities of the cohort's accounts matching the condition ``name``."""

    def drill(ctx: Context, cohort: str) -> QuerySet[Opportunity]:
        return Opportunity.objects.filter(
            ctx.scope_q("account__"),
            ctx.cohort_q(cohort, "account__"),
            opportunity_conditions(ctx)[name],
        ).select_related("account")

    return drill


def accounts_with_view_through(name: str) -> Drill:
    """Accounts of the cohort with at least one view-through touch counted by ``name``."""

    def drill(ctx: Context, cohort: str) -> QuerySet[Account]:
        flagged = view_through_candidates(ctx).filter(view_through_conditions(ctx)[name])
        return Account.objects.filter(
            ctx.scope_q(), ctx.cohort_q(cohort), pk__in=flagged.values("account_id")
        )

    return drill
