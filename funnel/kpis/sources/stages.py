"""Stage sources (definitions version 2): accounts by their stage, and their moves in a period.

The funnel counts accounts by their stage as of the end of the period, from
the same stage rules the nightly snapshots use (``funnel.stages``), so the
six counts nest. Funnel flow reads the recorded stage history.
"""

from __future__ import annotations

from django.db.models import (
    CharField,
    Count,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from abm_site.db import PerAccount
from accounts.models import Account
from funnel.models import AccountStageChange
from funnel.stages import LADDER, at_or_beyond, later_than, stage_expression, stage_facts

from ..context import Context
from ..measures import Condition, Source


def staged_accounts(ctx: Context) -> QuerySet[Account]:
    """Scoped accounts with their stage at the end of the period (``stage_now``)."""
    return (
        Account.objects.filter(ctx.scope_q())
        .annotate(targeted=PerAccount(ctx.targeted()))
        .annotate(**stage_facts(ctx.end, ctx.params))
        .annotate(stage_now=stage_expression(ctx.end))
    )


STAGES = Source(
    "stages", staged_accounts, prefix="", drills_to="account", fence=True, targeted="targeted"
)


def _at_or_beyond(stage: str) -> Condition:
    def where(ctx: Context) -> Q:
        return Q(stage_now__in=at_or_beyond(stage))

    where.__name__ = where.__qualname__ = f"at_or_beyond_{stage}"
    where.__doc__ = f"At or beyond the {stage} stage at the end of the period."
    return STAGES.condition(where)


#: Stage -> accounts at or beyond it at the end of the period (the nested funnel counts).
AT_OR_BEYOND: dict[str, Condition] = {stage: _at_or_beyond(stage) for stage in LADDER}


# --- flow between stages -----------------------------------------------------------------


def flowing_accounts(ctx: Context) -> QuerySet[Account]:
    """Scoped accounts with their stage at the start of the period and their moves in it.

    One GROUP BY pass joins each account to its stage changes of the period;
    the stage at the start is the last change before it (or, before any
    recorded change, the first change's starting stage; with no change at
    all, the stage by the rules at the end of the period).
    """
    changes = AccountStageChange.objects.filter(account_id=OuterRef("pk")).order_by()
    before = changes.filter(changed_on__lt=ctx.start).order_by("-changed_on").values("to_stage")
    first = changes.order_by("changed_on").values("from_stage")
    in_period = FilteredRelation(
        "stage_changes",
        condition=Q(
            stage_changes__changed_on__gte=ctx.start, stage_changes__changed_on__lte=ctx.end
        ),
    )
    moves = {}
    for stage in LADDER:
        moves[f"left_{stage}"] = Count(
            "moves__id",
            filter=Q(moves__from_stage=stage, moves__to_stage__in=later_than(stage)),
        )
        moves[f"entered_{stage}"] = Count("moves__id", filter=Q(moves__to_stage=stage))
        moves[f"was_{stage}"] = Count("moves__id", filter=Q(moves__from_stage=stage))
    return (
        Account.objects.filter(ctx.scope_q())
        .annotate(moves=in_period)
        .annotate(targeted=PerAccount(ctx.targeted()))
        .annotate(**stage_facts(ctx.end, ctx.params))
        .annotate(
            stage_at_start=PerAccount(
                Coalesce(
                    Subquery(before[:1], output_field=CharField()),
                    Subquery(first[:1], output_field=CharField()),
                    stage_expression(ctx.end),
                    output_field=CharField(),
                )
            ),
            **moves,
        )
    )


FLOW = Source(
    "flow", flowing_accounts, prefix="", drills_to="account", fence=True, targeted="targeted"
)


def _moved_on(stage: str) -> tuple[Condition, Condition]:
    def left(ctx: Context) -> Q:
        return Q(**{f"left_{stage}__gt": 0})

    def held(ctx: Context) -> Q:
        # In the stage at some time in the period: at its start, or entering or leaving it
        # during it (leaving it implies having been in it, whatever the history recorded).
        return (
            Q(stage_at_start=stage)
            | Q(**{f"entered_{stage}__gt": 0})
            | Q(**{f"was_{stage}__gt": 0})
        )

    left.__name__ = left.__qualname__ = f"left_{stage}"
    left.__doc__ = f"Moved from {stage} to a later stage during the period."
    held.__name__ = held.__qualname__ = f"held_{stage}"
    held.__doc__ = f"In the {stage} stage at some time in the period."
    return FLOW.condition(left), FLOW.condition(held)


#: Stage -> (accounts that moved on from it in the period, accounts in it during the period).
MOVED_ON: dict[str, tuple[Condition, Condition]] = {
    stage: _moved_on(stage) for stage in LADDER[:-1]
}
