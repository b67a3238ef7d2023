"""Stage 1: target accounts."""

from typing import Any

from .base import kpi
from .drills import accounts_where
from .results import count_result, mean_result
from .sources import Context


@kpi(
    "target_accounts",
    stage=1,
    label="Target accounts",
    unit="count",
    kind="activity",
    r="reputation",
    definition="Accounts of the cohort as of the end of the period; with the default cohort, "
    "the accounts on the target list.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("accounts"),
)
def target_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["accounts"])


@kpi(
    "target_accounts_by_tier",
    stage=1,
    label="Target accounts by tier",
    unit="map",
    kind="activity",
    r="reputation",
    definition="Target accounts split by tier name, by tier rank; untiered accounts under "
    '"none"; tiers with no accounts are left out.',
    sources=("tiers",),
)
def target_accounts_by_tier(ctx: Context, cohort: str) -> dict[str, Any]:
    by_tier = ctx.get("tiers", cohort)["by_tier"]
    return {"value": dict(by_tier), "count": sum(by_tier.values())}


@kpi(
    "relationship_score_avg",
    stage=1,
    label="Average relationship score",
    unit="score",
    kind="outcome",
    r="relationship",
    definition="Mean relationship score (0-100) of target accounts as of the end of the period "
    "(accounts with no two-way contact score 0): emails sent, replies, meetings and connected "
    "calls of the trailing 90 days, weighted, decayed with a 30-day half-life.",
    sources=("accounts",),
)
def relationship_score_avg(ctx: Context, cohort: str) -> dict[str, Any]:
    m = ctx.get("accounts", cohort)
    return mean_result(m["rel_sum"], m["accounts"])


@kpi(
    "relationship_improving_accounts",
    stage=1,
    label="Accounts with improving relationship",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Target accounts whose relationship score at the end of the period is at least "
    "5 points above its value 30 days earlier.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("improving"),
)
def relationship_improving_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["improving"])


@kpi(
    "relationship_degrading_accounts",
    stage=1,
    label="Accounts with degrading relationship",
    unit="count",
    kind="outcome",
    r="relationship",
    definition="Target accounts whose relationship score at the end of the period is at least "
    "5 points below its value 30 days earlier.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("degrading"),
)
def relationship_degrading_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["degrading"])


@kpi(
    "intent_surging_accounts",
    stage=1,
    label="Intent-surging accounts",
    unit="count",
    kind="outcome",
    r="reputation",
    definition="Target accounts with an intent surge for a week (its Monday) in the period: a "
    "topic score at least twice the account's mean for that topic over the 8 weeks before, or "
    "flagged as a surge by the provider.",
    sources=("accounts",),
    drilldown="account",
    drill=accounts_where("surging"),
)
def intent_surging_accounts(ctx: Context, cohort: str) -> dict[str, Any]:
    return count_result(ctx.get("accounts", cohort)["surging"])
