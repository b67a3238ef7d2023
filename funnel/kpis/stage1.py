"""Stage 1: target accounts."""

from typing import Any

from .base import count_kpi, kpi
from .context import Context
from .results import mean_result
from .sources.accounts import (
    RELATIONSHIP_MEAN,
    accounts,
    by_tier,
    degrading,
    improving,
    relationship_sum,
    surging,
)

count_kpi(
    "target_accounts",
    accounts,
    stage=1,
    label="Target accounts",
    kind="activity",
    r="reputation",
    definition="Accounts of the cohort as of the end of the period; with the default cohort, "
    "the accounts on the target list.",
)


@kpi(
    "target_accounts_by_tier",
    stage=1,
    label="Target accounts by tier",
    unit="map",
    kind="activity",
    r="reputation",
    definition="Target accounts split by the name of the tier each had at the end of the "
    'period (the tier history), by tier rank; untiered accounts under "none"; tiers with no '
    "accounts are left out.",
    measures=(by_tier, accounts),
    drill=accounts,
)
def target_accounts_by_tier(ctx: Context, cohort: str) -> dict[str, Any]:
    tiers = ctx.value(by_tier, cohort)
    return {"value": dict(tiers), "count": sum(tiers.values())}


@kpi(
    "relationship_score_avg",
    stage=1,
    label="Average relationship score",
    unit="score",
    kind="outcome",
    r="relationship",
    definition="Mean relationship score (0-100) of target accounts as of the end of the period "
    "(accounts with no two-way contact score 0): emails sent, replies, meetings and connected "
    "calls of the trailing {relationship_window_days} days, weighted, decayed with a "
    "{relationship_half_life_days}-day half-life.",
    measures=(relationship_sum, accounts),
    drill=accounts,
    figure=RELATIONSHIP_MEAN,
)
def relationship_score_avg(ctx: Context, cohort: str) -> dict[str, Any]:
    return mean_result(ctx.value(relationship_sum, cohort), ctx.value(accounts, cohort))


count_kpi(
    "relationship_improving_accounts",
    improving,
    stage=1,
    label="Accounts with improving relationship",
    kind="outcome",
    r="relationship",
    definition="Target accounts whose relationship score at the end of the period is at least "
    "{relationship_change_points} points above its value {relationship_change_days} days "
    "earlier.",
)
count_kpi(
    "relationship_degrading_accounts",
    degrading,
    stage=1,
    label="Accounts with degrading relationship",
    kind="outcome",
    r="relationship",
    definition="Target accounts whose relationship score at the end of the period is at least "
    "{relationship_change_points} points below its value {relationship_change_days} days "
    "earlier.",
)
count_kpi(
    "intent_surging_accounts",
    surging,
    stage=1,
    label="Intent-surging accounts",
    kind="outcome",
    r="reputation",
    definition="Target accounts with an intent surge for a week (its Monday) in the period: a "
    "topic score at least {intent_surge_factor} times the account's mean for that topic over "
    "the {intent_baseline_weeks} weeks before, or flagged as a surge by the provider.",
)
